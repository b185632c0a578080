"""The pack's one list of policies, checked for duplicate names when it is imported.

How to add a policy: write its check in the rule module of its concern (``network.py``,
``availability.py``, ``parameters.py``, ``credentials.py``, ``proxy.py``, ``storage_security.py``,
``monitoring.py``, or a new module named after its concern), bind it to a module-level constant
named after the policy (``RDS_MULTI_AZ = resource_policy("rds-multi-az", ...)``, see
:mod:`.policy_factory`), and register it with one line in :data:`POLICIES` below, in its module's
block (a new module: import it here and open a block of its own).  Give it a level in
``policies/config/dev.json`` and ``prod.json``, a violating case and a clean counterpart in
``tests/policies/test_rules_<module>.py`` (end to end through ``policy_harness.check`` or fast
through ``fast.resource_violations`` / ``fast.stack_violations``), and regenerate the README's
policy reference (``python -m policies.reference --write``).  A name registered twice stops the
pack at import with :class:`DuplicatePolicyName`; a constant left out of :data:`POLICIES` fails
``tests/policies/test_rules_registry.py``.
"""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import Policy

from . import (
    availability,
    consumers,
    credentials,
    iam,
    keys,
    monitoring,
    network,
    notifications,
    parameters,
    passwords,
    proxy,
    storage_security,
)


class DuplicatePolicyName(ValueError):
    """Two registered policies share a name: the engine would report and configure them as one."""


def unique_by_name(policies: Iterable[Policy]) -> tuple[Policy, ...]:
    """*policies* as a tuple; raises :class:`DuplicatePolicyName` naming the first name seen twice."""
    seen: set[str] = set()
    for policy in policies:
        if policy.name in seen:
            raise DuplicatePolicyName(
                f'policy name "{policy.name}" is registered twice in policies/rules/registry.py; '
                "every policy needs a name of its own (the engine configures and reports policies by name)"
            )
        seen.add(policy.name)
    return tuple(policies)


POLICIES: tuple[Policy, ...] = unique_by_name(
    [
        # network.py
        network.RDS_INGRESS_ONLY_FROM_PROXY,
        network.RDS_NO_CIDR_INGRESS,
        network.RDS_NOT_PUBLICLY_ACCESSIBLE,
        network.RDS_SECURITY_GROUPS_SET,
        network.RDS_NOT_IN_DEFAULT_SECURITY_GROUP,
        network.RDS_ADMITS_PROXY,
        network.RDS_SUBNET_GROUP_TWO_AZS,
        network.RDS_INGRESS_DATABASE_PORT_ONLY,
        # consumers.py
        consumers.CLIENT_CONNECTS_THROUGH_PROXY,
        consumers.CLIENT_IN_PROXY_VPC,
        consumers.PROXY_ADMITS_CLIENT,
        # availability.py
        availability.RDS_MULTI_AZ,
        availability.RDS_BACKUPS_ENABLED,
        availability.RDS_BACKUP_RETENTION,
        availability.RDS_DELETION_PROTECTION,
        availability.RDS_FINAL_SNAPSHOT,
        availability.RDS_BACKUP_RETENTION_RANGE,
        availability.RDS_REPLICA_SOURCE,
        availability.RDS_MONITORING_SETTINGS,
        # parameters.py
        parameters.RDS_STATIC_PARAMETER_PENDING_REBOOT,
        parameters.RDS_PARAMETER_UNITS,
        parameters.RDS_MEMORY_BUDGET,
        parameters.RDS_MAX_CONNECTIONS_WITHOUT_PROXY,
        parameters.RDS_MEMORY_WORST_CASE,
        parameters.RDS_PARAMETER_NAME_EXISTS,
        parameters.RDS_FORCE_SSL,
        parameters.RDS_IDLE_TRANSACTION_TIMEOUT,
        parameters.RDS_ENGINE_VERSION_FAMILY,
        # credentials.py
        credentials.RDS_MASTER_USERNAME,
        credentials.PROXY_ROLE_CAN_READ_SECRET,
        credentials.PROXY_ROLE_CAN_DECRYPT_SECRET,
        credentials.PROXY_IAM_AUTH_REQUIRES_DB_IAM_AUTH,
        # passwords.py
        passwords.RDS_PASSWORD_CHARACTERS,
        # iam.py
        iam.IAM_DB_CONNECT_LEAST_PRIVILEGE,
        iam.IAM_SECRETS_LEAST_PRIVILEGE,
        iam.IAM_KMS_LEAST_PRIVILEGE,
        iam.IAM_DB_CONNECT_RESOURCE,
        # keys.py
        keys.KEY_AND_SECRET_POLICIES_NOT_PUBLIC,
        # proxy.py
        proxy.PROXY_REQUIRE_TLS,
        proxy.PROXY_IDLE_CLIENT_TIMEOUT,
        proxy.PROXY_ENGINE_FAMILY,
        proxy.PROXY_AUTH_CONFIG,
        proxy.PROXY_SUBNETS_TWO_AZS,
        proxy.PROXY_POOL_PERCENT_RANGES,
        proxy.PROXY_DEBUG_LOGGING_OFF,
        proxy.PROXY_BORROW_TIMEOUT,
        proxy.PROXY_PINNING_FILTERS_MATCH_ENGINE,
        proxy.PROXY_READ_ONLY_ENDPOINT_NEEDS_CLUSTER,
        proxy.PROXY_TARGET_NOT_REPLICA,
        proxy.PROXY_POOL_HEADROOM,
        # storage_security.py
        storage_security.RDS_STORAGE_ENCRYPTED,
        storage_security.RDS_STORAGE_LIMITS,
        storage_security.RDS_CA_CERTIFICATE,
        # monitoring.py
        monitoring.ALARM_RDS_NAMESPACE,
        monitoring.ALARM_RDS_METRIC_NAME,
        monitoring.ALARM_RDS_DIMENSIONS,
        monitoring.ALARM_HAS_ACTIONS,
        monitoring.RDS_REPLICA_LAG_ALARM,
        monitoring.ALARM_CONNECTIONS_BELOW_MAX,
        monitoring.ALARM_PERIOD_VALID,
        monitoring.ALARM_THRESHOLD_REACHABLE,
        monitoring.ALARM_MISSING_DATA_HIDES_OUTAGE,
        monitoring.ALARM_ACTIONS_VALID,
        # notifications.py
        notifications.ALARM_TOPIC_KEY_USABLE,
        notifications.RDS_EVENT_SUBSCRIPTION_VALID,
        notifications.DASHBOARD_VALID,
    ]
)


def all_policies() -> list[Policy]:
    """Every registered policy, in registration order (a fresh list: the caller may extend it)."""
    return list(POLICIES)
