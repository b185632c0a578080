"""RDS Proxy: TLS, connection pool settings, pinning filters, endpoints, targets, logging."""

from __future__ import annotations

from typing import Any

from pulumi_policy import PolicyConfigSchema, ReportViolation, Severity

from . import rds_facts
from .policy_factory import Config, Props, resource_policy, stack_policy
from .property_values import as_bool, as_list, as_number, as_str, is_unknown
from .rds_lookups import engine_of, is_replica, parameter_group_of, parameters_of, proxy_links, proxy_of
from .resource_types import INSTANCE, PROXY, PROXY_ENDPOINT, PROXY_TARGET, PROXY_TARGET_GROUP, label
from .stack_index import Res, StackIndex

#: RDS Proxy's connection_borrow_timeout: default 120 s, AWS accepts 0..300 (seconds).
BORROW_TIMEOUT_MAX = 300
#: Session pinning filters RDS Proxy supports, and for which engine family.
MYSQL_ONLY_PINNING_FILTERS = ("EXCLUDE_VARIABLE_SETS",)
#: Proxy idleClientTimeout: default 1800 s, AWS accepts 1..28,800 s.
IDLE_CLIENT_TIMEOUT_RANGE_S = (1, 28_800)
#: Engine families and the engines (``engine`` prefixes) each one serves.
ENGINE_FAMILIES: dict[str, tuple[str, ...]] = {
    "POSTGRESQL": ("postgres", "aurora-postgresql"),
    "MYSQL": ("mysql", "mariadb", "aurora-mysql", "aurora"),
    "SQLSERVER": ("sqlserver",),
}
#: UserAuthConfig.ClientPasswordAuthType values per engine family.
CLIENT_PASSWORD_AUTH_TYPES: dict[str, tuple[str, ...]] = {
    "POSTGRESQL": ("POSTGRES_SCRAM_SHA_256", "POSTGRES_MD5"),
    "MYSQL": ("MYSQL_NATIVE_PASSWORD", "MYSQL_CACHING_SHA2_PASSWORD"),
    "SQLSERVER": ("SQL_SERVER_AUTHENTICATION",),
}
IAM_AUTH_VALUES = ("DISABLED", "REQUIRED", "ENABLED")
DEFAULT_AUTH_SCHEMES = ("NONE", "IAM_AUTH")
SUBNET = "aws:ec2/subnet:Subnet"


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
            f"Proxy accepts 0..{BORROW_TIMEOUT_MAX} s (default 120): a value outside fails `pulumi up`, and 0 (no "
            "wait) turns every busy pool or failover into client errors. Choose a value within the range.",
            None,
        )


def _check_pinning(index: StackIndex, config: Config, report: ReportViolation) -> None:
    for group in index.of_type(PROXY_TARGET_GROUP):
        pool = group.props.get("connectionPoolConfig")
        if not isinstance(pool, dict):
            continue
        filters = [f for f in as_list(pool.get("sessionPinningFilters")) if isinstance(f, str)]
        unsupported = [f for f in filters if f not in MYSQL_ONLY_PINNING_FILTERS]
        if unsupported:
            report(
                f"{label(group.type, group.name)} sets sessionPinningFilters {unsupported}: the only filter RDS Proxy "
                "knows is EXCLUDE_VARIABLE_SETS (MySQL only), so AWS rejects the target group and `pulumi up` fails. "
                "Remove them.",
                group.urn,
            )
            continue
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
        proxy = proxy_of(index, group)
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


def _check_idle_client_timeout(type_: str, name: str, props: Props, config: Config, report: ReportViolation) -> None:
    value = as_number(props.get("idleClientTimeout"))
    low, high = IDLE_CLIENT_TIMEOUT_RANGE_S
    if value is None or low <= value <= high:
        return
    report(
        f"{label(type_, name)} sets idleClientTimeout = {value:g} s; RDS Proxy accepts {low}..{high:,} s (default "
        "1800), so creating or modifying the proxy fails. Choose a value within the range, e.g. 1800.",
        None,
    )


def _family_of_engine(engine: str) -> str | None:
    for family, prefixes in ENGINE_FAMILIES.items():
        if any(engine == p or engine.startswith(f"{p}-") for p in prefixes) or (
            family == "SQLSERVER" and engine.startswith("sqlserver")
        ):
            return family
    return None


