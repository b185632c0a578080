"""Stack configuration: read once, validated as a whole, frozen.

Every ``resilient-rds:*`` key of ``Pulumi.<stack>.yaml`` is read here and
nowhere else.  :func:`load_config` collects *all* problems before raising one
:class:`ConfigError`, so a user fixes a bad stack file in one pass, and
``__main__.py`` calls it before it declares any resource: a bad config
declares nothing.

Derived numbers (the connection budget, alarm thresholds) come from
:mod:`components.sizing`; this module only decides which inputs to hand it.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pulumi

from components import sizing

NAMESPACE = "resilient-rds"
ENGINE = "postgres"
POSTGRES_PORT = 5432
SUPPORTED_MAJOR_VERSIONS = (15,)
ENVIRONMENTS = ("dev", "staging", "prod")
#: RDS for PostgreSQL refuses these master user names ("reserved word used by the engine").
RESERVED_MASTER_USERNAMES = ("admin", "rdsadmin", "rdsrepladmin", "rds_superuser", "rds_replication", "public")
MONITORING_INTERVALS = (1, 5, 10, 15, 30, 60)
#: Performance Insights keeps 7 days free, else whole months (31 days) up to 2 years (731).
PERFORMANCE_INSIGHTS_RETENTION_DAYS = (7, *range(31, 31 * 23 + 1, 31), 731)
#: Classes on which Performance Insights is not offered.
_NO_PERFORMANCE_INSIGHTS = re.compile(r"^db\.t[34]g?\.(micro|small)$")

_IDENTIFIER_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_PG_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
_VPC_ID_RE = re.compile(r"^vpc-[0-9a-f]{8}([0-9a-f]{9})?$")
_SUBNET_ID_RE = re.compile(r"^subnet-[0-9a-f]{8}([0-9a-f]{9})?$")
_SG_ID_RE = re.compile(r"^sg-[0-9a-f]{8}([0-9a-f]{9})?$")
_SNS_ARN_RE = re.compile(r"^arn:aws(-[a-z]+)*:sns:[a-z]{2}(-[a-z]+)+-\d:\d{12}:[A-Za-z0-9_-]{1,256}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ENGINE_VERSION_RE = re.compile(r"^(\d+)(\.\d+)?$")
_WINDOW_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")
_MAINT_WINDOW_RE = re.compile(
    r"^(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d-(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d$"
)


class ConfigError(ValueError):
    """The stack configuration is invalid; ``problems`` has one message per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        header = f"{count} problem{'s' if count != 1 else ''} in the stack configuration:"
        super().__init__("\n".join([header, *(f"  - {p}" for p in self.problems)]))


# --- The typed configuration -----------------------------------------------------------------


@dataclass(frozen=True)
class NetworkConfig:
    create_vpc: bool
    vpc_cidr: str | None
    availability_zone_count: int
    vpc_id: str | None
    subnet_ids: tuple[str, ...]
    #: Existing application security groups; empty means "create one".
    app_security_group_ids: tuple[str, ...]


@dataclass(frozen=True)
class DatabaseConfig:
    engine_version: str
    instance_class: str
    allocated_storage_gib: int
    max_allocated_storage_gib: int
    storage_type: str
    multi_az: bool
    db_name: str
    master_username: str
    #: The IAM-authenticated user of the direct read path (replicas).  Not the master user: a user
    #: granted rds_iam can no longer log in with a password, and RDS Proxy logs in as the master
    #: user with the secret's password.  Created once with dbclient/reader_role.sql.
    reader_username: str
    backup_retention_days: int
    backup_window: str
    maintenance_window: str
    deletion_protection: bool
    skip_final_snapshot: bool
    performance_insights_enabled: bool
    performance_insights_retention_days: int
    monitoring_interval: int
    #: Set only to *raise* the RDS default for the class; None keeps the default.
    max_connections: int | None
    #: None keeps PostgreSQL's default (4 MB).
    work_mem_kb: int | None
    idle_in_transaction_session_timeout_ms: int

    @property
    def major_version(self) -> int:
        return int(self.engine_version.split(".")[0])

    @property
    def parameter_group_family(self) -> str:
        return f"{ENGINE}{self.major_version}"


