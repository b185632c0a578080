"""Parameter groups: settings AWS rejects at deploy time, and settings that exhaust memory or connections.

All memory and connection arithmetic comes from :mod:`.rds_facts`, the same facts the program
sizes the instance, the proxy and the alarms with (``components/sizing.py`` imports them).
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import PolicyConfigSchema, ReportViolation, Severity

from . import rds_facts
from .config_schemas import string_list_schema
from .policy_factory import Config, Props, resource_policy, stack_policy
from .property_values import as_str, is_unknown
from .rds_lookups import is_replica, parameter_group_of, parameters_of, proxy_links
from .resource_types import INSTANCE, PARAMETER_GROUP, label
from .stack_index import Res, StackIndex

#: PostgreSQL parameters RDS marks "static": a change needs a reboot, and AWS rejects
#: ``apply_method = "immediate"`` for them ("cannot use immediate apply method for static parameter").
STATIC_POSTGRES_PARAMETERS = frozenset(
    {
        "autovacuum_freeze_max_age",
        "autovacuum_max_workers",
        "autovacuum_multixact_freeze_max_age",
        "cron.database_name",
        "dynamic_shared_memory_type",
        "huge_pages",
        "max_connections",
        "max_files_per_process",
        "max_locks_per_transaction",
        "max_logical_replication_workers",
        "max_pred_locks_per_transaction",
        "max_prepared_transactions",
        "max_replication_slots",
        "max_wal_senders",
        "max_worker_processes",
        "min_dynamic_shared_memory",
        "old_snapshot_threshold",
        "pg_stat_statements.max",
        "rds.logical_replication",
        "rds.rds_superuser_reserved_connections",
        "shared_buffers",
        "shared_preload_libraries",
        "superuser_reserved_connections",
        "track_activity_query_size",
        "track_commit_timestamp",
        "wal_buffers",
    }
)

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
    static = STATIC_POSTGRES_PARAMETERS | {p.lower() for p in config.get("extraStaticParameters") or []}
    for param in props.get("parameters") or []:
        if not isinstance(param, dict) or not isinstance(param.get("name"), str):
            continue
        pname = param["name"].lower()
        method = param.get("applyMethod")
        if pname in static and not is_unknown(method) and (method is None or method == "immediate"):
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


# --- rds-memory-budget ---------------------------------------------------------------------------------


def _check_memory_budget(index: StackIndex, config: Config, report: ReportViolation) -> None:
    limit = float(config["maxMemoryPercent"])
    for inst in index.of_type(INSTANCE):
        cls = _known_class(inst)
        group = parameter_group_of(index, inst)
        if cls is None or group is None:
            continue
        params = parameters_of(group)
        work_mem_param = params.get("work_mem")
        if work_mem_param is None:
            continue
        work_mem = _evaluate(work_mem_param.get("value"), cls)
        if work_mem is None:
            continue
        max_param = params.get("max_connections")
        max_connections = _evaluate(max_param.get("value"), cls) if max_param else None
        if max_param and max_connections is None:
            continue  # unknown or unparseable: nothing to judge against
        shared_param = params.get("shared_buffers")
        shared_pages = _evaluate(shared_param.get("value"), cls) if shared_param else None
        memory = rds_facts.instance_memory_bytes(cls)
        if shared_pages is not None and shared_pages * rds_facts.PAGE_BYTES > memory:
            shared_pages = None  # a unit mistake (rds-parameter-units); judge with the default instead
        check = rds_facts.memory_check(
            cls,
            max_connections=int(max_connections) if max_connections is not None else None,
            work_mem_kb=int(work_mem),
            shared_buffers_pages=int(shared_pages) if shared_pages is not None else None,
        )
        if check.worst_case_bytes > memory * limit / 100:
            gib = rds_facts.GIB
            report(
                f"{label(inst.type, inst.name)} ({cls}, {memory / gib:g} GiB) with {label(group.type, group.name)}: "
                f"work_mem {int(work_mem)} kB x max_connections {check.max_connections} + shared_buffers "
                f"{check.shared_buffers_bytes / gib:.1f} GiB = {check.worst_case_bytes / gib:.1f} GiB, more than "
                f"{limit:g} % of memory. One sort or hash per busy connection is enough to run the instance out "
                "of memory; lower work_mem (default 4096 kB), or lower max_connections and pool through RDS Proxy.",
                inst.urn,
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
    "work_mem x max_connections + shared_buffers fits in the instance memory.",
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
                "description": "Share of instance memory the worst case may use.",
            },
        }
    ),
    remediation="Lower work_mem or max_connections; pool connections through RDS Proxy.",
)


RDS_MAX_CONNECTIONS_WITHOUT_PROXY = stack_policy(
    "rds-max-connections-without-proxy",
    "max_connections is not raised above the RDS default for the class unless an RDS Proxy targets the instance.",
    (INSTANCE,),
    _check_max_connections,
    severity=Severity.HIGH,
    remediation="Add an RDS Proxy target for the instance, or keep the default max_connections.",
)
