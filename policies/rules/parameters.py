"""Parameter groups: names and values AWS rejects at deploy time, settings that switch server-side guards
off (TLS, idle transactions), and settings that exhaust memory or connections.

Every parameter is judged at its effective value: what the group sets, else the RDS default for the
family (``work_mem`` 4 MB, ``rds.force_ssl`` 1 from postgres15, ``idle_in_transaction_session_timeout``
24 h), from :mod:`.postgres_parameters`.  All memory and connection arithmetic comes from
:mod:`.rds_facts`, the same facts the program sizes the instance, the proxy and the alarms with.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ReportViolation, Severity

from . import postgres_parameters as pg
from . import rds_facts
from .config_schemas import string_list_schema
from .db_instances import (
    engine_major_of,
    engine_version_state,
    group_family_major,
    instance_group,
    parameter_value,
    primary_of,
    uses_external_group,
)
from .policy_factory import Config, Props, resource_policy, stack_policy
from .property_values import as_number, as_str, is_unknown
from .rds_lookups import engine_of, is_replica, parameter_group_of, parameters_of, proxy_links, proxy_of
from .resource_types import INSTANCE, PARAMETER_GROUP, PROXY_TARGET_GROUP, label
from .stack_index import Res, StackIndex

#: Parameters expressed in 8 kB pages, with the RDS default and the share of memory above which
#: the value is certainly a unit mistake.
PAGE_PARAMETERS = {
    "shared_buffers": ("{DBInstanceClassMemory/32768}", "maxSharedBuffersPercent"),
    "effective_cache_size": ("{DBInstanceClassMemory/16384}", "maxEffectiveCacheSizePercent"),
}

#: Used to judge formulas such as ``{DBInstanceClassMemory/4}`` when no instance of the stack uses the
#: group: the ratio to instance memory does not depend on the class.
_REFERENCE_CLASS = "db.r6g.large"


def _is_postgres_family(family: Any) -> bool:
    return isinstance(family, str) and ("postgres" in family.lower())


def _known_class(instance: Res) -> str | None:
    cls = as_str(instance.props.get("instanceClass"))
    if cls is None:
        return None
    try:
        rds_facts.instance_memory_bytes(cls)
    except rds_facts.UnknownInstanceClass:
        return None
    return cls


def _evaluate(value: Any, instance_class: str) -> float | None:
    """A parameter value for a class, None when unknown or not evaluable."""
    if value is None or is_unknown(value):
        return None
    try:
        return rds_facts.evaluate_parameter_value(str(value), instance_class)
    except rds_facts.FormulaError:
        return None


def _users(index: StackIndex, group: Res) -> list[tuple[Res, str]]:
    """(instance, known class) for the stack's instances that use *group*."""
    out = []
    for inst in index.of_type(INSTANCE):
        pg = parameter_group_of(index, inst)
        if pg is not None and pg.urn == group.urn:
            cls = _known_class(inst)
            if cls is not None:
                out.append((inst, cls))
    return out


# --- rds-static-parameter-pending-reboot -------------------------------------------------------------


def _check_static(type_: str, name: str, props: Props, config: Config, report: ReportViolation) -> None:
    if not _is_postgres_family(props.get("family")):
        return
    extra = {p.lower() for p in config.get("extraStaticParameters") or []}
    for param in props.get("parameters") or []:
        if not isinstance(param, dict) or not isinstance(param.get("name"), str):
            continue
        pname = param["name"].lower()
        method = param.get("applyMethod")
        static = pg.is_static_postgres15_parameter(pname) or pname in extra
        if static and not is_unknown(method) and (method is None or method == "immediate"):
            shown = 'not set (the provider default is "immediate")' if method is None else '"immediate"'
            report(
                f"{label(type_, name)} sets static parameter {pname} with applyMethod {shown}. AWS rejects "
                "immediate for static parameters, so `pulumi up` fails when it modifies the group; set "
                'applyMethod = "pending-reboot" and reboot in a maintenance window.',
                None,
            )


