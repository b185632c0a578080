"""What an RDS resource is and what it points to: replicas, engines, parameter groups, proxy targets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .property_values import as_list
from .resource_types import CLUSTER, INSTANCE, PARAMETER_GROUP, PROXY, PROXY_TARGET
from .stack_index import Res, StackIndex


def is_replica(props: Mapping[str, Any]) -> bool:
    """An ``aws.rds.Instance`` that replicates another: ``replicateSourceDb`` set (known or not)."""
    source = props.get("replicateSourceDb")
    return source is not None and source != ""


def engine_of(props: Mapping[str, Any]) -> str | None:
    engine = props.get("engine")
    return engine.lower() if isinstance(engine, str) else None


def parameter_group_of(index: StackIndex, instance: Res) -> Res | None:
    """The stack's parameter group an instance uses (None: the RDS default group, or one outside the stack)."""
    return index.resolve(instance, "parameterGroupName", PARAMETER_GROUP, instance.props.get("parameterGroupName"), ("name",))


def parameters_of(group: Res | None) -> dict[str, dict[str, Any]]:
    """Parameter name (lower case) -> ``{"value": ..., "applyMethod": ...}`` of a parameter group."""
    out: dict[str, dict[str, Any]] = {}
    if group is None:
        return out
    for param in as_list(group.props.get("parameters")):
        if isinstance(param, dict) and isinstance(param.get("name"), str):
            out[param["name"].lower()] = param
    return out


@dataclass
class ProxyLink:
    """One ``aws.rds.ProxyTarget``: which proxy it belongs to and which instance or cluster it targets."""

    target: Res
    proxy: Res | None
    instance: Res | None
    cluster: Res | None
    #: True when the target names an instance or cluster that is not (recognisably) in the stack.
    external: bool


def proxy_links(index: StackIndex) -> list[ProxyLink]:
    links = []
    for target in index.of_type(PROXY_TARGET):
        proxy = index.resolve(target, "dbProxyName", PROXY, target.props.get("dbProxyName"), ("name",))
        instance = None
        cluster = None
        inst_ref = target.props.get("dbInstanceIdentifier")
        cluster_ref = target.props.get("dbClusterIdentifier")
        if inst_ref is not None:
            instance = index.resolve(target, "dbInstanceIdentifier", INSTANCE, inst_ref, ("identifier", "id"))
        if cluster_ref is not None:
            cluster = index.resolve(target, "dbClusterIdentifier", CLUSTER, cluster_ref, ("clusterIdentifier", "id"))
        external = (inst_ref is not None and instance is None) or (cluster_ref is not None and cluster is None)
        links.append(ProxyLink(target, proxy, instance, cluster, external))
    return links


def proxy_of(index: StackIndex, res: Res) -> Res | None:
    """The proxy a target group / endpoint / target belongs to (via ``dbProxyName``)."""
    return index.resolve(res, "dbProxyName", PROXY, res.props.get("dbProxyName"), ("name",))
