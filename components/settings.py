"""Every setting of resilient-rds, declared once.

A :class:`Setting` holds one setting's name (its stack key; the Python attribute
is the same name in snake_case, so ``connectionBorrowTimeoutS`` is
``connection_borrow_timeout_s`` and the package schema, which camel-cases the
attribute, shows the stack key again), its type, default, accepted range or
values and description.  From this table come:

* the stack-config reader and its messages (:mod:`components.config`),
* the component's typed args and resolved settings (:mod:`components.args`,
  generated: ``python -m components.settings``), whose docstrings are the
  package schema's descriptions,
* the README's configuration table (same command; ``tests/components/
  test_settings.py`` fails when either drifts).

Cross-setting rules (prod needs Multi-AZ, the connection budget must fit, ...)
live in :mod:`components.config`, next to the reader.  Durations carry their
unit in the name (``S`` / ``Ms`` / ``Days``; ``_s`` / ``_ms`` / ``_days`` in Python).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

NAMESPACE = "resilient-rds"
ENVIRONMENTS = ("dev", "staging", "prod")

Kind = Literal["bool", "int", "number", "string", "strings", "tags"]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: The default of a setting that has none: leaving it out is an error.
REQUIRED: Any = _Required()

IDENTIFIER_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
PG_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
VPC_ID_RE = re.compile(r"^vpc-[0-9a-f]{8}([0-9a-f]{9})?$")
SUBNET_ID_RE = re.compile(r"^subnet-[0-9a-f]{8}([0-9a-f]{9})?$")
SG_ID_RE = re.compile(r"^sg-[0-9a-f]{8}([0-9a-f]{9})?$")
SNS_ARN_RE = re.compile(r"^arn:aws(-[a-z]+)*:sns:[a-z]{2}(-[a-z]+)+-\d:\d{12}:[A-Za-z0-9_-]{1,256}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
WINDOW_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")
MAINT_WINDOW_RE = re.compile(
    r"^(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d-(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d$"
)
PG_NAME_TEXT = "expected a letter then letters, digits or '_', at most 63"


@cache
def snake_case(key: str) -> str:
    """``connectionBorrowTimeoutS`` -> ``connection_borrow_timeout_s`` (the inverse of Pulumi's camel_case)."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()


def camel_case(attr: str) -> str:
    """What ``pulumi.provider.experimental`` names a Python attribute in the package schema."""
    first, *rest = attr.split("_")
    return first + "".join(word[:1].upper() + word[1:] for word in rest)


@dataclass(frozen=True)
class Setting:
    """One setting: its stack key, type, default, accepted values and description."""

    key: str
    kind: Kind
    #: A value, None (unset: the description says what that means) or REQUIRED.
    default: Any
    description: str
    low: float | None = None
    high: float | None = None
    #: The unit of a number ("seconds", "GiB"); part of the range message.
    unit: str = ""
    #: A note after the range in messages, e.g. "the RDS Proxy maximum is 300".
    note: str = ""
    #: The only accepted values (all of them are listed in messages).
    choices: tuple[Any, ...] = ()
    pattern: re.Pattern[str] | None = None
    #: What a string must look like, in words (messages and README).
    accepted: str = ""
    max_length: int | None = None
    #: README text for the default when it is not a plain value ("the stack name").
    default_text: str = ""
    #: The component may receive a value computed by another resource (``pulumi.Input``).
    computed_ok: bool = False
    #: An older stack key of this setting: named in the "renamed" message.
    renamed_from: str = ""

    @property
    def attr(self) -> str:
        return snake_case(self.key)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def expected(self) -> str:
        """What is accepted, as the tail of "is not accepted: ..." messages."""
        if self.choices:
            unit = f" {self.unit}" if self.unit else ""
            text = f"expected one of {', '.join(str(c) for c in self.choices)}{unit}"
        elif self.kind in ("int", "number") and self.low is not None and self.high is not None:
            what = "a whole number" if self.kind == "int" else "a number"
            low, high = _num(self.low), _num(self.high)
            unit = f" {self.unit}" if self.unit else ""
            text = f"expected {what} from {low} to {high}{unit}"
        elif self.kind == "bool":
            text = "expected true or false"
        elif self.kind == "strings":
            text = f"expected a list of {self.accepted}" if self.accepted else "expected a list of strings"
        elif self.kind == "tags":
            text = "expected a mapping of string keys to string values"
        else:
            text = self.accepted or "expected a string"
        return f"{text} ({self.note})" if self.note else text

    def readme_type(self) -> str:
        base = {"bool": "bool", "int": "int", "number": "number", "string": "string", "strings": "list", "tags": "map"}
        unit = {"seconds": " s", "ms": " ms", "days": " days", "GiB": " GiB", "MB": " MB", "kB": " kB"}
        return base[self.kind] + unit.get(self.unit, "")

    def readme_default(self) -> str:
        if self.default_text:
            return self.default_text
        if self.required:
            return "required"
        if self.default is None:
            return "unset"
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        if isinstance(self.default, list | tuple | dict) and not self.default:
            return "[]" if not isinstance(self.default, dict) else "{}"
        return str(self.default)

    def readme_accepted(self) -> str:
        if self.choices:
            return ", ".join(str(c) for c in self.choices)
        if self.kind in ("int", "number") and self.low is not None and self.high is not None:
            return f"{_num(self.low)}-{_num(self.high)}"
        if self.kind == "strings":
            return self.accepted
        return self.accepted.removeprefix("expected ")


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and not isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Section:
    """A group of settings: one ``resilient-rds:<key>`` mapping, one args class of the component."""

    key: str
    description: str
    settings: tuple[Setting, ...]
    #: The validated values are not a generated ``<Section>Settings`` but this class (same fields).
    resolved_elsewhere: bool = False

    @property
    def attr(self) -> str:
        return snake_case(self.key)

    @property
    def class_stem(self) -> str:
        return self.key[0].upper() + self.key[1:]

    def setting(self, key: str) -> Setting:
        for setting in self.settings:
            if setting.key == key:
                return setting
        raise KeyError(f"{self.key}.{key}")


S = Setting

#: Settings directly under the namespace (``resilient-rds:environment``).
TOP_LEVEL: tuple[Setting, ...] = (
    S("environment", "string", None, "Deployment environment; prod requires multiAz, deletionProtection, a final "
      "snapshot and backups of 7 days or more.", choices=ENVIRONMENTS, default_text="the stack name"),
    S("name", "string", "orders", "Prefix of every physical name (`orders-prod-...`).", pattern=IDENTIFIER_RE,
      max_length=20, accepted="expected lower-case letters, digits and single hyphens, starting with a letter, at most "
      "20 characters (it prefixes the RDS identifiers)"),
    S("tags", "tags", {}, "Tags added to every resource; keys may not start with `aws:`."),
)

SECTIONS: tuple[Section, ...] = (
    Section("network", "Where the database lives: an existing VPC (vpcId, subnetIds) or a new private one (createVpc).", (
        S("createVpc", "bool", False, "Create a VPC with private subnets only (no internet gateway)."),
        S("vpcCidr", "string", None, "CIDR block of the created VPC; only with createVpc.", default_text="10.20.0.0/16",
          accepted="expected an IPv4 CIDR block with a prefix from /16 to /24, e.g. '10.20.0.0/16'"),
        S("availabilityZoneCount", "int", 2, "Private subnets of the created VPC, one per availability zone.",
          low=2, high=3, note="private subnets, one per AZ"),
        S("vpcId", "string", None, "The existing VPC; required unless createVpc.", pattern=VPC_ID_RE,
          accepted="expected a VPC id like 'vpc-0a1b2c3d4e5f67890'", computed_ok=True),
        S("subnetIds", "strings", (), "At least 2 private subnets of vpcId in different availability zones.",
          pattern=SUBNET_ID_RE, accepted="subnet ids like 'subnet-0a1b2c3d4e5f67890'", computed_ok=True),
        S("appSecurityGroupIds", "strings", (), "Security groups of the application tier (allowed to the proxy and the "
          "replicas); empty creates one. Not with createVpc.", pattern=SG_ID_RE,
          accepted="security group ids like 'sg-0a1b2c3d4e5f67890'", computed_ok=True,
          default_text="[] (an app group is created)"),
    )),
    Section("database", "The primary RDS for PostgreSQL instance.", (
        S("engineVersion", "string", "15", "PostgreSQL version, major only (recommended with auto minor upgrades) or "
          "15.x; the parameter-group family postgres15 is derived from it.",
          accepted="expected PostgreSQL 15 or 15.x, e.g. '15' or '15.8' (the parameter-group family postgres15 is "
          "derived from it)"),
        S("instanceClass", "string", REQUIRED, "Instance class of the primary; sizes the connection budget.",
          accepted="expected an RDS for PostgreSQL class of the t3, t4g, m5, m6g, m6i, m7g, r5, r6g, r6i or r7g "
          "families, e.g. 'db.t4g.medium', 'db.r6g.large'"),
        S("allocatedStorage", "int", 20, "Allocated gp3 storage.", low=20, high=65536, unit="GiB"),
        S("maxAllocatedStorage", "int", 0, "Storage autoscaling ceiling; 0 turns autoscaling off, else at least "
          "10 % above allocatedStorage.", low=0, high=65536, unit="GiB", note="0 turns storage autoscaling off"),
        S("storageType", "string", "gp3", "Storage type.", pattern=re.compile(r"^gp3$"), accepted="expected 'gp3'",
          note="baseline 3000 IOPS / 125 MiB/s, no burst credits"),
        S("multiAz", "bool", True, "A synchronous standby in a second availability zone."),
        S("dbName", "string", "orders", "The database created on the instance.", pattern=PG_NAME_RE,
          accepted=PG_NAME_TEXT),
        S("masterUsername", "string", "orders_admin", "Master user (RDS Proxy logs in as it); not admin, rdsadmin, "
          "rdsrepladmin, rds_superuser, rds_replication, public or `pg_*`.", pattern=PG_NAME_RE, accepted=PG_NAME_TEXT),
        S("readerUsername", "string", "orders_reader", "The IAM-authenticated (rds_iam) user of the direct read path "
          "to the replicas; same rules as masterUsername and different from it.", pattern=PG_NAME_RE,
          accepted=PG_NAME_TEXT),
        S("backupRetentionDays", "int", 7, "Automated backups kept.", low=1, high=35, unit="days",
          note="read replicas and point-in-time recovery need backups"),
        S("backupWindow", "string", "03:00-04:00", "Daily backup window in UTC.", pattern=WINDOW_RE,
          accepted="expected 'hh:mm-hh:mm' in UTC, e.g. '03:00-04:00'"),
        S("maintenanceWindow", "string", "mon:04:30-mon:05:30", "Weekly maintenance window in UTC.",
          pattern=MAINT_WINDOW_RE,
          accepted="expected 'ddd:hh:mm-ddd:hh:mm' in UTC, lower-case days, e.g. 'mon:04:30-mon:05:30'"),
        S("deletionProtection", "bool", True, "Refuse to delete the instance."),
        S("skipFinalSnapshot", "bool", False, "Delete without a final snapshot."),
        S("performanceInsightsEnabled", "bool", True, "Performance Insights (not offered on micro/small classes)."),
        S("performanceInsightsRetentionDays", "int", 7, "Performance Insights retention: 7, 31 x n (n <= 23) or 731.",
          low=7, high=731, unit="days"),
        S("monitoringIntervalS", "int", 60, "Enhanced monitoring interval.", choices=(1, 5, 10, 15, 30, 60),
          unit="seconds", note="enhanced monitoring", renamed_from="monitoringInterval"),
        S("maxConnections", "int", None, "max_connections, only to raise the class default and only if the memory "
          "check passes (a pending-reboot parameter); unset keeps the RDS default.", low=1, high=262143,
          default_text="unset (RDS default)"),
        S("workMemKb", "int", None, "work_mem; shared_buffers + work_mem x the connections busy at the design point "
          "(20 % of those the proxy may open) must fit in memory.",
          low=64, high=2097151, unit="kB", default_text="unset (4 MB)"),
        S("idleInTransactionSessionTimeoutMs", "int", 300000, "Ends sessions idle in a transaction this long.",
          low=1000, high=86400000, unit="ms", note="1 s to 24 h"),
    )),
    Section("replicas", "Read replicas, reached directly by readers with IAM authentication.", (
        S("count", "int", 0, "Number of read replicas.", low=0, high=5, unit="read replicas"),
        S("instanceClass", "string", None, "Class of the replicas; its default max_connections must be at least the "
          "primary's.", default_text="the primary's class",
          accepted="expected an RDS for PostgreSQL class of the t3, t4g, m5, m6g, m6i, m7g, r5, r6g, r6i or r7g "
          "families, e.g. 'db.t4g.medium', 'db.r6g.large'"),
    )),
    Section("workload", "The clients: the connection budget's inputs.", (
        S("lambdaConcurrency", "int", 0, "Concurrent Lambda executions, one connection each.", low=0, high=10000,
          unit="concurrent executions"),
        S("ecsTasks", "int", 0, "ECS tasks with a connection pool each.", low=0, high=5000, unit="tasks"),
        S("ecsPoolSize", "int", 0, "Pool size per ECS task; at least 1 when ecsTasks > 0.", low=0, high=1000,
          unit="connections per task"),
        S("otherClients", "int", 0, "Other client connections (jobs, consoles).", low=0, high=100000,
          unit="connections"),
        S("activeRatio", "number", 0.2, "Share of time a client connection is in a transaction.", low=0.01, high=1.0,
          note="time a client is in a transaction"),
    ), resolved_elsewhere=True),  # components.sizing.Workload
    Section("proxy", "RDS Proxy in front of the primary.", (
        S("maxConnectionsPercent", "int", 90, "Share of max_connections the proxy may open; the budget must fit.",
          low=1, high=100, unit="percent of max_connections"),
        S("maxIdleConnectionsPercent", "int", 50, "Share of max_connections the proxy keeps idle; at most "
          "maxConnectionsPercent.", low=0, high=100, unit="percent of max_connections"),
        S("connectionBorrowTimeoutS", "int", 120, "How long a client waits for a database connection.", low=1,
          high=300, unit="seconds", note="the RDS Proxy maximum is 300", renamed_from="connectionBorrowTimeout"),
        S("idleClientTimeoutS", "int", 1800, "Idle client connections are closed after this.", low=1, high=28800,
          unit="seconds", note="up to 8 hours", renamed_from="idleClientTimeout"),
        S("initQuery", "string", None, "SQL run on each new database connection (`sessionPinningFilters` is "
          "rejected: MySQL-only).", max_length=4000, accepted="expected at most 4000 characters",
          default_text="none"),
    )),
    Section("alarms", "CloudWatch alarms, sized from the connection budget.", (
        S("snsTopicArn", "string", None, "An existing topic the alarms publish to; not together with email.",
          pattern=SNS_ARN_RE, default_text="none (a topic is created)",
          accepted="expected an SNS topic ARN like 'arn:aws:sns:us-east-1:123456789012:ops-alerts'"),
        S("email", "string", None, "Subscribed to the created topic.", pattern=EMAIL_RE, default_text="none",
          accepted="expected an e-mail address like 'oncall@example.com'"),
        S("connectionsPercent", "int", 80, "Connections alarm, in percent of max_connections.", low=1, high=99,
          unit="percent of max_connections"),
        S("replicaLagS", "int", 60, "Replica lag alarm threshold.", low=1, high=86400, unit="seconds",
          renamed_from="replicaLagSeconds"),
        S("cpuPercent", "int", 80, "CPU alarm threshold.", low=1, high=100, unit="percent"),
        S("freeableMemoryPercent", "int", 10, "Freeable memory alarm, in percent of instance memory.", low=1, high=90,
          unit="percent of instance memory"),
        S("freeStoragePercent", "int", 10, "Free storage alarm, in percent of allocated storage.", low=1, high=90,
          unit="percent of allocated storage"),
        S("borrowLatencyMs", "int", 100, "Proxy borrow latency alarm; below connectionBorrowTimeoutS.", low=1,
          high=300000, unit="ms"),
    )),
    Section("lambdaFunction", "The order-lookup Lambda (dbclient.lambda_handler) next to the proxy.", (
        S("enabled", "bool", False, "Deploy the order-lookup Lambda; needs workload.lambdaConcurrency >= 1 and "
          "layerArchive."),
        S("memoryMb", "int", 256, "Function memory.", low=128, high=10240, unit="MB"),
        S("timeoutS", "int", 10, "Function timeout.", low=1, high=900, unit="seconds",
          renamed_from="timeoutSeconds"),
        S("layerArchive", "string", "build/lambda-layer.zip", "The psycopg layer zip built by `make layer`, relative "
          "to the project directory; must exist when enabled.", accepted="expected a path to a .zip file"),
    )),
)

#: Every stack key of the namespace: the top-level settings and the sections.
TOP_LEVEL_KEYS: tuple[str, ...] = (*(s.key for s in TOP_LEVEL), *(s.key for s in SECTIONS))


def section(key: str) -> Section:
    for sec in SECTIONS:
        if sec.key == key:
            return sec
    raise KeyError(key)


def top_level(key: str) -> Setting:
    for setting in TOP_LEVEL:
        if setting.key == key:
            return setting
    raise KeyError(key)


def all_settings() -> Iterator[tuple[str, Setting]]:
    """``(dotted stack key, setting)`` for every setting, in declaration order."""
    for setting in TOP_LEVEL[:2]:
        yield setting.key, setting
    for sec in SECTIONS:
        for setting in sec.settings:
            yield f"{sec.key}.{setting.key}", setting
    yield TOP_LEVEL[2].key, TOP_LEVEL[2]


# --- Generated views: the README table and components/args.py -------------------------------------

README_BEGIN = "<!-- BEGIN configuration table (generated by `python -m components.settings`; do not edit) -->"
README_END = "<!-- END configuration table -->"


def readme_table() -> str:
    rows = ["| key | type | default | accepted | description |", "| --- | --- | --- | --- | --- |"]
    for dotted, setting in all_settings():
        cells = [f"`{dotted}`", setting.readme_type(), setting.readme_default(), setting.readme_accepted(),
                 setting.description]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)


