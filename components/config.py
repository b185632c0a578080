"""Settings: read from the stack or from the component's args, validated as a whole, frozen.

Two ways in, one validation:

* :func:`load_config` reads every ``resilient-rds:*`` key of ``Pulumi.<stack>.yaml``
  (and ``aws:region``); an unknown key anywhere in the namespace is a problem.
* :func:`validate_args` takes a :class:`components.args.ResilientPostgresArgs`.

Both turn their input into the same tree (stack keys, as in the YAML) and call
:func:`validate`, which checks each value against its declaration in
:mod:`components.settings`, then the rules across settings, and collects *all*
problems before raising one :class:`ConfigError`: a user fixes a bad stack in
one pass, and nothing is declared from a bad config.

Derived numbers (the connection budget, alarm thresholds) come from
:mod:`components.sizing`; this module only decides which inputs to hand it.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pulumi

from components import args as component_args
from components import sizing
from components.args import (
    AlarmsSettings,
    DatabaseSettings,
    LambdaFunctionSettings,
    NetworkSettings,
    ProxySettings,
    ReplicasSettings,
    ResilientPostgresArgs,
)
from components.settings import ENVIRONMENTS, NAMESPACE, REQUIRED, SECTIONS, TOP_LEVEL, TOP_LEVEL_KEYS, Setting

__all__ = [
    "ENGINE",
    "ENVIRONMENTS",
    "NAMESPACE",
    "POSTGRES_PORT",
    "ConfigError",
    "DatabaseConfig",
    "StackConfig",
    "load_config",
    "rds_regions",
    "validate",
    "validate_args",
]

ENGINE = "postgres"
POSTGRES_PORT = 5432
SUPPORTED_MAJOR_VERSIONS = (15,)
#: RDS for PostgreSQL refuses these master user names ("reserved word used by the engine").
RESERVED_MASTER_USERNAMES = ("admin", "rdsadmin", "rdsrepladmin", "rds_superuser", "rds_replication", "public")
#: Performance Insights keeps 7 days free, else whole months (31 days) up to 2 years (731).
PERFORMANCE_INSIGHTS_RETENTION_DAYS = (7, *range(31, 31 * 23 + 1, 31), 731)
#: Classes on which Performance Insights is not offered.
_NO_PERFORMANCE_INSIGHTS = re.compile(r"^db\.t[34]g?\.(micro|small)$")
_ENGINE_VERSION_RE = re.compile(r"^(\d+)(\.\d+)?$")
#: Key names that say "a credential": the program never takes one from the stack file.
_CREDENTIAL_RE = re.compile(r"pass(word|wd)?|secret|credential|token|api_?key|private_?key", re.IGNORECASE)
#: AWS tag limits (Tagging AWS resources): key <= 128, value <= 256 characters, 50 tags per resource.
_TAG_KEY_MAX, _TAG_VALUE_MAX, _TAGS_MAX = 128, 256, 50
#: Tags the program adds itself (Project, Environment, ManagedBy, Name, Component).
_OWN_TAGS = 5
_MINUTES_PER_WEEK = 7 * 24 * 60
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_VPC_CIDR = "10.20.0.0/16"


class ConfigError(ValueError):
    """The settings are invalid; ``problems`` has one message per problem, ``source`` says where they came from."""

    def __init__(self, problems: list[str], source: str = "the stack configuration") -> None:
        self.problems = list(problems)
        self.source = source
        count = len(self.problems)
        where = f"the stack configuration ({source})" if source.endswith(".yaml") else source
        header = f"{count} problem{'s' if count != 1 else ''} in {where}:"
        super().__init__("\n".join([header, *(f"  - {p}" for p in self.problems)]))


# --- The validated settings -------------------------------------------------------------------


@dataclass(frozen=True)
class DatabaseConfig(DatabaseSettings):
    """The database settings and what follows from them."""

    @property
    def major_version(self) -> int:
        return int(self.engine_version.split(".")[0])

    @property
    def parameter_group_family(self) -> str:
        return f"{ENGINE}{self.major_version}"


@dataclass(frozen=True)
class StackConfig:
    environment: str
    name: str
    network: NetworkSettings
    database: DatabaseConfig
    replicas: ReplicasSettings
    workload: sizing.Workload
    proxy: ProxySettings
    alarms: AlarmsSettings
    lambda_function: LambdaFunctionSettings
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        """Physical-name prefix, e.g. ``orders-prod``."""
        return f"{self.name}-{self.environment}"

    @property
    def replica_instance_class(self) -> str:
        return self.replicas.instance_class or self.database.instance_class

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
            allocated_storage_gib=self.database.allocated_storage,
            connections_percent=self.alarms.connections_percent,
            freeable_memory_percent=self.alarms.freeable_memory_percent,
            free_storage_percent=self.alarms.free_storage_percent,
            cpu_percent=float(self.alarms.cpu_percent),
        )

    @property
    def borrow_latency_threshold_us(self) -> int:
        return sizing.borrow_latency_threshold_us(self.alarms.borrow_latency_ms, self.proxy.connection_borrow_timeout_s)

    @property
    def resource_tags(self) -> dict[str, str]:
        return {"Project": NAMESPACE, "Environment": self.environment, "ManagedBy": "pulumi", **self.tags}

    def to_args(self) -> ResilientPostgresArgs:
        """These settings as the component's args (validated again there, and accepted)."""
        sections: dict[str, Any] = {}
        for section in SECTIONS:
            resolved = getattr(self, section.attr)
            values = {s.attr: getattr(resolved, s.attr) for s in section.settings}
            values = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
            sections[section.attr] = getattr(component_args, f"{section.class_stem}Args")(**values)
        return ResilientPostgresArgs(environment=self.environment, name=self.name, tags=dict(self.tags), **sections)

    @property
    def secret_name(self) -> str:
        """Where the generated master password lives in Secrets Manager."""
        return f"rds/{self.prefix}/master"


