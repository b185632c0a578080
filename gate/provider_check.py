"""What the provider's ``Check`` adds to a resource's inputs before the engine plans it.

The CLI hands ``Analyze`` the *checked* inputs: the program's inputs plus Pulumi's auto-names
(``name-1a2b3c4`` for an omitted name) and the defaults the provider schema declares.  A preview
then plans the checked inputs as the resource's outputs, so the program sees the auto-names as
known values.  The offline mocks add the same values when asked (``run_program(provider_check=True)``).

Only properties with a documented fixed default are filled in (the pulumi-aws Args docstrings,
e.g. ``publicly_accessible: ... Default is false``); values AWS chooses at create time (Computed
properties such as ``backupRetentionPeriod`` or ``port``) stay absent from the inputs, as they do
in the real ``Check``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

#: Resource type -> the property Pulumi auto-names when the program omits it.
AUTO_NAMED: dict[str, str] = {
    "aws:rds/instance:Instance": "identifier",
    "aws:rds/parameterGroup:ParameterGroup": "name",
    "aws:rds/subnetGroup:SubnetGroup": "name",
    "aws:rds/proxy:Proxy": "name",
    "aws:ec2/securityGroup:SecurityGroup": "name",
    "aws:iam/role:Role": "name",
    "aws:iam/policy:Policy": "name",
    "aws:iam/rolePolicy:RolePolicy": "name",
    "aws:secretsmanager/secret:Secret": "name",
    "aws:sns/topic:Topic": "name",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "name",
    "aws:lambda/function:Function": "name",
}

#: Resource type -> top-level defaults of the provider schema (camelCase, as on the wire).
SCHEMA_DEFAULTS: dict[str, dict[str, Any]] = {
    "aws:rds/instance:Instance": {
        "autoMinorVersionUpgrade": True,
        "copyTagsToSnapshot": False,
        "deleteAutomatedBackups": True,
        "monitoringInterval": 0,
        "performanceInsightsEnabled": False,
        "publiclyAccessible": False,
        "skipFinalSnapshot": False,
    },
    "aws:rds/parameterGroup:ParameterGroup": {"description": "Managed by Pulumi"},
    "aws:ec2/securityGroup:SecurityGroup": {"description": "Managed by Pulumi", "revokeRulesOnDelete": False},
}

#: ``parameters[].applyMethod`` of a parameter group: "immediate" (default), or "pending-reboot".
PARAMETER_APPLY_METHOD_DEFAULT = "immediate"


def auto_name(name: str) -> str:
    """Pulumi's auto-name for a resource named *name*: the name, a dash and 7 hex characters (repeatable here)."""
    return f"{name}-{hashlib.sha256(name.encode()).hexdigest()[:7]}"


def checked_inputs(type_: str, name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """*inputs* as the provider's ``Check`` returns them; values the program set are never changed."""
    checked = dict(inputs)
    prop = AUTO_NAMED.get(type_)
    if prop is not None and checked.get(prop) is None and checked.get(f"{prop}Prefix") is None:
        checked[prop] = auto_name(name)
    for key, value in SCHEMA_DEFAULTS.get(type_, {}).items():
        if checked.get(key) is None:
            checked[key] = value
    if type_ == "aws:rds/parameterGroup:ParameterGroup" and isinstance(checked.get("parameters"), list):
        checked["parameters"] = [
            {**p, "applyMethod": PARAMETER_APPLY_METHOD_DEFAULT} if isinstance(p, dict) and p.get("applyMethod") is None else p
            for p in checked["parameters"]
        ]
    return checked