@dataclass(frozen=True)
class ReplicaConfig:
    count: int
    instance_class: str


@dataclass(frozen=True)
class ProxyConfig:
    max_connections_percent: int
    max_idle_connections_percent: int
    connection_borrow_timeout: int
    idle_client_timeout: int
    init_query: str | None


@dataclass(frozen=True)
class AlarmConfig:
    sns_topic_arn: str | None
    email: str | None
    connections_percent: int
    replica_lag_seconds: int
    cpu_percent: int
    freeable_memory_percent: int
    free_storage_percent: int
    borrow_latency_ms: int


@dataclass(frozen=True)
class LambdaFunctionConfig:
    enabled: bool
    memory_mb: int
    timeout_seconds: int


@dataclass(frozen=True)
class StackConfig:
    environment: str
    name: str
    network: NetworkConfig
    database: DatabaseConfig
    replicas: ReplicaConfig
    workload: sizing.Workload
    proxy: ProxyConfig
    alarms: AlarmConfig
    lambda_function: LambdaFunctionConfig
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        """Physical-name prefix, e.g. ``orders-prod``."""
        return f"{self.name}-{self.environment}"

    @property
    def connection_budget(self) -> sizing.ConnectionBudget:
        return sizing.connection_budget(
            self.database.instance_class,
            self.workload,
            max_connections=self.database.max_connections,
            proxy_max_connections_percent=self.proxy.max_connections_percent,
            replica_count=self.replicas.count,
        )

    @property
    def alarm_thresholds(self) -> sizing.AlarmThresholds:
        return sizing.alarm_thresholds(
            self.connection_budget,
            allocated_storage_gib=self.database.allocated_storage_gib,
            connections_percent=self.alarms.connections_percent,
            freeable_memory_percent=self.alarms.freeable_memory_percent,
            free_storage_percent=self.alarms.free_storage_percent,
            cpu_percent=float(self.alarms.cpu_percent),
        )

    @property
    def borrow_latency_threshold_us(self) -> int:
        return sizing.borrow_latency_threshold_us(self.alarms.borrow_latency_ms, self.proxy.connection_borrow_timeout)

    @property
    def resource_tags(self) -> dict[str, str]:
        return {"Project": NAMESPACE, "Environment": self.environment, "ManagedBy": "pulumi", **self.tags}


# --- Reading and validating -------------------------------------------------------------------

T = TypeVar("T")
_MISSING = object()