# --- Checking one value against its declaration -------------------------------------------------


def _show(value: Any) -> str:
    """A short, safe rendering of a config value for an error message."""
    if isinstance(value, pulumi.Output):
        return "<computed>"
    try:
        text = json.dumps(value) if not isinstance(value, str) else repr(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _quote_hint(value: Any) -> str:
    if isinstance(value, bool):
        what = f"the boolean {'true' if value else 'false'} (YAML reads unquoted yes/no/on/off/true/false so)"
    else:
        what = f"the number {value} (YAML reads an unquoted 15.10 as 15.1)"
    return f"it arrived as {what}; write it in quotes, e.g. '{json.dumps(value)}'"


def _closest(word: str, candidates: list[str]) -> str | None:
    lowered = {c.lower(): c for c in candidates}
    if word.lower() in lowered:
        return lowered[word.lower()]
    match = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    if not match:
        match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
        return lowered[match[0]] if match else None
    return match[0]


class _Checker:
    """Checks the values of one section (or the top level), recording problems instead of raising."""

    def __init__(self, where: str, raw: Any, settings: tuple[Setting, ...], problems: list[str], *, source: str) -> None:
        self.where = where  # "resilient-rds:database" or "resilient-rds"
        self.settings = {s.key: s for s in settings}
        self.problems = problems
        self.source = source
        self.failed: set[str] = set()
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            self.problems.append(f"{where} = {_show(raw)} is not accepted: expected a mapping of settings")
            raw = {}
        self.raw: dict[str, Any] = raw

    def path(self, key: str) -> str:
        return f"{NAMESPACE}:{key}" if self.where == NAMESPACE else f"{self.where}.{key}"

    def bad(self, key: str, value: Any, accepted: str) -> None:
        self.failed.add(key)
        self.problems.append(f"{self.path(key)} = {_show(value)} is not accepted: {accepted}")

    def fail(self, key: str, message: str) -> None:
        self.failed.add(key)
        self.problems.append(message)

    def ok(self, *keys: str) -> bool:
        return not self.failed.intersection(keys)

    def values(self) -> dict[str, Any]:
        """Every declared setting, checked, by Python attribute; a bad value is replaced by a harmless one."""
        return {s.attr: self.value(s) for s in self.settings.values()}

    def value(self, setting: Setting) -> Any:
        key = setting.key
        raw = self.raw.get(key)
        if raw is None:
            if setting.required:
                self.fail(key, f"{self.path(key)} is missing: it is required")
                return _placeholder(setting)
            default = setting.default
            return tuple(default) if isinstance(default, list | tuple) else default
        if isinstance(raw, pulumi.Output):
            if not setting.computed_ok:
                self.bad(key, raw, f"{setting.expected()}; a plain value is needed here, not a computed output")
                return _placeholder(setting)
            return raw
        checked = _check(setting, raw)
        if isinstance(checked, _Bad):
            self.bad(key, checked.shown if checked.shown is not None else raw, checked.reason)
            return _placeholder(setting)
        return checked

    def unknown_keys(self) -> None:
        """Report every key the declaration does not know: renamed, a credential, or a typo."""
        for key in sorted(k for k in self.raw if k not in self.settings):
            self.problems.append(_unknown_key_message(self.where, key, list(self.settings.values()), self.source))


@dataclass(frozen=True)
class _Bad:
    reason: str
    shown: Any = None


def _placeholder(setting: Setting) -> Any:
    """A value of the right type that lets the remaining checks run without knock-on messages."""
    if setting.kind == "strings":
        return ()
    if setting.default is not None and setting.default is not REQUIRED:
        return tuple(setting.default) if isinstance(setting.default, list | tuple) else setting.default
    return {"bool": False, "int": None, "number": None, "string": "", "tags": {}}[setting.kind]


def _check(setting: Setting, value: Any) -> Any:
    """The value converted to its declared type, or a :class:`_Bad` saying why not."""
    kind = setting.kind
    expected = setting.expected()
    if kind == "bool":
        # `pulumi config set --path` stores plain strings: accept exactly "true"/"false".
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return value if isinstance(value, bool) else _Bad(expected)
    if kind in ("int", "number"):
        if isinstance(value, bool):
            return _Bad(expected)
        if kind == "int" and isinstance(value, str) and re.fullmatch(r"-?\d{1,12}", value.strip()):
            value = int(value)
        if kind == "int" and not isinstance(value, int):
            return _Bad(expected)
        if kind == "number" and not isinstance(value, int | float):
            return _Bad(expected)
        if setting.choices and value not in setting.choices:
            return _Bad(expected, value)
        if setting.low is not None and setting.high is not None and not setting.low <= value <= setting.high:
            return _Bad(expected, value)
        return float(value) if kind == "number" else int(value)
    if kind == "string":
        if isinstance(value, bool | int | float):
            return _Bad(f"{expected}; {_quote_hint(value)}")
        if not isinstance(value, str):
            return _Bad(expected)
        if setting.choices and value not in setting.choices:
            return _Bad(expected)
        if setting.max_length is not None and len(value) > setting.max_length:
            return _Bad(expected)
        if setting.pattern is not None and not setting.pattern.match(value):
            return _Bad(expected)
        return value
    if kind == "strings":
        if not isinstance(value, list | tuple) or not all(isinstance(v, str | pulumi.Output) for v in value):
            return _Bad(expected)
        for item in value:
            if isinstance(item, str) and setting.pattern is not None and not setting.pattern.match(item):
                return _Bad(f"expected {setting.accepted}", item)
        return tuple(value)
    # tags
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        return _Bad(expected)
    for key, item in value.items():
        if isinstance(item, bool | int | float):
            return _Bad(f"{expected}; the value of {key!r}: {_quote_hint(item)}")
        if not isinstance(item, str):
            return _Bad(expected)
    return dict(value)


def _unknown_key_message(where: str, key: str, settings: list[Setting], source: str) -> str:
    path = f"{where}.{key}" if where != NAMESPACE else f"{NAMESPACE}:{key}"
    if _CREDENTIAL_RE.search(key):
        return (
            f"{path} looks like a credential and is not accepted (in {source}): never write a password in the stack "
            "file; the program generates the master password and keeps it in AWS Secrets Manager as the secret "
            "'rds/<name>-<environment>/master' (stack output secretArn), and clients connect with IAM authentication"
        )
    for setting in settings:
        if setting.renamed_from and setting.renamed_from == key:
            return (
                f"{path} is not a known setting (in {source}): it was renamed {setting.key} (durations carry their "
                f"unit in the name); the value means the same, in {setting.unit}"
            )
    names = [s.key for s in settings]
    known = ", ".join(names)
    guess = _closest(key, names)
    hint = f": did you mean `{guess}`?" if guess else ""
    scope = f"keys of {where}" if where != NAMESPACE else f"keys of the {NAMESPACE} namespace"
    return f"{path} is not a known setting (in {source}){hint} Accepted {scope} are {known}"


# --- Regions ----------------------------------------------------------------------------------


@cache
def rds_regions() -> tuple[str, ...]:
    """Every region where RDS exists, from botocore's endpoint data (offline, the installed botocore)."""
    from botocore.loaders import Loader

    regions: set[str] = set()
    for partition in Loader().load_data("endpoints")["partitions"]:
        endpoints = partition.get("services", {}).get("rds", {}).get("endpoints", {})
        regions.update(r for r in partition.get("regions", {}) if r in endpoints)
    return tuple(sorted(regions))


def _region_problem(region: Any, source: str) -> str | None:
    if region is None:
        return None
    regions = rds_regions()
    if isinstance(region, str) and region in regions:
        return None
    guess = _closest(str(region), list(regions))
    hint = f" (did you mean `{guess}`?)" if guess else ""
    return (
        f"aws:region = {_show(region)} is not accepted (in {source}): RDS does not exist there{hint}; "
        f"expected one of {', '.join(regions)}"
    )


# --- The two ways in ----------------------------------------------------------------------------


def _decode(raw: Any) -> Any:
    """Pulumi hands structured values over as JSON text; plain strings stay strings."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _pulumi_namespace() -> tuple[dict[str, Any], Any, list[str]]:
    """The running stack's config: keys of this namespace (without it), ``aws:region``, and keys of near-miss namespaces."""
    from pulumi.runtime import config as runtime_config

    everything = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{NAMESPACE}:"
    ours = {k[len(prefix):]: v for k, v in everything.items() if k.startswith(prefix)}
    misspelt = sorted(
        k for k in everything
        if ":" in k and (ns := k.split(":", 1)[0]) != NAMESPACE and difflib.SequenceMatcher(None, ns, NAMESPACE).ratio() >= 0.8
    )
    return ours, everything.get("aws:region"), misspelt


_TOP_SCALARS = {"environment", "name"}


def load_config(
    source: Mapping[str, Any] | None = None,
    *,
    stack: str | None = None,
    region: Any = None,
    file: str | None = None,
) -> StackConfig:
    """Read and validate the whole stack configuration; raise :class:`ConfigError` listing every problem.

    *source* maps each key of the namespace (without ``resilient-rds:``) to its value as Pulumi hands it
    over (structured values as JSON text) or as parsed YAML.  Defaults to the running stack's config
    and ``aws:region``.
    """
    stack = stack if stack is not None else pulumi.get_stack()
    misspelt: list[str] = []
    if source is None:
        source, region, misspelt = _pulumi_namespace()
    file = file or f"Pulumi.{stack}.yaml"
    tree = {key: (value if key in _TOP_SCALARS else _decode(value)) for key, value in source.items()}
    problems = [
        f"{key} is not accepted (in {file}): its namespace is not {NAMESPACE}: did you mean `{NAMESPACE}:{key.split(':', 1)[1]}`?"
        for key in misspelt
    ]
    try:
        config = validate(tree, stack=stack, region=region, source=file)
    except ConfigError as error:
        raise ConfigError([*problems, *error.problems], file) from None
    if problems:
        raise ConfigError(problems, file)
    return config


def args_from_inputs(inputs: Mapping[str, Any]) -> ResilientPostgresArgs:
    """The inputs the component package's provider passes (``provider/``) as :class:`ResilientPostgresArgs`.

    ``pulumi.provider.experimental`` hands the constructor plain dicts with snake_case keys, not the
    dataclasses, and numbers cross the wire as doubles: a whole-number float given to an int setting
    is that int.  Anything else is kept as sent, for :func:`validate_args` to judge and name.
    """
    top: dict[str, Any] = {setting.attr: inputs.get(setting.attr) for setting in TOP_LEVEL}
    sections: dict[str, Any] = {}
    for section in SECTIONS:
        raw = inputs.get(section.attr)
        if isinstance(raw, Mapping):
            values = {s.attr: _from_wire(s, raw.get(s.attr)) for s in section.settings}
            sections[section.attr] = getattr(component_args, f"{section.class_stem}Args")(**values)
        else:
            sections[section.attr] = raw  # None (defaults) or a wrong shape, reported by validate_args
    return ResilientPostgresArgs(**top, **sections)


def _from_wire(setting: Setting, value: Any) -> Any:
    if setting.kind == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def validate_args(args: ResilientPostgresArgs, *, stack: str | None = None, region: Any = None) -> StackConfig:
    """Validate the component's args exactly as a stack file; raise :class:`ConfigError` listing every problem."""
    if not isinstance(args, ResilientPostgresArgs):
        raise ConfigError([f"args = {_show(args)} is not accepted: expected ResilientPostgresArgs"], "ResilientPostgresArgs")
    tree: dict[str, Any] = {}
    for setting in TOP_LEVEL:
        value = getattr(args, setting.attr)
        if value is not None:
            tree[setting.key] = value
    for section in SECTIONS:
        section_args = getattr(args, section.attr)
        if section_args is None:
            continue
        if not dataclasses.is_dataclass(section_args) or isinstance(section_args, type):
            tree[section.key] = section_args  # reported as "expected a mapping of settings"
            continue
        tree[section.key] = {s.key: getattr(section_args, s.attr) for s in section.settings}
    if region is None:
        region = pulumi.Config("aws").get("region")
    return validate(
        tree, stack=stack if stack is not None else pulumi.get_stack(), region=region, source="ResilientPostgresArgs"
    )


def validate(tree: Mapping[str, Any], *, stack: str, region: Any = None, source: str) -> StackConfig:
    """Check *tree* (stack keys, values as in the YAML) against the declaration and the cross-setting rules."""
    problems: list[str] = []
    where = NAMESPACE

    for key in sorted(k for k in tree if k not in TOP_LEVEL_KEYS):
        problems.append(_unknown_key_message(where, key, [*TOP_LEVEL, *_section_settings()], source))
    region_problem = _region_problem(region, source)
    if region_problem:
        problems.append(region_problem)

    top = _Checker(NAMESPACE, {k: tree[k] for k in ("environment", "name", "tags") if k in tree}, TOP_LEVEL, problems,
                   source=source)
    if tree.get("environment") is None:
        top.raw["environment"] = stack
    values = top.values()
    environment: str = values["environment"] or ""
    name: str = values["name"] or "orders"
    tags = _tags(values["tags"] or {}, problems)

    checkers = {s.key: _Checker(f"{NAMESPACE}:{s.key}", tree.get(s.key), s.settings, problems, source=source)
                for s in SECTIONS}
    network = _network(checkers["network"])
    database = _database(checkers["database"])
    replicas = _replicas(checkers["replicas"], database)
    workload = _workload(checkers["workload"])
    proxy = _proxy(checkers["proxy"])
    alarms = _alarms(checkers["alarms"], proxy)
    lambda_function = _lambda_function(checkers["lambdaFunction"], workload)
    for checker in checkers.values():
        checker.unknown_keys()

    if environment == "prod":
        _prod_rules(database, problems)
    _database_rules(database, replicas, proxy, checkers["database"], problems)

    if problems:
        raise ConfigError(problems, source)

    config = StackConfig(
        environment=environment,
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
        raise ConfigError(problems, source)
    return config


def _section_settings() -> list[Setting]:
    """Section names as pseudo-settings, for "did you mean" on top-level keys."""
    return [Setting(s.key, "tags", None, s.description) for s in SECTIONS]


# --- Sections -------------------------------------------------------------------------------------


def _network(c: _Checker) -> NetworkSettings:
    v = c.values()
    create_vpc, vpc_id, subnet_ids, app_sgs = v["create_vpc"], v["vpc_id"], v["subnet_ids"], v["app_security_group_ids"]
    vpc_cidr = v["vpc_cidr"]
    if create_vpc:
        if vpc_id or subnet_ids:
            c.fail(
                "createVpc",
                f"{c.path('createVpc')} = true conflicts with {c.path('vpcId')}/{c.path('subnetIds')}: "
                "either create a VPC or name an existing one",
            )
        if app_sgs:
            c.fail(
                "appSecurityGroupIds",
                f"{c.path('appSecurityGroupIds')} = {_show(list(app_sgs))} is not accepted with createVpc = true: "
                "groups of another VPC cannot be referenced; leave it empty and the stack creates the app group",
            )
        vpc_cidr = vpc_cidr or DEFAULT_VPC_CIDR
        if c.ok("vpcCidr"):
            try:
                net = ipaddress.IPv4Network(vpc_cidr)
                if not 16 <= net.prefixlen <= 24:
                    raise ValueError("prefix")
            except ValueError:
                c.bad("vpcCidr", vpc_cidr, c.settings["vpcCidr"].expected())
    else:
        if vpc_cidr:
            c.bad("vpcCidr", vpc_cidr, "only used with createVpc = true")
        if not vpc_id and c.ok("vpcId"):
            c.fail("vpcId", f"{c.path('vpcId')} is missing: required unless createVpc = true")
        plain = [s for s in subnet_ids if isinstance(s, str)]
        distinct = len(set(plain)) + (len(subnet_ids) - len(plain))
        if c.ok("subnetIds") and distinct < 2:
            c.bad(
                "subnetIds",
                list(subnet_ids),
                "expected at least 2 distinct private subnet ids in different availability zones "
                "(RDS subnet groups and Multi-AZ need two AZs)",
            )
    return NetworkSettings(
        create_vpc=create_vpc,
        vpc_cidr=vpc_cidr if create_vpc else None,
        availability_zone_count=v["availability_zone_count"],
        vpc_id=vpc_id or None,
        subnet_ids=subnet_ids,
        app_security_group_ids=app_sgs,
    )


def _reserved_username(name: str) -> bool:
    return name.lower() in RESERVED_MASTER_USERNAMES or name.lower().startswith("pg_")


def _window_minutes(text: str) -> tuple[int, int]:
    """Start and end of a 'ddd:hh:mm-ddd:hh:mm' or 'hh:mm-hh:mm' window in minutes (of the week or day)."""
    def point(part: str) -> int:
        pieces = part.split(":")
        day = _DAYS.index(pieces[0]) * 24 * 60 if len(pieces) == 3 else 0
        return day + int(pieces[-2]) * 60 + int(pieces[-1])

    start, end = text.split("-")
    return point(start), point(end)


def _database(c: _Checker) -> DatabaseConfig:
    v = c.values()
    engine_version = v["engine_version"]
    if c.ok("engineVersion"):
        match = _ENGINE_VERSION_RE.match(engine_version)
        if not match or int(match.group(1)) not in SUPPORTED_MAJOR_VERSIONS:
            c.bad("engineVersion", engine_version, c.settings["engineVersion"].expected())
    if not c.ok("engineVersion"):
        engine_version = "15"
    instance_class = v["instance_class"]
    if instance_class and instance_class not in sizing.INSTANCE_MEMORY_GIB:
        c.bad("instanceClass", instance_class, c.settings["instanceClass"].expected())
    allocated, max_allocated = v["allocated_storage"], v["max_allocated_storage"]
    # RDS wants the storage-autoscaling threshold at least 10 % above the allocated storage.
    if c.ok("allocatedStorage", "maxAllocatedStorage") and max_allocated and max_allocated * 10 < allocated * 11:
        c.bad(
            "maxAllocatedStorage", max_allocated,
            f"expected 0 (off) or at least 10 % more than allocatedStorage ({allocated}): {math.ceil(allocated * 1.1)} or more",
        )
    db_name = v["db_name"]
    if c.ok("dbName") and db_name.lower() in ("template0", "template1", "rdsadmin"):
        c.bad("dbName", db_name, "reserved database name; pick another, e.g. 'orders'")
    username, reader = v["master_username"], v["reader_username"]
    if c.ok("masterUsername") and _reserved_username(username):
        c.bad(
            "masterUsername",
            username,
            "RDS for PostgreSQL reserves 'admin', 'rdsadmin', 'rdsrepladmin', 'rds_superuser', 'rds_replication', "
            "'public' and names starting 'pg_'; use e.g. 'orders_admin' or 'postgres'",
        )
    if c.ok("readerUsername") and _reserved_username(reader):
        c.bad(
            "readerUsername",
            reader,
            "RDS for PostgreSQL reserves 'admin', 'rdsadmin', 'rdsrepladmin', 'rds_superuser', 'rds_replication', "
            "'public' and names starting 'pg_'; use e.g. 'orders_reader'",
        )
    elif c.ok("readerUsername") and username and reader.lower() == username.lower():
        # Compared without case: the SQL that creates the role folds unquoted names to lower case.
        c.bad(
            "readerUsername",
            reader,
            f"expected a user other than masterUsername ({username!r}): the reader is granted rds_iam, which "
            "stops password logins, and RDS Proxy logs in as the master user with its password; e.g. 'orders_reader'",
        )
    if c.ok("backupWindow", "maintenanceWindow"):
        _window_rules(c, v["backup_window"], v["maintenance_window"])
    pi_retention = v["performance_insights_retention_days"]
    if c.ok("performanceInsightsRetentionDays") and pi_retention not in PERFORMANCE_INSIGHTS_RETENTION_DAYS:
        c.bad("performanceInsightsRetentionDays", pi_retention, "expected 7, a multiple of 31 up to 713, or 731")
    return DatabaseConfig(**{**v, "engine_version": engine_version})


def _window_rules(c: _Checker, backup: str, maintenance: str) -> None:
    """What RDS refuses at create time: windows under 30 minutes, and a backup window inside the maintenance window."""
    b_start, b_end = _window_minutes(backup)
    m_start, m_end = _window_minutes(maintenance)
    backup_len = (b_end - b_start) % (24 * 60)
    maint_len = (m_end - m_start) % _MINUTES_PER_WEEK
    if backup_len < 30:
        c.bad("backupWindow", backup, "expected a window of at least 30 minutes (RDS refuses shorter ones)")
    if maint_len < 30:
        c.bad("maintenanceWindow", maintenance, "expected a window of at least 30 minutes (RDS refuses shorter ones)")
    if backup_len < 30 or maint_len < 30:
        return
    day = 24 * 60
    for weekday in range(7):
        start = weekday * day + b_start
        for offset in range(backup_len):
            minute = (start + offset) % _MINUTES_PER_WEEK
            if (minute - m_start) % _MINUTES_PER_WEEK < maint_len:
                c.bad(
                    "backupWindow",
                    backup,
                    f"expected a window that does not overlap maintenanceWindow ({maintenance!r}): RDS refuses "
                    "overlapping backup and maintenance windows",
                )
                return


def _replicas(c: _Checker, database: DatabaseConfig) -> ReplicasSettings:
    v = c.values()
    explicit = v["instance_class"]
    # Only a class the user wrote here is this section's problem; an unknown inherited
    # primary class is already reported under database.instanceClass.
    if explicit and explicit not in sizing.INSTANCE_MEMORY_GIB:
        c.bad("instanceClass", explicit, c.settings["instanceClass"].expected())
    return ReplicasSettings(count=v["count"], instance_class=explicit or database.instance_class)


def _workload(c: _Checker) -> sizing.Workload:
    v = c.values()
    if c.ok("ecsTasks", "ecsPoolSize") and v["ecs_tasks"] and not v["ecs_pool_size"]:
        c.bad("ecsPoolSize", v["ecs_pool_size"], "expected at least 1 when ecsTasks > 0")
    return sizing.Workload(
        lambda_concurrency=v["lambda_concurrency"],
        ecs_tasks=v["ecs_tasks"],
        ecs_pool_size=v["ecs_pool_size"],
        other_clients=v["other_clients"],
        active_ratio=v["active_ratio"],
    )


def _proxy(c: _Checker) -> ProxySettings:
    if "sessionPinningFilters" in c.raw:
        c.bad(
            "sessionPinningFilters",
            c.raw.pop("sessionPinningFilters"),
            "not supported for PostgreSQL (EXCLUDE_VARIABLE_SETS is MySQL-only); remove it",
        )
    v = c.values()
    max_pct, idle_pct = v["max_connections_percent"], v["max_idle_connections_percent"]
    if c.ok("maxConnectionsPercent", "maxIdleConnectionsPercent") and idle_pct > max_pct:
        c.bad("maxIdleConnectionsPercent", idle_pct, f"expected at most maxConnectionsPercent ({max_pct})")
    return ProxySettings(**{**v, "init_query": v["init_query"] or None})


def _alarms(c: _Checker, proxy: ProxySettings) -> AlarmsSettings:
    v = c.values()
    if v["sns_topic_arn"] and v["email"]:
        c.bad(
            "email",
            v["email"],
            "give either snsTopicArn (alarms publish to it) or email (a new topic is subscribed), not both",
        )
    borrow_ms = v["borrow_latency_ms"]
    if c.ok("borrowLatencyMs") and borrow_ms >= proxy.connection_borrow_timeout_s * 1000:
        limit = proxy.connection_borrow_timeout_s
        c.bad("borrowLatencyMs", borrow_ms, f"expected below proxy.connectionBorrowTimeoutS ({limit} s)")
    return AlarmsSettings(**{**v, "sns_topic_arn": v["sns_topic_arn"] or None, "email": v["email"] or None})


def _lambda_function(c: _Checker, workload: sizing.Workload) -> LambdaFunctionSettings:
    v = c.values()
    if v["enabled"]:
        if workload.lambda_concurrency == 0:
            c.fail(
                "enabled",
                f"{c.path('enabled')} = true is not accepted with workload.lambdaConcurrency = "
                f"{workload.lambda_concurrency}: the function's reserved concurrency is lambdaConcurrency, "
                "expected at least 1",
            )
        archive = v["layer_archive"]
        if c.ok("layerArchive") and not archive.endswith(".zip"):
            c.bad("layerArchive", archive, "expected a path to a .zip file, e.g. 'build/lambda-layer.zip'")
        elif c.ok("layerArchive") and not Path(archive).is_file():
            c.bad(
                "layerArchive",
                archive,
                "no such file: build the psycopg layer with `make layer` (dbclient/layer.py) before `pulumi up`, "
                "or point this key at the zip (relative to the project directory)",
            )
    return LambdaFunctionSettings(**v)


def _tags(raw: Mapping[str, str], problems: list[str]) -> dict[str, str]:
    for key, value in raw.items():
        path = f"{NAMESPACE}:tags.{key}"
        if key.lower().startswith("aws:"):
            problems.append(f"{path} is not accepted: tag keys starting 'aws:' are reserved by AWS")
        elif not key or len(key) > _TAG_KEY_MAX:
            problems.append(f"{path} is not accepted: expected a tag key of 1 to {_TAG_KEY_MAX} characters")
        if len(value) > _TAG_VALUE_MAX:
            problems.append(f"{path} = {_show(value)} is not accepted: expected at most {_TAG_VALUE_MAX} characters")
    if len(raw) > _TAGS_MAX - _OWN_TAGS:
        problems.append(
            f"{NAMESPACE}:tags has {len(raw)} tags: expected at most {_TAGS_MAX - _OWN_TAGS} (AWS allows {_TAGS_MAX} "
            f"per resource and the program adds {_OWN_TAGS})"
        )
    return dict(raw)


# --- Rules across settings --------------------------------------------------------------------------


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


def _database_rules(
    database: DatabaseConfig, replicas: ReplicasSettings, proxy: ProxySettings, c: _Checker, problems: list[str]
) -> None:
    db = f"{NAMESPACE}:database"
    cls = database.instance_class
    if cls not in sizing.INSTANCE_MEMORY_GIB or not c.ok("maxConnections", "workMemKb"):
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
    work_mem_kb = database.work_mem_kb or sizing.DEFAULT_WORK_MEM_KB
    # The same line as the pack's rds-memory-budget: a certain overcommit (the design point, or one hash
    # node) is refused; "every connection sorts at once" is a bound, not a forecast (sizing.MemoryCheck).
    check = sizing.memory_check(
        cls, max_connections=effective, work_mem_kb=work_mem_kb,
        proxy_max_connections_percent=proxy.max_connections_percent,
    )
    if check.certain_overcommit():
        problems.append(
            f"{db}.workMemKb = {database.work_mem_kb} / maxConnections = {effective} is not accepted on {cls}: "
            f"{check.active_connections} of the {check.open_connections} connections the proxy may open sorting at "
            f"once with work_mem, plus shared_buffers, need {check.design_point_bytes / sizing.GIB:.1f} GiB "
            f"(one hash node {check.single_operation_bytes / sizing.GIB:.1f} GiB) of "
            f"{check.memory_bytes // sizing.GIB} GiB of memory: OOM in an ordinary busy hour; lower workMemKb"
        )
    rep_cls = replicas.instance_class or cls
    if replicas.count and rep_cls in sizing.INSTANCE_MEMORY_GIB and database.max_connections is None:
        # A hot standby refuses to start when its max_connections is below the primary's.
        rep_default = sizing.default_max_connections(rep_cls)
        if rep_default < default:
            problems.append(
                f"{NAMESPACE}:replicas.instanceClass = {rep_cls!r} is not accepted: its default max_connections "
                f"({rep_default}) is below the primary's ({default}) and a PostgreSQL standby will not start; "
                "use a class with at least as much memory as the primary"
            )
    if replicas.count and database.max_connections is not None and rep_cls != cls and rep_cls in sizing.INSTANCE_MEMORY_GIB:
        rep_check = sizing.memory_check(rep_cls, max_connections=database.max_connections, work_mem_kb=work_mem_kb)
        if rep_check.certain_overcommit():  # readers connect directly: every allowed connection can be open
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