# --- rds-parameter-units ------------------------------------------------------------------------------


def _check_units(index: StackIndex, config: Config, report: ReportViolation) -> None:
    for group in index.of_type(PARAMETER_GROUP):
        if not _is_postgres_family(group.props.get("family")):
            continue
        for pname, value, unit in _malformed_integers(group):
            report(
                f"{group.label} sets {pname} = {value!r}: RDS takes this parameter as a plain integer in {unit} (or an "
                "RDS formula), not with a unit suffix, so AWS rejects the group and `pulumi up` fails; write the "
                f"number of {unit}.",
                group.urn,
            )
        params = parameters_of(group)
        users = _users(index, group)
        for pname, (default, key) in PAGE_PARAMETERS.items():
            param = params.get(pname)
            if param is None:
                continue
            value = param.get("value")
            if value is None or is_unknown(value):
                continue
            classes = [cls for _, cls in users]
            if not classes:
                if "DBInstanceClassMemory" not in str(value):
                    continue  # a plain number can only be judged against an instance class
                classes = [_REFERENCE_CLASS]
            limit = float(config[key])
            try:
                pages = rds_facts.evaluate_parameter_value(str(value), classes[0])
            except rds_facts.FormulaError:
                report(
                    f"{label(group.type, group.name)} sets {pname} = {value!r}, which is neither a number of 8 kB "
                    "pages nor an RDS formula, so AWS rejects the group; write a page count or a formula such as "
                    f"{default}.",
                    group.urn,
                )
                continue
            for cls in dict.fromkeys(classes):
                memory = rds_facts.instance_memory_bytes(cls)
                pages = _evaluate(value, cls) or 0.0
                share = pages * rds_facts.PAGE_BYTES / memory * 100
                if share > limit:
                    report(
                        f"{label(group.type, group.name)} sets {pname} = {value!r}: {pname} is counted in 8 kB pages, "
                        f"so on {cls} this asks for {share:,.0f} % of the instance memory (limit {limit:g} %). "
                        f"PostgreSQL then fails to start or the instance swaps; use the RDS default {default} "
                        "(a formula in bytes must be divided by 8192 more).",
                        group.urn,
                    )
                    break


# --- rds-memory-budget / rds-memory-worst-case --------------------------------------------------------


@dataclass(frozen=True)
class _MemoryCase:
    """One instance's memory settings, effective values, and what rds_facts.memory_check makes of them."""

    instance: Res
    group: Res
    instance_class: str
    work_mem_kb: int
    work_mem_is_default: bool
    proxy_percent: int | None
    check: rds_facts.MemoryCheck


def _proxy_percents(index: StackIndex) -> dict[str, int]:
    """Instance URN -> the MaxConnectionsPercent RDS Proxy may use on it (summed over proxies, at most 100)."""
    totals: dict[str, int] = {}
    for link in proxy_links(index):
        if link.instance is None:
            continue
        ref = link.target.props.get("targetGroupName")
        named = index.resolve(link.target, "targetGroupName", PROXY_TARGET_GROUP, ref, ("name",))
        candidates = [named] if named is not None else []
        if not candidates and link.proxy is not None:
            candidates = [g for g in index.of_type(PROXY_TARGET_GROUP) if proxy_of(index, g) is link.proxy]
        percent = float(rds_facts.DEFAULT_PROXY_MAX_CONNECTIONS_PERCENT)
        for group in candidates[:1]:
            pool = group.props.get("connectionPoolConfig")
            value = as_number(pool.get("maxConnectionsPercent")) if isinstance(pool, dict) else None
            if value is not None:
                percent = value
        urn = link.instance.urn
        totals[urn] = min(100, totals.get(urn, 0) + int(percent))
    return totals