def _check_engine_family(index: StackIndex, config: Config, report: ReportViolation) -> None:
    for proxy in index.of_type(PROXY):
        family = proxy.props.get("engineFamily")
        if isinstance(family, str) and family not in ENGINE_FAMILIES:
            report(
                f'{label(proxy.type, proxy.name)} has engineFamily "{family}"; AWS accepts {", ".join(ENGINE_FAMILIES)} '
                "(upper case), so `pulumi up` fails. Use POSTGRESQL for RDS for PostgreSQL.",
                proxy.urn,
            )
    for link in proxy_links(index):
        target = link.instance or link.cluster
        if link.proxy is None or target is None:
            continue
        family = as_str(link.proxy.props.get("engineFamily"))
        engine = engine_of(target.props)
        expected = _family_of_engine(engine) if engine else None
        if family is None or expected is None or family not in ENGINE_FAMILIES or family == expected:
            continue
        report(
            f"{label(link.proxy.type, link.proxy.name)} has engineFamily {family} but targets "
            f"{label(target.type, target.name)}, a {engine} database: AWS refuses to register the target (or the "
            f"proxy speaks the wrong protocol) and no connection works. Set engineFamily = {expected}.",
            link.target.urn,
        )


def _check_auth_config(type_: str, name: str, props: Props, config: Config, report: ReportViolation) -> None:
    res = label(type_, name)
    scheme = props.get("defaultAuthScheme")
    if isinstance(scheme, str) and scheme not in DEFAULT_AUTH_SCHEMES:
        report(f'{res} has defaultAuthScheme "{scheme}"; AWS accepts NONE or IAM_AUTH, so `pulumi up` fails.', None)
        return
    end_to_end = scheme == "IAM_AUTH"
    auths = props.get("auths")
    if is_unknown(auths) or is_unknown(scheme):
        return
    entries = [a for a in as_list(auths) if isinstance(a, dict)]
    if not entries and not end_to_end:
        report(
            f"{res} has no auths entry and defaultAuthScheme {scheme or 'unset (NONE)'}: the proxy has no way to sign "
            "in to the database, and AWS requires auths unless defaultAuthScheme is IAM_AUTH. Add an auths entry "
            "with authScheme SECRETS and the secretArn of the database credentials.",
            None,
        )
        return
    family = as_str(props.get("engineFamily"))
    for number, auth in enumerate(entries, start=1):
        where = f"{res}, auths entry {number},"
        auth_scheme = auth.get("authScheme")
        if isinstance(auth_scheme, str) and auth_scheme != "SECRETS":
            report(f'{where} has authScheme "{auth_scheme}"; the only value AWS accepts is SECRETS.', None)
        if auth.get("secretArn") is None and not end_to_end and auth.get("username") is None:
            report(
                f"{where} has no secretArn: with authScheme SECRETS the proxy reads the database user and password "
                "from that secret, and without it AWS rejects the proxy. Set secretArn to the credentials secret "
                "(for example the instance's masterUserSecrets[0].secretArn).",
                None,
            )
        iam_auth = auth.get("iamAuth")
        if isinstance(iam_auth, str) and iam_auth not in IAM_AUTH_VALUES:
            report(f'{where} has iamAuth "{iam_auth}"; AWS accepts DISABLED or REQUIRED (and ENABLED for SQL Server).', None)
        elif iam_auth == "ENABLED" and family is not None and family != "SQLSERVER":
            report(
                f"{where} has iamAuth ENABLED, which AWS accepts only for SQLSERVER proxies; this {family} proxy fails "
                "to deploy. Use REQUIRED (clients must use IAM) or DISABLED (passwords).",
                None,
            )
        client_type = auth.get("clientPasswordAuthType")
        allowed = CLIENT_PASSWORD_AUTH_TYPES.get(family or "")
        if isinstance(client_type, str) and allowed is not None and client_type not in allowed:
            report(
                f"{where} has clientPasswordAuthType {client_type}, which is not valid for a {family} proxy "
                f"({', '.join(allowed)}): AWS rejects it and `pulumi up` fails. Use {allowed[0]}.",
                None,
            )


def _subnet_azs(index: StackIndex, res: Res, values: list[Any]) -> set[str] | None:
    """The Availability Zones of the listed subnets, None when one of them cannot be known here (a subnet
    outside the stack, an AZ computed at deploy time)."""
    by_id = {s.props["id"]: s for s in index.of_type(SUBNET) if isinstance(s.props.get("id"), str)}
    subnets: dict[str, Res] = {}
    for value in values:
        if isinstance(value, str):
            if value not in by_id:
                return None
            subnets[by_id[value].urn] = by_id[value]
    if any(not isinstance(v, str) for v in values):
        referenced = index.referenced(res, "vpcSubnetIds", SUBNET)
        if not referenced:
            return None
        subnets.update({s.urn: s for s in referenced})
    azs = set()
    for subnet in subnets.values():
        az = subnet.props.get("availabilityZone") or subnet.props.get("availabilityZoneId")
        if not isinstance(az, str):
            return None
        azs.add(az)
    return azs


