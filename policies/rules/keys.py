"""Resource policies of KMS keys and secrets: no statement opens them to every AWS principal.

A statement with ``Principal: "*"`` (or ``{"AWS": "*"}``) and no condition lets any
principal of any AWS account use the key or read the secret, as far as that principal's
own policies allow.  AWS's own key policies use ``*`` only with a condition such as
``kms:CallerAccount`` or ``kms:ViaService``; such statements pass.
"""

from __future__ import annotations

from pulumi_policy import ReportViolation, Severity

from .iam_documents import is_public_principal, statements
from .policy_factory import Config, Props, resource_policy
from .resource_types import label

KMS_KEY = "aws:kms/key:Key"
KMS_KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_POLICY = "aws:secretsmanager/secretPolicy:SecretPolicy"

_WHAT = {
    KMS_KEY: "key policy",
    KMS_KEY_POLICY: "key policy",
    SECRET: "resource policy",
    SECRET_POLICY: "resource policy",
}


def _check_public_principal(type_: str, name: str, props: Props, config: Config, report: ReportViolation) -> None:
    for st in statements(props.get("policy")):
        if not st.allows or st.condition or not is_public_principal(st.principal):
            continue
        actions = ", ".join(st.actions) or "every action but " + ", ".join(st.not_actions)
        opened = (
            "decrypt what it protects (the database credentials secret, snapshots)"
            if type_ in (KMS_KEY, KMS_KEY_POLICY)
            else "read the database credentials"
        )
        report(
            f'{label(type_, name)} has a {_WHAT[type_]} statement allowing {actions} to Principal "*" without a '
            f"condition: principals of any AWS account can {opened}. Name the account root or the roles, or add a "
            "condition such as kms:CallerAccount / aws:PrincipalAccount.",
            None,
        )
        return


KEY_AND_SECRET_POLICIES_NOT_PUBLIC = resource_policy(
    "key-and-secret-policies-not-public",
    'KMS key policies and secret resource policies do not allow Principal "*" without a condition.',
    (KMS_KEY, KMS_KEY_POLICY, SECRET, SECRET_POLICY),
    _check_public_principal,
    severity=Severity.CRITICAL,
    remediation='Replace Principal "*" with the account root or named roles, or add an account condition.',
)