def _memory_cases(index: StackIndex) -> Iterator[_MemoryCase]:
    """Every instance whose parameter group the stack declares, with its effective memory settings."""
    percents = _proxy_percents(index)
    for inst in index.of_type(INSTANCE):
        cls = _known_class(inst)
        group = parameter_group_of(index, inst)
        if cls is None or group is None:
            continue
        params = parameters_of(group)
        work_mem_param = params.get("work_mem")
        work_mem = _evaluate(work_mem_param.get("value"), cls) if work_mem_param else float(pg.WORK_MEM_DEFAULT_KB)
        if work_mem is None:
            continue  # unknown or unparseable (rds-parameter-units reports a malformed value)
        max_param = params.get("max_connections")
        max_connections = _evaluate(max_param.get("value"), cls) if max_param else None
        if max_param and max_connections is None:
            continue
        shared_param = params.get("shared_buffers")
        shared_pages = _evaluate(shared_param.get("value"), cls) if shared_param else None
        if shared_pages is not None and shared_pages * rds_facts.PAGE_BYTES > rds_facts.instance_memory_bytes(cls):
            shared_pages = None  # a unit mistake (rds-parameter-units); judge with the default instead
        hash_param = params.get("hash_mem_multiplier")
        hash_mult = as_number(hash_param.get("value")) if hash_param else None
        percent = None if is_replica(inst.props) else percents.get(inst.urn)
        check = rds_facts.memory_check(
            cls,
            max_connections=int(max_connections) if max_connections is not None else None,
            work_mem_kb=int(work_mem),
            shared_buffers_pages=int(shared_pages) if shared_pages is not None else None,
            proxy_max_connections_percent=max(1, percent) if percent is not None else None,
            hash_mem_multiplier=max(1.0, hash_mult) if hash_mult is not None else rds_facts.DEFAULT_HASH_MEM_MULTIPLIER,
        )
        yield _MemoryCase(inst, group, cls, int(work_mem), work_mem_param is None, percent, check)


def _work_mem_text(case: _MemoryCase) -> str:
    mib = case.work_mem_kb / 1024
    return f"work_mem {mib:g} MB" + (" (not set: PostgreSQL's default)" if case.work_mem_is_default else "")


def _check_memory_budget(index: StackIndex, config: Config, report: ReportViolation) -> None:
    """rds-memory-budget, mandatory: a certain overcommit.

    PostgreSQL takes ``work_mem`` per sort or hash node of a running query, only while it runs and only
    as far as the data needs, so "every connection sorts at once" is a bound, not a forecast.  What the
    stack is certain to meet is the load it is built for (:class:`rds_facts.MemoryCheck`): of the
    connections that can really be open (``max_connections``, or the share ``maxConnectionsPercent``
    lets an RDS Proxy in front open), ``rds_facts.DESIGN_ACTIVE_RATIO`` (the connection budget's 20 %) run
    a query at the same moment with one ``work_mem`` each, next to ``shared_buffers``; and a single hash
    node (``work_mem x hash_mem_multiplier``) must fit next to ``shared_buffers``.  Exceeding either is
    mandatory: the instance runs out of memory in an ordinary busy hour.

    1 GB ``work_mem`` with 1,600 connections on 16 GiB needs 4 + 320 x 1 = 324 GiB at the design point:
    mandatory.  16 MB with the default 1,802 connections needs 4 + 361 x 16 MB = 9.6 GiB: passes, and
    :data:`RDS_MEMORY_WORST_CASE` (advisory) reports its 32 GiB theoretical worst case.
    """
    limit_percent = float(config["maxMemoryPercent"])
    gib = rds_facts.GIB
    for case in _memory_cases(index):
        check = case.check
        limit = int(check.memory_bytes * limit_percent / 100)
        if not check.certain_overcommit(limit):
            continue
        who = (
            f"{check.open_connections} that RDS Proxy may open ({case.proxy_percent} % of max_connections "
            f"{check.max_connections})"
            if case.proxy_percent is not None
            else f"max_connections {check.max_connections}"
        )
        head = (
            f"{case.instance.label} ({case.instance_class}, {check.memory_bytes / gib:g} GiB) with {case.group.label}: "
        )
        if check.design_point_bytes > limit:
            report(
                head + f"{_work_mem_text(case)} x {check.active_connections} connections sorting at once "
                f"({check.active_ratio:.0%} of the {who}) + shared_buffers {check.shared_buffers_bytes / gib:.1f} GiB "
                f"= {check.design_point_bytes / gib:.1f} GiB, more than {limit_percent:g} % of memory. An ordinary "
                "busy hour runs the instance out of memory (the OOM killer restarts PostgreSQL); lower work_mem, or "
                "lower max_connections / the proxy's maxConnectionsPercent.",
                case.instance.urn,
            )
        else:
            report(
                head + f"one hash node may use {_work_mem_text(case)} x hash_mem_multiplier "
                f"{check.hash_mem_multiplier:g}, which with shared_buffers {check.shared_buffers_bytes / gib:.1f} GiB "
                f"needs {check.single_operation_bytes / gib:.1f} GiB, more than {limit_percent:g} % of memory. A "
                "single large query can then run the instance out of memory; lower work_mem or hash_mem_multiplier.",
                case.instance.urn,
            )


