"""RDS Proxy: TLS, connection pool settings, pinning filters, endpoints, targets, logging."""

from __future__ import annotations

from pulumi_policy import PolicyConfigSchema, ReportViolation, Severity

from . import rds_facts
from .policy_factory import Config, Props, resource_policy, stack_policy
from .property_values import as_bool, as_list, as_number, as_str, is_unknown
from .rds_lookups import is_replica, parameter_group_of, parameters_of, proxy_links, proxy_of
from .resource_types import INSTANCE, PROXY, PROXY_ENDPOINT, PROXY_TARGET, PROXY_TARGET_GROUP, label
from .stack_index import StackIndex

#: RDS Proxy's connection_borrow_timeout: default 120 s, allowed 1..300 (seconds).
BORROW_TIMEOUT_MAX = 300
#: Session pinning filters RDS Proxy supports, and for which engine family.
MYSQL_ONLY_PINNING_FILTERS = ("EXCLUDE_VARIABLE_SETS",)


def _check_tls(type_: str, name: str, props: Props, config: Config, report: ReportViolation) -> None:
    value = props.get("requireTls")
    if is_unknown(value) or as_bool(value):
        return
    report(
        f"{label(type_, name)} has requireTls {'unset (false)' if value is None else 'false'}: clients may send "
        "passwords and IAM tokens in clear text inside the VPC. Set requireTls = true and connect with "
        "sslmode=verify-full.",
        None,
    )


def _check_debug_logging(type_: str, name: str, props: Props, config: Config, report: ReportViolation) -> None:
    if as_bool(props.get("debugLogging")):
        report(
            f"{label(type_, name)} has debugLogging = true: the proxy logs full SQL statements, including "
            "parameters and personal data, to CloudWatch Logs, and costs throughput. Set debugLogging = false "
            "outside short troubleshooting sessions.",
            None,
        )


def _check_borrow_timeout(type_: str, name: str, props: Props, config: Config, report: ReportViolation) -> None:
    pool = props.get("connectionPoolConfig")
    if not isinstance(pool, dict):
        return
    raw = pool.get("connectionBorrowTimeout")
    value = as_number(raw)
    if value is None:
        return
    low, high = float(config["minimumSeconds"]), float(config["maximumSeconds"])
    if not low <= value <= high:
        report(
            f"{label(type_, name)} sets connectionBorrowTimeout = {value:g} s, outside {low:g}..{high:g} s. RDS "
            f"Proxy accepts 1..{BORROW_TIMEOUT_MAX} s (default 120); a value AWS rejects fails `pulumi up`, and a "
            "very short one turns every failover into client errors. Choose a value within the range.",
            None,
        )


def _check_pinning(index: StackIndex, config: Config, report: ReportViolation) -> None:
    for group in index.of_type(PROXY_TARGET_GROUP):
        pool = group.props.get("connectionPoolConfig")
        if not isinstance(pool, dict):
            continue
        filters = [f for f in as_list(pool.get("sessionPinningFilters")) if isinstance(f, str)]
        bad = [f for f in filters if f.upper() in MYSQL_ONLY_PINNING_FILTERS]
        if not bad:
            continue
        proxy = proxy_of(index, group)
        family = as_str(proxy.props.get("engineFamily")) if proxy is not None else None
        if family is None or family.upper() != "POSTGRESQL":
            continue
        report(
            f"{label(group.type, group.name)} sets sessionPinningFilters {bad} on {label(proxy.type, proxy.name)}, a "  # type: ignore[union-attr]
            "POSTGRESQL proxy. EXCLUDE_VARIABLE_SETS exists only for MySQL: AWS rejects it for PostgreSQL, and "
            "for PostgreSQL a SET outside the init query always pins the session; remove the filter and move SET "
            "statements into initQuery.",
            group.urn,
        )


def _check_read_only_endpoint(index: StackIndex, config: Config, report: ReportViolation) -> None:
    links = proxy_links(index)
    for endpoint in index.of_type(PROXY_ENDPOINT):
        if endpoint.props.get("targetRole") != "READ_ONLY":
            continue
        proxy = proxy_of(index, endpoint)
        if proxy is None:
            continue
        targets = [link for link in links if link.proxy is not None and link.proxy.urn == proxy.urn]
        to_instance = [t for t in targets if t.instance is not None or t.target.props.get("dbInstanceIdentifier")]
        to_cluster = [t for t in targets if t.cluster is not None or t.target.props.get("dbClusterIdentifier")]
        if not to_instance or to_cluster:
            continue
        report(
            f"{label(endpoint.type, endpoint.name)} is a READ_ONLY endpoint of {label(proxy.type, proxy.name)}, whose "
            "target is an RDS DB instance. Reader endpoints work only for Aurora and Multi-AZ DB clusters; for an "
            "instance the endpoint has no readers to route to and every connection fails. Remove it and send "
            "read traffic to the replicas' own endpoints.",
            endpoint.urn,
        )


def _check_target_not_replica(index: StackIndex, config: Config, report: ReportViolation) -> None:
    for link in proxy_links(index):
        if link.instance is None or not is_replica(link.instance.props):
            continue
        proxy = f" of {label(link.proxy.type, link.proxy.name)}" if link.proxy is not None else ""
        report(
            f"{label(link.target.type, link.target.name)}{proxy} targets {label(link.instance.type, link.instance.name)}, "
            "a read replica. A proxy for RDS instances targets only the primary (writer); AWS rejects a replica "
            "target. Target the primary instance.",
            link.target.urn,
        )