_PY_TYPES = {"bool": "bool", "int": "int", "number": "float", "string": "str", "strings": "list[str]",
             "tags": "dict[str, str]"}


def _args_type(setting: Setting) -> str:
    if setting.computed_ok:
        return "list[pulumi.Input[str]]" if setting.kind == "strings" else "pulumi.Input[str]"
    return _PY_TYPES[setting.kind]


def _resolved_type(setting: Setting) -> str:
    if setting.kind == "strings":
        return "tuple[pulumi.Input[str], ...]" if setting.computed_ok else "tuple[str, ...]"
    base = "pulumi.Input[str]" if setting.computed_ok else _PY_TYPES[setting.kind]
    return f"{base} | None" if setting.default is None else base


def _doc(text: str) -> str:
    return '"""' + text.replace("\\", "\\\\").replace('"""', "'''") + '"""'


def _default_note(setting: Setting) -> str:
    if setting.required:
        return " Required."
    return f" Default: {setting.readme_default()}."


def args_module() -> str:
    """The source of :mod:`components.args` (consumer args and resolved settings)."""
    out = [
        '"""Typed args of ResilientPostgres and the resolved settings, generated from components/settings.py.',
        "",
        "Do not edit: run ``python -m components.settings``.  ``<Section>Args`` are what a consumer",
        "passes (every field optional unless required; None means the default); ``<Section>Settings``",
        "are the validated values with defaults applied, produced by :func:`components.config.validate`.",
        "No ``from __future__ import annotations`` here: the package schema is inferred from these annotations.",
        '"""',
        "",
        "# ruff: noqa: E501",
        "from dataclasses import dataclass",
        "",
        "import pulumi",
    ]
    for sec in SECTIONS:
        out += ["", "", "@dataclass", f"class {sec.class_stem}Args:", f"    {_doc(sec.description)}", ""]
        # Required fields first: a dataclass field without a default cannot follow one with a default.
        ordered = [s for s in sec.settings if s.required] + [s for s in sec.settings if not s.required]
        for setting in ordered:
            typ = _args_type(setting)
            out.append(f"    {setting.attr}: {typ}" if setting.required else f"    {setting.attr}: {typ} | None = None")
            out.append(f"    {_doc(setting.description + _default_note(setting))}")
    for sec in SECTIONS:
        if sec.resolved_elsewhere:
            continue
        out += ["", "", "@dataclass(frozen=True)", f"class {sec.class_stem}Settings:",
                f"    {_doc('Validated ' + sec.key + ' settings, defaults applied.')}", ""]
        for setting in sec.settings:
            out.append(f"    {setting.attr}: {_resolved_type(setting)}")
    required_sections = [sec for sec in SECTIONS if any(s.required for s in sec.settings)]
    optional_sections = [sec for sec in SECTIONS if sec not in required_sections]
    summary = "RDS for PostgreSQL behind RDS Proxy, Multi-AZ, with replicas and alarms sized from the connection budget."
    out += ["", "", "@dataclass", "class ResilientPostgresArgs:", f"    {_doc(summary)}", ""]
    for sec in required_sections:
        out.append(f"    {sec.attr}: {sec.class_stem}Args")
        out.append(f"    {_doc(sec.description)}")
    for top in TOP_LEVEL[:2]:
        out.append(f"    {top.attr}: str | None = None")
        out.append(f"    {_doc(top.description + _default_note(top))}")
    for sec in optional_sections:
        out.append(f"    {sec.attr}: {sec.class_stem}Args | None = None")
        out.append(f"    {_doc(sec.description)}")
    tags = TOP_LEVEL[2]
    out.append(f"    {tags.attr}: dict[str, str] | None = None")
    out.append(f"    {_doc(tags.description)}")
    out.append("")
    return "\n".join(out)


ROOT = Path(__file__).resolve().parent.parent
ARGS_PATH = Path(__file__).resolve().parent / "args.py"
README_PATH = ROOT / "README.md"


def readme_with_table(readme: str) -> str:
    """*readme* with the text between the begin/end markers replaced by :func:`readme_table`."""
    start = readme.index(README_BEGIN) + len(README_BEGIN)
    end = readme.index(README_END)
    return readme[:start] + "\n" + readme_table() + "\n" + readme[end:]


def main() -> int:
    ARGS_PATH.write_text(args_module())
    if README_PATH.exists():
        README_PATH.write_text(readme_with_table(README_PATH.read_text()))
    print(f"wrote {ARGS_PATH.relative_to(ROOT)} and the configuration table of {README_PATH.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