def _check_memory_worst_case(index: StackIndex, config: Config, report: ReportViolation) -> None:
    """rds-memory-worst-case, advisory: every connection max_connections allows runs a sort at once.
    Ordinary settings exceed it, so it is a risk to watch, reported only when the design point fits."""
    gib = rds_facts.GIB
    for case in _memory_cases(index):
        check = case.check
        if check.fits or check.certain_overcommit():
            continue  # fits, or rds-memory-budget already reports it
        report(
            f"{case.instance.label} ({case.instance_class}, {check.memory_bytes / gib:g} GiB) with {case.group.label}: "
            f"if all max_connections {check.max_connections} connections sorted at once, {_work_mem_text(case)} each "
            f"+ shared_buffers would need {check.worst_case_bytes / gib:.1f} GiB. Not the expected load, but a "
            "connection storm with heavy queries could exhaust memory; watch FreeableMemory, or lower work_mem for "
            "the roles that do not need it (ALTER ROLE ... SET work_mem).",
            case.instance.urn,
        )


# --- rds-max-connections-without-proxy ---------------------------------------------------------------


def _check_max_connections(index: StackIndex, config: Config, report: ReportViolation) -> None:
    proxied = {link.instance.urn for link in proxy_links(index) if link.instance is not None}
    for inst in index.of_type(INSTANCE):
        if inst.urn in proxied or is_replica(inst.props):
            # A replica cannot be a proxy target, and PostgreSQL requires its max_connections to be
            # at least the primary's: it follows the primary, which this policy judges.
            continue
        cls = _known_class(inst)
        group = parameter_group_of(index, inst)
        if cls is None or group is None:
            continue
        param = parameters_of(group).get("max_connections")
        if param is None:
            continue
        value = _evaluate(param.get("value"), cls)
        default = rds_facts.default_max_connections(cls)
        # RDS truncates formula results to integers, as rds_facts.default_max_connections does.
        if value is not None and int(value) > default:
            report(
                f"{label(inst.type, inst.name)} ({cls}) gets max_connections {int(value)} from "
                f"{label(group.type, group.name)}, above the RDS default {default} for the class, and no RDS Proxy "
                "targets it. Each connection costs memory and CPU, so raising the limit moves the failure from "
                '"too many connections" to out-of-memory; put RDS Proxy in front and keep the default.',
                inst.urn,
            )