def _check_pool_headroom(index: StackIndex, config: Config, report: ReportViolation) -> None:
    links = proxy_links(index)
    replicas = [i for i in index.of_type(INSTANCE) if is_replica(i.props)]
    for group in index.of_type(PROXY_TARGET_GROUP):
        pool = group.props.get("connectionPoolConfig")
        pool = pool if isinstance(pool, dict) else {}
        raw_max = pool.get("maxConnectionsPercent")
        if is_unknown(raw_max):
            continue
        max_percent = as_number(raw_max)
        max_percent = 100.0 if max_percent is None else max_percent
        idle = as_number(pool.get("maxIdleConnectionsPercent"))
        proxy = proxy_of(index, group)
        if idle is not None and idle > max_percent:
            report(
                f"{label(group.type, group.name)} sets maxIdleConnectionsPercent {idle:g} above maxConnectionsPercent "
                f"{max_percent:g}; AWS rejects it. Keep idle connections at or below the maximum (e.g. half of it).",
                group.urn,
            )
        if proxy is None:
            continue
        for link in links:
            if link.proxy is None or link.proxy.urn != proxy.urn or link.instance is None:
                continue
            inst = link.instance
            cls = as_str(inst.props.get("instanceClass"))
            try:
                default = rds_facts.default_max_connections(cls) if cls else None
            except rds_facts.UnknownInstanceClass:
                default = None
            if default is None or cls is None:
                continue
            max_connections: float | None = default
            param = parameters_of(parameter_group_of(index, inst)).get("max_connections")
            if param is not None:
                try:
                    max_connections = rds_facts.evaluate_parameter_value(str(param.get("value")), cls)
                except rds_facts.FormulaError:
                    max_connections = None
            if max_connections is None or max_connections <= 0:
                continue
            own_replicas = [r for r in replicas if inst.urn in r.deps("replicateSourceDb")]
            recommended = rds_facts.recommended_proxy_max_connections_percent(int(max_connections), len(own_replicas))
            if max_percent > recommended:
                reserved = rds_facts.reserved_connections(len(own_replicas))
                report(
                    f"{label(group.type, group.name)} lets {label(proxy.type, proxy.name)} open {max_percent:g} % of "
                    f"max_connections {int(max_connections)} on {label(inst.type, inst.name)}, leaving less than the "
                    f"{reserved} connections needed for superusers and replication: under load an operator cannot "
                    f"connect to fix it. Set maxConnectionsPercent to {recommended} or less.",
                    group.urn,
                )


PROXY_REQUIRE_TLS = resource_policy(
    "proxy-require-tls",
    "RDS Proxies require TLS from clients.",
    (PROXY,),
    _check_tls,
    severity=Severity.HIGH,
    remediation="Set requireTls = true.",
)


PROXY_DEBUG_LOGGING_OFF = resource_policy(
    "proxy-debug-logging-off",
    "RDS Proxies do not log SQL statements (debugLogging) outside troubleshooting.",
    (PROXY,),
    _check_debug_logging,
    severity=Severity.MEDIUM,
    remediation="Set debugLogging = false.",
)


PROXY_BORROW_TIMEOUT = resource_policy(
    "proxy-borrow-timeout",
    "RDS Proxy connectionBorrowTimeout is within 1..300 s (or the configured range).",
    (PROXY_TARGET_GROUP,),
    _check_borrow_timeout,
    severity=Severity.MEDIUM,
    schema=PolicyConfigSchema(
        properties={
            "minimumSeconds": {"type": "integer", "minimum": 1, "maximum": BORROW_TIMEOUT_MAX, "default": 1},
            "maximumSeconds": {"type": "integer", "minimum": 1, "maximum": BORROW_TIMEOUT_MAX, "default": BORROW_TIMEOUT_MAX},
        }
    ),
    remediation="Set connectionBorrowTimeout within the range (default 120 s).",
)


PROXY_PINNING_FILTERS_MATCH_ENGINE = stack_policy(
    "proxy-pinning-filters-match-engine",
    "Session pinning filters of an RDS Proxy target group are valid for the proxy's engine family.",
    (PROXY_TARGET_GROUP,),
    _check_pinning,
    severity=Severity.HIGH,
    remediation="Remove EXCLUDE_VARIABLE_SETS from PostgreSQL proxies; use initQuery for SET statements.",
)


PROXY_READ_ONLY_ENDPOINT_NEEDS_CLUSTER = stack_policy(
    "proxy-read-only-endpoint-needs-cluster",
    "READ_ONLY RDS Proxy endpoints are used only with Aurora or Multi-AZ DB cluster targets.",
    (PROXY_ENDPOINT,),
    _check_read_only_endpoint,
    severity=Severity.HIGH,
    remediation="Remove the READ_ONLY endpoint of an instance proxy.",
)


PROXY_TARGET_NOT_REPLICA = stack_policy(
    "proxy-target-not-replica",
    "RDS Proxy targets the primary instance, never a read replica.",
    (PROXY_TARGET,),
    _check_target_not_replica,
    severity=Severity.HIGH,
    remediation="Point the ProxyTarget at the primary instance.",
)


PROXY_POOL_HEADROOM = stack_policy(
    "proxy-pool-headroom",
    "RDS Proxy's maxConnectionsPercent leaves the superuser and replication reserve of max_connections free.",
    (PROXY_TARGET_GROUP,),
    _check_pool_headroom,
    severity=Severity.MEDIUM,
    remediation="Lower maxConnectionsPercent (components.sizing.recommended_proxy_max_connections_percent).",
)