def _check_subnets(index: StackIndex, config: Config, report: ReportViolation) -> None:
    for res in (*index.of_type(PROXY), *index.of_type(PROXY_ENDPOINT)):
        raw = res.props.get("vpcSubnetIds")
        if is_unknown(raw) or not isinstance(raw, list):
            continue
        known = {v for v in raw if isinstance(v, str)}
        count = len(known) + sum(1 for v in raw if not isinstance(v, str))
        azs = _subnet_azs(index, res, raw) if count >= 2 else None
        if count >= 2 and (azs is None or len(azs) >= 2):
            continue
        detail = f"{count} subnet" if count < 2 else f"subnets all in {sorted(azs or [])}"
        report(
            f"{label(res.type, res.name)} has vpcSubnetIds with {detail}: RDS Proxy needs subnets in at least two "
            "Availability Zones, so AWS rejects it (and one AZ would make the proxy a single point of failure). "
            "List subnets of two or more AZs.",
            res.urn,
        )


def _check_pool_ranges(type_: str, name: str, props: Props, config: Config, report: ReportViolation) -> None:
    pool = props.get("connectionPoolConfig")
    if not isinstance(pool, dict):
        return
    raw_max = pool.get("maxConnectionsPercent")
    max_percent = as_number(raw_max)
    idle = as_number(pool.get("maxIdleConnectionsPercent"))
    if max_percent is not None and not 1 <= max_percent <= 100:
        report(
            f"{label(type_, name)} sets maxConnectionsPercent {max_percent:g}; AWS accepts 1..100 (default 100), so "
            "`pulumi up` fails. Choose a percentage of max_connections within the range.",
            None,
        )
        return
    ceiling = max_percent if max_percent is not None else (None if is_unknown(raw_max) else 100.0)
    if idle is not None and (idle < 0 or (ceiling is not None and idle > ceiling)):
        report(
            f"{label(type_, name)} sets maxIdleConnectionsPercent {idle:g}; AWS accepts 0..maxConnectionsPercent "
            f"({ceiling if ceiling is None else f'{ceiling:g}'}), so `pulumi up` fails. Keep idle connections at or "
            "below the maximum (the default is half of it).",
            None,
        )


PROXY_REQUIRE_TLS = resource_policy(
    "proxy-require-tls",
    "RDS Proxies require TLS from clients.",
    (PROXY,),
    _check_tls,
    severity=Severity.HIGH,
    remediation="Set requireTls = true.",
)


PROXY_IDLE_CLIENT_TIMEOUT = resource_policy(
    "proxy-idle-client-timeout",
    "RDS Proxy idleClientTimeout is within 1..28,800 s.",
    (PROXY,),
    _check_idle_client_timeout,
    severity=Severity.HIGH,
    remediation="Set idleClientTimeout within 1..28800 s (default 1800).",
)


PROXY_ENGINE_FAMILY = stack_policy(
    "proxy-engine-family",
    "RDS Proxy engineFamily is one AWS accepts and matches its target's engine (POSTGRESQL for PostgreSQL).",
    (PROXY,),
    _check_engine_family,
    severity=Severity.HIGH,
    remediation="Set engineFamily = POSTGRESQL for RDS for PostgreSQL targets.",
)


PROXY_AUTH_CONFIG = resource_policy(
    "proxy-auth-config",
    "RDS Proxy auth entries are valid: SECRETS with a secretArn, iamAuth and clientPasswordAuthType valid for the "
    "engine family, auths present unless defaultAuthScheme is IAM_AUTH.",
    (PROXY,),
    _check_auth_config,
    severity=Severity.HIGH,
    remediation="auths = [{authScheme: SECRETS, secretArn: ..., iamAuth: REQUIRED|DISABLED, "
    "clientPasswordAuthType: POSTGRES_SCRAM_SHA_256}].",
)


PROXY_SUBNETS_TWO_AZS = stack_policy(
    "proxy-subnets-two-azs",
    "RDS Proxies and proxy endpoints have subnets in at least two Availability Zones.",
    (PROXY, PROXY_ENDPOINT),
    _check_subnets,
    severity=Severity.HIGH,
    remediation="List subnets of two or more Availability Zones in vpcSubnetIds.",
)


PROXY_POOL_PERCENT_RANGES = resource_policy(
    "proxy-pool-percent-ranges",
    "RDS Proxy maxConnectionsPercent is within 1..100 and maxIdleConnectionsPercent within 0..maxConnectionsPercent.",
    (PROXY_TARGET_GROUP,),
    _check_pool_ranges,
    severity=Severity.HIGH,
    remediation="maxConnectionsPercent 1..100, maxIdleConnectionsPercent at most maxConnectionsPercent.",
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
    "RDS Proxy connectionBorrowTimeout is within the configured range (default 1..300 s; AWS accepts 0..300, 0 = no wait).",
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