RDS_STATIC_PARAMETER_PENDING_REBOOT = resource_policy(
    "rds-static-parameter-pending-reboot",
    "Static PostgreSQL parameters (max_connections, shared_buffers, ...) use applyMethod pending-reboot.",
    (PARAMETER_GROUP,),
    _check_static,
    severity=Severity.HIGH,
    schema=string_list_schema(
        "extraStaticParameters", "More parameter names to treat as static (extensions' parameters, for example)."
    ),
    remediation='Set applyMethod = "pending-reboot" for static parameters.',
)


RDS_PARAMETER_UNITS = stack_policy(
    "rds-parameter-units",
    "shared_buffers and effective_cache_size are given in 8 kB pages and fit in the instance memory.",
    (PARAMETER_GROUP,),
    _check_units,
    severity=Severity.HIGH,
    schema=PolicyConfigSchema(
        properties={
            "maxSharedBuffersPercent": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": 100,
                "default": 75,
                "description": "Largest shared_buffers as a percentage of instance memory.",
            },
            "maxEffectiveCacheSizePercent": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": 100,
                "default": 100,
                "description": "Largest effective_cache_size as a percentage of instance memory.",
            },
        }
    ),
    remediation="Express page parameters as {DBInstanceClassMemory/32768}-style formulas or page counts.",
)


RDS_MEMORY_BUDGET = stack_policy(
    "rds-memory-budget",
    "shared_buffers + work_mem for the connections active at the design point (or one hash node) fits in memory.",
    (INSTANCE,),
    _check_memory_budget,
    severity=Severity.HIGH,
    schema=PolicyConfigSchema(
        properties={
            "maxMemoryPercent": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": 100,
                "default": 100,
                "description": "Share of instance memory the design point may use.",
            },
        }
    ),
    remediation="Lower work_mem, or lower max_connections / the proxy's maxConnectionsPercent.",
)



RDS_MEMORY_WORST_CASE = stack_policy(
    "rds-memory-worst-case",
    "shared_buffers + work_mem x max_connections (every connection sorting at once) fits in memory.",
    (INSTANCE,),
    _check_memory_worst_case,
    severity=Severity.LOW,
    enforcement_level=EnforcementLevel.ADVISORY,
    remediation="Lower work_mem (per role if only some need it), or watch FreeableMemory.",
)


RDS_MAX_CONNECTIONS_WITHOUT_PROXY = stack_policy(
    "rds-max-connections-without-proxy",
    "max_connections is not raised above the RDS default for the class unless an RDS Proxy targets the instance.",
    (INSTANCE,),
    _check_max_connections,
    severity=Severity.HIGH,
    remediation="Add an RDS Proxy target for the instance, or keep the default max_connections.",
)


# --- rds-parameter-name-exists --------------------------------------------------------------------------


def _check_parameter_names(type_: str, name: str, props: Props, config: Config, report: ReportViolation) -> None:
    family = as_str(props.get("family"))
    parsed = pg.family_major(family) if family else None
    if parsed is None or parsed[0] != "postgres":
        return
    extra = {n.lower() for n in config.get("extraParameterNames") or []}
    for param in props.get("parameters") or []:
        if not isinstance(param, dict) or not isinstance(param.get("name"), str):
            continue
        pname = param["name"].strip().lower()
        if pname in extra:
            continue
        if pname in pg.RDS_MANAGED_SETTINGS:
            report(
                f"{label(type_, name)} sets {pname}, which RDS manages itself and does not let a parameter group "
                "change, so AWS rejects the group and `pulumi up` fails; remove it (the port, for example, is the "
                "instance's `port` property).",
                None,
            )
        elif parsed[1] == 15 and not pg.known_postgres15_parameter(pname):
            report(
                f"{label(type_, name)} sets {pname!r}, which is not a parameter of the postgres15 family (a typo, a "
                "name from another PostgreSQL version or engine), so AWS rejects the group and `pulumi up` fails; "
                "use the name as `SHOW ALL` lists it on PostgreSQL 15.",
                None,
            )