class _Reader:
    """Reads one structured config object, recording problems instead of raising."""

    def __init__(self, key: str, raw: Any, problems: list[str]) -> None:
        self.key = key
        self.problems = problems
        self.ok = True
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            self.fail(f"{NAMESPACE}:{key} = {_show(raw)} is not accepted: expected a mapping of settings")
            raw = {}
        self.raw: dict[str, Any] = raw
        self.known: set[str] = set()

    def fail(self, message: str) -> None:
        self.ok = False
        self.problems.append(message)

    def path(self, sub: str) -> str:
        return f"{NAMESPACE}:{self.key}.{sub}"

    def bad(self, sub: str, value: Any, accepted: str) -> None:
        self.fail(f"{self.path(sub)} = {_show(value)} is not accepted: {accepted}")

    def get(self, sub: str, default: Any = _MISSING) -> Any:
        self.known.add(sub)
        if sub in self.raw and self.raw[sub] is not None:
            return self.raw[sub]
        if default is _MISSING:
            self.fail(f"{self.path(sub)} is missing: it is required")
            return None
        return default

    def integer(self, sub: str, default: Any = _MISSING, *, low: int, high: int, unit: str = "") -> int:
        value = self.get(sub, default)
        if value is None:
            return low
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
                value = int(value)
            else:
                self.bad(sub, value, f"expected a whole number from {low} to {high}{unit}")
                return low
        if not low <= value <= high:
            self.bad(sub, value, f"expected a whole number from {low} to {high}{unit}")
        return int(value)

    def optional_integer(self, sub: str, *, low: int, high: int, unit: str = "") -> int | None:
        if self.raw.get(sub) is None:
            self.known.add(sub)
            return None
        return self.integer(sub, low=low, high=high, unit=unit)

    def number(self, sub: str, default: Any, *, low: float, high: float, what: str) -> float:
        value = self.get(sub, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.bad(sub, value, what)
            return low
        if not low <= value <= high:
            self.bad(sub, value, what)
        return float(value)

    def boolean(self, sub: str, default: Any = _MISSING) -> bool:
        value = self.get(sub, default)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            self.bad(sub, value, "expected true or false")
            return False
        return value

    def string(self, sub: str, default: Any = _MISSING, *, pattern: re.Pattern[str] | None = None, accepted: str = "") -> str:
        value = self.get(sub, default)
        if value is None:
            return ""
        if not isinstance(value, str):
            self.bad(sub, value, accepted or "expected a string")
            return ""
        if pattern is not None and not pattern.match(value):
            self.bad(sub, value, accepted)
        return value

    def string_list(self, sub: str, *, pattern: re.Pattern[str], accepted: str) -> tuple[str, ...]:
        value = self.get(sub, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.bad(sub, value, f"expected a list of {accepted}")
            return ()
        for item in value:
            if not pattern.match(item):
                self.bad(sub, item, f"expected {accepted}")
        return tuple(value)

    def finish(self) -> None:
        for unknown in sorted(set(self.raw) - self.known):
            self.fail(
                f"{self.path(unknown)} is not a known setting: accepted keys of {NAMESPACE}:{self.key} are "
                + ", ".join(sorted(self.known))
            )


def _show(value: Any) -> str:
    """A short, safe rendering of a config value for an error message."""
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _parse(raw: str | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw


ConfigSource = Callable[[str], "str | None"]


def _pulumi_source() -> ConfigSource:
    cfg = pulumi.Config(NAMESPACE)
    return cfg.get


def load_config(source: ConfigSource | None = None, *, stack: str | None = None) -> StackConfig:
    """Read and validate the whole stack configuration; raise :class:`ConfigError` listing every problem.

    *source* maps a key (without namespace) to its raw string, as ``pulumi.Config.get``
    does; structured values arrive as JSON.  Defaults to the running stack's config.
    """
    get = source or _pulumi_source()
    problems: list[str] = []

    # Top-level scalars.
    environment = get("environment")
    if environment is None:
        environment = stack if stack is not None else pulumi.get_stack()
    if environment not in ENVIRONMENTS:
        problems.append(
            f"{NAMESPACE}:environment = {_show(environment)} is not accepted: expected one of {', '.join(ENVIRONMENTS)}"
        )
    name = get("name") or "orders"
    if not _IDENTIFIER_RE.match(name) or len(name) > 20:
        problems.append(
            f"{NAMESPACE}:name = {_show(name)} is not accepted: expected lower-case letters, digits and single hyphens, "
            "starting with a letter, at most 20 characters (it prefixes the RDS identifiers)"
        )

    network = _network(_Reader("network", _parse(get("network")), problems))
    database = _database(_Reader("database", _parse(get("database")), problems))
    replicas = _replicas(_Reader("replicas", _parse(get("replicas")), problems), database)
    workload = _workload(_Reader("workload", _parse(get("workload")), problems))
    proxy = _proxy(_Reader("proxy", _parse(get("proxy")), problems))
    alarms = _alarms(_Reader("alarms", _parse(get("alarms")), problems), proxy)
    lambda_function = _lambda_function(_Reader("lambdaFunction", _parse(get("lambdaFunction")), problems))
    tags = _tags(_parse(get("tags")), problems)

    if lambda_function.enabled and workload.lambda_concurrency == 0:
        problems.append(
            f"{NAMESPACE}:lambdaFunction.enabled = true is not accepted with workload.lambdaConcurrency = "
            f"{workload.lambda_concurrency}: the function's reserved concurrency is lambdaConcurrency, expected at least 1"
        )
    if environment == "prod":
        _prod_rules(database, problems)
    _database_rules(database, replicas, problems)

    if problems:
        raise ConfigError(problems)

    config = StackConfig(
        environment=str(environment),
        name=name,
        network=network,
        database=database,
        replicas=replicas,
        workload=workload,
        proxy=proxy,
        alarms=alarms,
        lambda_function=lambda_function,
        tags=tags,
    )
    _budget_rules(config, problems)
    if problems:
        raise ConfigError(problems)
    return config


def _network(r: _Reader) -> NetworkConfig:
    create_vpc = r.boolean("createVpc", False)
    vpc_cidr = r.string(
        "vpcCidr", None, accepted="expected an IPv4 CIDR block with a prefix from /16 to /24, e.g. '10.20.0.0/16'"
    )
    az_count = r.integer("availabilityZoneCount", 2, low=2, high=3, unit=" (private subnets, one per AZ)")
    vpc_id = r.string("vpcId", None, pattern=_VPC_ID_RE, accepted="expected a VPC id like 'vpc-0a1b2c3d4e5f67890'")
    subnet_ids = r.string_list("subnetIds", pattern=_SUBNET_ID_RE, accepted="subnet ids like 'subnet-0a1b2c3d4e5f67890'")
    app_sgs = r.string_list("appSecurityGroupIds", pattern=_SG_ID_RE, accepted="security group ids like 'sg-0a1b2c3d4e5f67890'")
    r.finish()
    if create_vpc:
        if vpc_id or subnet_ids:
            r.fail(
                f"{r.path('createVpc')} = true conflicts with {r.path('vpcId')}/{r.path('subnetIds')}: "
                "either create a VPC or name an existing one"
            )
        if app_sgs:
            r.fail(
                f"{r.path('appSecurityGroupIds')} = {_show(list(app_sgs))} is not accepted with createVpc = true: "
                "groups of another VPC cannot be referenced; leave it empty and the stack creates the app group"
            )
        vpc_cidr = vpc_cidr or "10.20.0.0/16"
        try:
            net = ipaddress.IPv4Network(vpc_cidr)
            if not 16 <= net.prefixlen <= 24:
                raise ValueError("prefix")
        except ValueError:
            r.bad("vpcCidr", vpc_cidr, "expected an IPv4 CIDR block with a prefix from /16 to /24, e.g. '10.20.0.0/16'")
    else:
        if vpc_cidr:
            r.bad("vpcCidr", vpc_cidr, "only used with createVpc = true")
        if not vpc_id:
            r.fail(f"{r.path('vpcId')} is missing: required unless createVpc = true")
        unique = set(subnet_ids)
        if len(unique) < 2:
            r.bad(
                "subnetIds",
                list(subnet_ids),
                "expected at least 2 distinct private subnet ids in different availability zones "
                "(RDS subnet groups and Multi-AZ need two AZs)",
            )
    return NetworkConfig(
        create_vpc=create_vpc,
        vpc_cidr=vpc_cidr if create_vpc else None,
        availability_zone_count=az_count,
        vpc_id=vpc_id or None,
        subnet_ids=subnet_ids,
        app_security_group_ids=app_sgs,
    )


def _database(r: _Reader) -> DatabaseConfig:
    engine_version = r.get("engineVersion", "15")
    if isinstance(engine_version, int | float) and not isinstance(engine_version, bool):
        # YAML reads an unquoted 15.8 as a number.
        engine_version = str(engine_version)
    match = _ENGINE_VERSION_RE.match(engine_version) if isinstance(engine_version, str) else None
    if not match or int(match.group(1)) not in SUPPORTED_MAJOR_VERSIONS:
        r.bad(
            "engineVersion",
            engine_version,
            "expected PostgreSQL 15 or 15.x, e.g. '15' or '15.8' (the parameter-group family postgres15 is derived from it)",
        )
        engine_version = "15"
    instance_class = r.string("instanceClass")
    if instance_class and instance_class not in sizing.INSTANCE_MEMORY_GIB:
        r.bad("instanceClass", instance_class, _known_classes())
    storage_type = r.string("storageType", "gp3")
    if storage_type != "gp3":
        r.bad("storageType", storage_type, "expected 'gp3' (baseline 3000 IOPS / 125 MiB/s, no burst credits)")
    allocated = r.integer("allocatedStorage", 20, low=20, high=65536, unit=" GiB")
    max_allocated = r.integer("maxAllocatedStorage", 0, low=0, high=65536, unit=" GiB (0 turns storage autoscaling off)")
    if max_allocated and max_allocated <= allocated:
        r.bad("maxAllocatedStorage", max_allocated, f"expected 0 (off) or more than allocatedStorage ({allocated})")
    multi_az = r.boolean("multiAz", True)
    db_name = r.string(
        "dbName", "orders", pattern=_PG_NAME_RE, accepted="expected a letter then letters, digits or '_', at most 63"
    )
    if db_name.lower() in ("template0", "template1", "rdsadmin"):
        r.bad("dbName", db_name, "reserved database name; pick another, e.g. 'orders'")
    username = r.string(
        "masterUsername",
        "orders_admin",
        pattern=_PG_NAME_RE,
        accepted="expected a letter then letters, digits or '_', at most 63",
    )
    if _reserved_username(username):
        r.bad(
            "masterUsername",
            username,
            "RDS for PostgreSQL reserves 'admin', 'rdsadmin', 'rdsrepladmin', 'public' and names starting 'pg_'; "
            "use e.g. 'orders_admin' or 'postgres'",
        )
    reader_username = r.string(
        "readerUsername",
        "orders_reader",
        pattern=_PG_NAME_RE,
        accepted="expected a letter then letters, digits or '_', at most 63",
    )
    if _reserved_username(reader_username):
        r.bad(
            "readerUsername",
            reader_username,
            "RDS for PostgreSQL reserves 'admin', 'rdsadmin', 'rdsrepladmin', 'public' and names starting 'pg_'; "
            "use e.g. 'orders_reader'",
        )
    elif _PG_NAME_RE.match(reader_username) and reader_username.lower() == username.lower():
        # Compared without case: the SQL that creates the role folds unquoted names to lower case.
        r.bad(
            "readerUsername",
            reader_username,
            f"expected a user other than masterUsername ({username!r}): the reader is granted rds_iam, which "
            "stops password logins, and RDS Proxy logs in as the master user with its password; e.g. 'orders_reader'",
        )
    retention = r.integer(
        "backupRetentionDays", 7, low=1, high=35, unit=" days (read replicas and point-in-time recovery need backups)"
    )
    backup_window = r.string(
        "backupWindow", "03:00-04:00", pattern=_WINDOW_RE, accepted="expected 'hh:mm-hh:mm' in UTC, e.g. '03:00-04:00'"
    )
    maintenance_window = r.string(
        "maintenanceWindow",
        "mon:04:30-mon:05:30",
        pattern=_MAINT_WINDOW_RE,
        accepted="expected 'ddd:hh:mm-ddd:hh:mm' in UTC, lower-case days, e.g. 'mon:04:30-mon:05:30'",
    )
    deletion_protection = r.boolean("deletionProtection", True)
    skip_final_snapshot = r.boolean("skipFinalSnapshot", False)
    pi_enabled = r.boolean("performanceInsightsEnabled", True)
    pi_retention = r.integer("performanceInsightsRetentionDays", 7, low=7, high=731, unit=" days")
    if pi_retention not in PERFORMANCE_INSIGHTS_RETENTION_DAYS:
        r.bad("performanceInsightsRetentionDays", pi_retention, "expected 7, a multiple of 31 up to 713, or 731")
    monitoring = r.get("monitoringInterval", 60)
    if isinstance(monitoring, bool) or monitoring not in MONITORING_INTERVALS:
        r.bad("monitoringInterval", monitoring, "expected one of 1, 5, 10, 15, 30, 60 seconds (enhanced monitoring)")
        monitoring = 60
    max_connections = r.optional_integer("maxConnections", low=1, high=262143)
    work_mem = r.optional_integer("workMemKb", low=64, high=2097151, unit=" kB")
    idle_tx = r.integer("idleInTransactionSessionTimeoutMs", 300000, low=1000, high=86400000, unit=" ms (1 s to 24 h)")
    r.finish()
    return DatabaseConfig(
        engine_version=engine_version,
        instance_class=instance_class,
        allocated_storage_gib=allocated,
        max_allocated_storage_gib=max_allocated,
        storage_type=storage_type,
        multi_az=multi_az,
        db_name=db_name,
        master_username=username,
        reader_username=reader_username,
        backup_retention_days=retention,
        backup_window=backup_window,
        maintenance_window=maintenance_window,
        deletion_protection=deletion_protection,
        skip_final_snapshot=skip_final_snapshot,
        performance_insights_enabled=pi_enabled,
        performance_insights_retention_days=pi_retention,
        monitoring_interval=int(monitoring),
        max_connections=max_connections,
        work_mem_kb=work_mem,
        idle_in_transaction_session_timeout_ms=idle_tx,
    )


def _reserved_username(name: str) -> bool:
    return name.lower() in RESERVED_MASTER_USERNAMES or name.lower().startswith("pg_")


def _known_classes() -> str:
    return (
        "expected an RDS for PostgreSQL class of the t3, t4g, m5, m6g, m6i, m7g, r5, r6g, r6i or r7g families, "
        "e.g. 'db.t4g.medium', 'db.r6g.large'"
    )


def _replicas(r: _Reader, database: DatabaseConfig) -> ReplicaConfig:
    count = r.integer("count", 0, low=0, high=5, unit=" read replicas")
    explicit_class = r.string("instanceClass", None)
    # Only a class the user wrote here is this section's problem; an unknown inherited
    # primary class is already reported under database.instanceClass.
    if explicit_class and explicit_class not in sizing.INSTANCE_MEMORY_GIB:
        r.bad("instanceClass", explicit_class, _known_classes())
    # Both are str ("" when unset, as before): a missing primary class is reported under database.
    instance_class = explicit_class or database.instance_class
    r.finish()
    return ReplicaConfig(count=count, instance_class=instance_class)


def _workload(r: _Reader) -> sizing.Workload:
    lambda_concurrency = r.integer("lambdaConcurrency", 0, low=0, high=10000, unit=" concurrent executions")
    ecs_tasks = r.integer("ecsTasks", 0, low=0, high=5000, unit=" tasks")
    ecs_pool = r.integer("ecsPoolSize", 0, low=0, high=1000, unit=" connections per task")
    others = r.integer("otherClients", 0, low=0, high=100000, unit=" connections")
    active = r.number(
        "activeRatio", 0.2, low=0.01, high=1.0, what="expected a share from 0.01 to 1.0 (time a client is in a transaction)"
    )
    r.finish()
    if ecs_tasks and not ecs_pool:
        r.bad("ecsPoolSize", ecs_pool, "expected at least 1 when ecsTasks > 0")
    return sizing.Workload(
        lambda_concurrency=lambda_concurrency,
        ecs_tasks=ecs_tasks,
        ecs_pool_size=ecs_pool,
        other_clients=others,
        active_ratio=active,
    )


def _proxy(r: _Reader) -> ProxyConfig:
    max_pct = r.integer("maxConnectionsPercent", 90, low=1, high=100, unit=" percent of max_connections")
    idle_pct = r.integer("maxIdleConnectionsPercent", 50, low=0, high=100, unit=" percent of max_connections")
    if 1 <= max_pct <= 100 and idle_pct > max_pct:
        r.bad("maxIdleConnectionsPercent", idle_pct, f"expected at most maxConnectionsPercent ({max_pct})")
    borrow = r.integer("connectionBorrowTimeout", 120, low=1, high=300, unit=" seconds (the RDS Proxy maximum is 300)")
    idle_client = r.integer("idleClientTimeout", 1800, low=1, high=28800, unit=" seconds (up to 8 hours)")
    init_query = r.string("initQuery", None) or None
    if init_query is not None and len(init_query) > 4000:
        r.bad("initQuery", init_query, "expected at most 4000 characters")
    if "sessionPinningFilters" in r.raw:
        r.known.add("sessionPinningFilters")
        r.bad(
            "sessionPinningFilters",
            r.raw["sessionPinningFilters"],
            "not supported for PostgreSQL (EXCLUDE_VARIABLE_SETS is MySQL-only); remove it",
        )
    r.finish()
    return ProxyConfig(
        max_connections_percent=max_pct,
        max_idle_connections_percent=idle_pct,
        connection_borrow_timeout=borrow,
        idle_client_timeout=idle_client,
        init_query=init_query,
    )


def _alarms(r: _Reader, proxy: ProxyConfig) -> AlarmConfig:
    topic = r.string(
        "snsTopicArn",
        None,
        pattern=_SNS_ARN_RE,
        accepted="expected an SNS topic ARN like 'arn:aws:sns:us-east-1:123456789012:ops-alerts'",
    )
    email = r.string("email", None, pattern=_EMAIL_RE, accepted="expected an e-mail address like 'oncall@example.com'")
    if topic and email:
        r.bad("email", email, "give either snsTopicArn (alarms publish to it) or email (a new topic is subscribed), not both")
    connections_pct = r.integer("connectionsPercent", 80, low=1, high=99, unit=" percent of max_connections")
    lag = r.integer("replicaLagSeconds", 60, low=1, high=86400, unit=" seconds")
    cpu = r.integer("cpuPercent", 80, low=1, high=100, unit=" percent")
    mem = r.integer("freeableMemoryPercent", 10, low=1, high=90, unit=" percent of instance memory")
    storage = r.integer("freeStoragePercent", 10, low=1, high=90, unit=" percent of allocated storage")
    borrow_ms = r.integer("borrowLatencyMs", 100, low=1, high=300000, unit=" ms")
    if borrow_ms >= proxy.connection_borrow_timeout * 1000:
        r.bad("borrowLatencyMs", borrow_ms, f"expected below proxy.connectionBorrowTimeout ({proxy.connection_borrow_timeout} s)")
    r.finish()
    return AlarmConfig(
        sns_topic_arn=topic or None,
        email=email or None,
        connections_percent=connections_pct,
        replica_lag_seconds=lag,
        cpu_percent=cpu,
        freeable_memory_percent=mem,
        free_storage_percent=storage,
        borrow_latency_ms=borrow_ms,
    )


def _lambda_function(r: _Reader) -> LambdaFunctionConfig:
    enabled = r.boolean("enabled", False)
    memory = r.integer("memoryMb", 256, low=128, high=10240, unit=" MB")
    timeout = r.integer("timeoutSeconds", 10, low=1, high=900, unit=" seconds")
    r.finish()
    return LambdaFunctionConfig(enabled=enabled, memory_mb=memory, timeout_seconds=timeout)


def _tags(raw: Any, problems: list[str]) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        problems.append(f"{NAMESPACE}:tags = {_show(raw)} is not accepted: expected a mapping of string keys to string values")
        return {}
    for key in raw:
        if key.lower().startswith("aws:"):
            problems.append(f"{NAMESPACE}:tags.{key} is not accepted: tag keys starting 'aws:' are reserved by AWS")
    return dict(raw)


def _prod_rules(database: DatabaseConfig, problems: list[str]) -> None:
    """Production must survive an AZ loss and an accidental destroy."""
    db = f"{NAMESPACE}:database"
    if not database.multi_az:
        problems.append(f"{db}.multiAz = false is not accepted for environment prod: expected true (standby in a second AZ)")
    if not database.deletion_protection:
        problems.append(f"{db}.deletionProtection = false is not accepted for environment prod: expected true")
    if database.skip_final_snapshot:
        problems.append(f"{db}.skipFinalSnapshot = true is not accepted for environment prod: expected false")
    if database.backup_retention_days < 7:
        problems.append(
            f"{db}.backupRetentionDays = {database.backup_retention_days} is not accepted for environment prod: "
            "expected 7 to 35 days"
        )


def _database_rules(database: DatabaseConfig, replicas: ReplicaConfig, problems: list[str]) -> None:
    db = f"{NAMESPACE}:database"
    cls = database.instance_class
    if cls not in sizing.INSTANCE_MEMORY_GIB:
        return
    if database.performance_insights_enabled and _NO_PERFORMANCE_INSIGHTS.match(cls):
        problems.append(
            f"{db}.performanceInsightsEnabled = true is not accepted on {cls}: Performance Insights needs "
            "db.t3.medium / db.t4g.medium or larger; pick a larger instanceClass or set it to false"
        )
    default = sizing.default_max_connections(cls)
    if database.max_connections is not None and database.max_connections <= default:
        problems.append(
            f"{db}.maxConnections = {database.max_connections} is not accepted on {cls}: the RDS default is {default}; "
            "set it only to raise the default (leave it out to keep the default)"
        )
    effective = database.max_connections if database.max_connections is not None else default
    check = sizing.memory_check(
        cls,
        max_connections=effective,
        work_mem_kb=database.work_mem_kb or sizing.DEFAULT_WORK_MEM_KB,
    )
    if not check.fits:
        problems.append(
            f"{db}.workMemKb = {database.work_mem_kb} / maxConnections = {effective} is not accepted on {cls}: "
            f"shared_buffers + max_connections x work_mem = {check.worst_case_bytes // sizing.GIB} GiB exceeds "
            f"{check.memory_bytes // sizing.GIB} GiB of memory (OOM risk); lower workMemKb"
        )
    rep_cls = replicas.instance_class
    if replicas.count and rep_cls in sizing.INSTANCE_MEMORY_GIB and database.max_connections is None:
        # A hot standby refuses to start when its max_connections is below the primary's.
        rep_default = sizing.default_max_connections(rep_cls)
        if rep_default < default:
            problems.append(
                f"{NAMESPACE}:replicas.instanceClass = {rep_cls!r} is not accepted: its default max_connections "
                f"({rep_default}) is below the primary's ({default}) and a PostgreSQL standby will not start; "
                "use a class with at least as much memory as the primary"
            )
    if (
        replicas.count
        and database.max_connections is not None
        and rep_cls != cls  # same class: the primary's check above already says it
        and rep_cls in sizing.INSTANCE_MEMORY_GIB
    ):
        rep_check = sizing.memory_check(
            rep_cls, max_connections=database.max_connections, work_mem_kb=database.work_mem_kb or sizing.DEFAULT_WORK_MEM_KB
        )
        if not rep_check.fits:
            problems.append(
                f"{NAMESPACE}:replicas.instanceClass = {rep_cls!r} is not accepted: with maxConnections = "
                f"{database.max_connections} (replicas must match the primary) its memory would be exceeded"
            )


def _budget_rules(config: StackConfig, problems: list[str]) -> None:
    budget = config.connection_budget
    if not budget.proxy_sufficient:
        problems.append(
            f"{NAMESPACE}:proxy.maxConnectionsPercent = {config.proxy.max_connections_percent} is not accepted with "
            f"database.instanceClass = {config.database.instance_class!r}: the proxy may open "
            f"{budget.proxy_db_connections} database connections but the workload needs "
            f"{budget.proxy_db_connections_needed}; raise the percent or the instance class"
        )
