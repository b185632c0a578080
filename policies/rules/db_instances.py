"""RDS instances as the database rules judge them: replication source, Region, engine major, effective parameters.

Every answer is None when the stack cannot tell (a value unknown during a preview, a source outside
the stack): the rules then stay silent rather than guess.
"""

from __future__ import annotations

import re
from typing import Any

from . import postgres_parameters as pg
from .property_values import as_number, as_str, is_unknown
from .rds_lookups import is_replica, parameter_group_of, parameters_of
from .resource_types import INSTANCE
from .stack_index import Res, StackIndex

#: How far a chain of replicas (replica of a replica) is followed.
MAX_REPLICATION_DEPTH = 5

_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:rds:([a-z0-9-]+):")


def replication_source(index: StackIndex, replica: Res) -> Res | None:
    """The stack's instance a replica replicates (by dependency, identifier or ARN), None if outside the stack."""
    value = replica.props.get("replicateSourceDb")
    return index.resolve(replica, "replicateSourceDb", INSTANCE, value, ("identifier", "arn", "id"))


def primary_of(index: StackIndex, instance: Res) -> Res | None:
    """The instance at the root of *instance*'s replication chain (itself for a primary), None if outside the stack."""
    current = instance
    for _ in range(MAX_REPLICATION_DEPTH):
        if not is_replica(current.props):
            return current
        source = replication_source(index, current)
        if source is None:
            return None
        current = source
    return None


def arn_region(value: Any) -> str | None:
    """The Region of a known RDS ARN (``arn:aws:rds:eu-west-1:...``), else None."""
    if isinstance(value, str):
        match = _ARN_REGION.match(value)
        if match:
            return match.group(1)
    return None


def region_of(res: Res) -> str | None:
    """The Region a resource is managed in when the program says so: its ``region`` property (pulumi-aws v7)
    or its explicit provider's ``region``.  None: the default provider's Region (the stack's)."""
    region = res.props.get("region")
    if isinstance(region, str) and region:
        return region
    return res.provider_region


def engine_major_of(index: StackIndex, instance: Res) -> int | None:
    """The PostgreSQL major version an instance runs: its ``engineVersion``, a replica's from its source."""
    current = instance
    for _ in range(MAX_REPLICATION_DEPTH):
        version = current.props.get("engineVersion")
        if isinstance(version, str) and version:
            return pg.engine_major(version)
        if not is_replica(current.props):
            return None
        source = replication_source(index, current)
        if source is None:
            return None
        current = source
    return None


def engine_version_state(instance: Res) -> str:
    """``"set"``, ``"unknown"`` (computed) or ``"unset"`` for an instance's own engineVersion."""
    version = instance.props.get("engineVersion")
    if is_unknown(version):
        return "unknown"
    return "set" if isinstance(version, str) and version else "unset"


def parameter_value(group: Res | None, name: str) -> Any:
    """The value a stack parameter group sets for *name* (None when it does not set it, or no group)."""
    param = parameters_of(group).get(name)
    return None if param is None else param.get("value")


def number_or_default(value: Any, default: float) -> float | None:
    """A parameter value as a number; *default* when not set; None when unknown or not a plain number."""
    if value is None:
        return default
    if is_unknown(value):
        return None
    return as_number(value)


def group_family_major(group: Res | None) -> tuple[str, int] | None:
    family = as_str(group.props.get("family")) if group is not None else None
    return pg.family_major(family) if family else None


def instance_group(index: StackIndex, instance: Res) -> Res | None:
    return parameter_group_of(index, instance)


def uses_external_group(index: StackIndex, instance: Res) -> bool:
    """The instance names a custom parameter group the stack does not declare: its values are not known here.
    (No name, or an RDS ``default.*`` group, means the family's defaults.)"""
    named = instance.props.get("parameterGroupName")
    if is_unknown(named):
        return instance_group(index, instance) is None
    if not isinstance(named, str) or not named or named.startswith("default."):
        return False
    return instance_group(index, instance) is None