RDS_PARAMETER_NAME_EXISTS = resource_policy(
    "rds-parameter-name-exists",
    "Parameter groups set only parameters that exist in their family and that RDS lets a group change.",
    (PARAMETER_GROUP,),
    _check_parameter_names,
    severity=Severity.HIGH,
    schema=string_list_schema(
        "extraParameterNames",
        "More parameter names to accept (an extension parameter RDS added after this pack's list).",
    ),
    remediation="Fix the parameter name, or remove a parameter RDS manages.",
)


# --- rds-parameter-units: integer parameters written with a unit ---------------------------------------

#: Integer parameters RDS takes as a plain number in the unit PostgreSQL documents for them.
INTEGER_PARAMETER_UNITS = {
    "work_mem": "kB",
    "maintenance_work_mem": "kB",
    "autovacuum_work_mem": "kB",
    "logical_decoding_work_mem": "kB",
    "temp_buffers": "8 kB pages",
    "wal_buffers": "8 kB pages",
    "temp_file_limit": "kB",
    "max_wal_size": "MB",
    "min_wal_size": "MB",
    "statement_timeout": "ms",
    "lock_timeout": "ms",
    "idle_in_transaction_session_timeout": "ms",
    "idle_session_timeout": "ms",
    "deadlock_timeout": "ms",
    "log_min_duration_statement": "ms",
    "checkpoint_timeout": "s",
    "tcp_keepalives_idle": "s",
    "tcp_keepalives_interval": "s",
    "tcp_user_timeout": "ms",
    "max_connections": "connections",
}


def _malformed_integers(group: Res) -> Iterator[tuple[str, Any, str]]:
    """(name, value, unit) for integer parameters whose value is neither a number nor an RDS formula."""
    for pname, param in parameters_of(group).items():
        unit = INTEGER_PARAMETER_UNITS.get(pname)
        value = param.get("value")
        if unit is None or value is None or is_unknown(value):
            continue
        try:
            rds_facts.evaluate_parameter_value(str(value), _REFERENCE_CLASS)
        except rds_facts.FormulaError:
            yield pname, value, unit


# --- rds-force-ssl ------------------------------------------------------------------------------------------

_OFF = {"0", "false", "off"}


def _check_force_ssl(index: StackIndex, config: Config, report: ReportViolation) -> None:
    for inst in index.of_type(INSTANCE):
        engine = engine_of((primary_of(index, inst) or inst).props)
        if engine is not None and engine != "postgres":
            continue
        if uses_external_group(index, inst):
            continue  # a custom group declared outside the stack: its setting is not known here
        group = instance_group(index, inst)
        family = group_family_major(group)
        major = family[1] if family is not None else engine_major_of(index, inst)
        value = parameter_value(group, "rds.force_ssl")
        if is_unknown(value):
            continue
        if value is None:
            if major is None or pg.force_ssl_default(major) == 1:
                continue
            where = f"postgres{major}" if group else f"the default group of PostgreSQL {major}"
            source = f"not set, and {where} defaults it to 0"
        elif str(value).strip().lower() in _OFF:
            source = f"set to {value!r} in {group.label if group else 'its parameter group'}"
        else:
            continue
        report(
            f"{inst.label} accepts unencrypted connections: rds.force_ssl is {source}. Any client that reaches "
            "the port (or a misconfigured one with sslmode=disable/prefer) then sends credentials and data in "
            "plain text; set rds.force_ssl = 1 in its parameter group (the default from PostgreSQL 15).",
            inst.urn,
        )


RDS_FORCE_SSL = stack_policy(
    "rds-force-ssl",
    "RDS for PostgreSQL instances require TLS: rds.force_ssl is 1 (set, or the family default from postgres15).",
    (INSTANCE,),
    _check_force_ssl,
    severity=Severity.HIGH,
    remediation="Set rds.force_ssl = 1 in the instance's parameter group.",
)


# --- rds-idle-transaction-timeout ------------------------------------------------------------------------


def _check_idle_transaction_timeout(
    type_: str, name: str, props: Props, config: Config, report: ReportViolation
) -> None:
    for param in props.get("parameters") or []:
        if not isinstance(param, dict) or str(param.get("name", "")).strip().lower() != "idle_in_transaction_session_timeout":
            continue
        value = as_number(param.get("value"))
        if value is not None and value == 0:
            report(
                f"{label(type_, name)} sets idle_in_transaction_session_timeout = 0, which switches the guard off "
                f"(RDS's default is {pg.IDLE_IN_TRANSACTION_SESSION_TIMEOUT_DEFAULT_MS} ms). A client that opens a "
                "transaction and stops (a crashed Lambda, a paused task) then holds its connection, its locks and "
                "the proxy's pinned session forever, and connections pile up; set a bound such as 60000 ms.",
                None,
            )


RDS_IDLE_TRANSACTION_TIMEOUT = resource_policy(
    "rds-idle-transaction-timeout",
    "idle_in_transaction_session_timeout is not switched off (0).",
    (PARAMETER_GROUP,),
    _check_idle_transaction_timeout,
    severity=Severity.HIGH,
    remediation="Set idle_in_transaction_session_timeout to a bound in ms (or leave RDS's 24 h default).",
)


# --- rds-engine-version-family -----------------------------------------------------------------------------


def _check_engine_version_family(index: StackIndex, config: Config, report: ReportViolation) -> None:
    for inst in index.of_type(INSTANCE):
        group = parameter_group_of(index, inst)
        if group is None:
            continue  # the RDS default group always matches
        family = as_str(group.props.get("family"))
        if family is None:
            continue
        root = primary_of(index, inst) or inst
        engine = engine_of(root.props)
        parsed = pg.family_major(family)
        if engine is not None and (parsed is None or parsed[0] != engine):
            if parsed is not None or engine in ("postgres", "aurora-postgresql"):
                report(
                    f"{inst.label} runs engine {engine} but uses {group.label} of family {family}: RDS only attaches "
                    f"a group of the instance's own engine and major version, so `pulumi up` fails; use a "
                    f"{engine}NN family group.",
                    inst.urn,
                )
            continue
        if parsed is None or (engine is not None and engine != "postgres"):
            continue  # versions are judged for RDS for PostgreSQL (aws.rds.Instance), not Aurora members
        if is_replica(inst.props) or _is_set(inst.props.get("snapshotIdentifier")):
            major = engine_major_of(index, inst)  # a replica's or restore's version comes from its source
        else:
            state = engine_version_state(inst)
            if state == "unknown":
                continue
            if state == "unset":
                report(
                    f"{inst.label} does not set engineVersion, so RDS creates it with its current default "
                    f"PostgreSQL version, whose major is not pinned to {parsed[1]}; {group.label} (family "
                    f"{family}) then cannot be attached and `pulumi up` fails. Set engineVersion = \"{parsed[1]}\" "
                    f"(or a full {parsed[1]}.x version).",
                    inst.urn,
                )
                continue
            major = pg.engine_major(str(inst.props.get("engineVersion")))
        if major is not None and major != parsed[1]:
            report(
                f"{inst.label} runs PostgreSQL {major} but uses {group.label} of family {family}: RDS only attaches a "
                f"group of the instance's major version, so `pulumi up` fails; use a postgres{major} group or "
                f"engineVersion {parsed[1]}.",
                inst.urn,
            )


def _is_set(value: Any) -> bool:
    return is_unknown(value) or (value is not None and value != "")


RDS_ENGINE_VERSION_FAMILY = stack_policy(
    "rds-engine-version-family",
    "Each instance's parameter group family matches its engine and major version (omitted engineVersion included).",
    (INSTANCE,),
    _check_engine_version_family,
    severity=Severity.HIGH,
    remediation="Pin engineVersion to the family's major, or use the family of the engine version.",
)
