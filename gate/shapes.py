"""The three shapes in which the Pulumi CLI hands a stack to a policy pack.

* ``inputs``: what ``Analyze`` gets, one resource at a time: the inputs after the provider's
  Check (auto-names and schema defaults filled in, :mod:`gate.provider_check`), values computed
  by the provider absent, references to other new resources unknown.  ``AnalyzeStack`` gets the
  same inputs.
* ``planned``: ``AnalyzeStack`` on a new stack (a first preview): every resource's planned
  outputs, that is its checked inputs plus every value the provider computes (ids, ARNs,
  endpoints) as unknown.  ``Analyze`` gets the checked inputs as above.
* ``deployed``: ``AnalyzeStack`` on a deployed stack (a preview or ``up`` after a refresh): known
  ids, ARNs and names, and each security group's ``ingress``/``egress`` lists refreshed from AWS,
  so they also hold the rules declared as separate rule resources.  ``Analyze`` gets the checked
  inputs, with references to the existing resources known.

A policy's verdict must not depend on the shape.  :func:`shaped_runs` turns one program run
(``run_program(..., provider_check=True)``, computed values unknown except for ``deployed``) into
the run whose resources ``Analyze`` sees and the run ``AnalyzeStack`` sees.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from google.protobuf import json_format, struct_pb2
from pulumi.runtime import rpc

from gate.fakes import fake_outputs
from gate.program import UNKNOWN, ProgramRun, RegisteredResource, Secret
from gate.provider_check import checked_inputs

Shape = Literal["inputs", "planned", "deployed"]
SHAPES: tuple[Shape, ...] = ("inputs", "planned", "deployed")

_SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
_VPC_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
_VPC_EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
_SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"


@dataclass(frozen=True)
class ShapedRuns:
    """One program in one shape: the resources as ``Analyze`` sees them and as ``AnalyzeStack`` does."""

    shape: Shape
    analyze: ProgramRun
    stack: ProgramRun


def needs_known_outputs(shape: Shape) -> bool:
    """Whether the program must run with known computed values (a deployed stack) for *shape*."""
    _validate(shape)
    return shape == "deployed"


def shaped_runs(run: ProgramRun, shape: Shape) -> ShapedRuns:
    """*run* (from ``run_program(provider_check=True)``) as the CLI would send it in *shape*."""
    _validate(shape)
    analyze = _with_properties(run, {r.urn: _checked(r) for r in run.resources})
    if shape == "inputs":
        return ShapedRuns(shape, analyze, analyze)
    if shape == "planned":
        return ShapedRuns(shape, analyze, _with_properties(run, {r.urn: _planned(r) for r in run.resources}))
    refreshed = _refreshed_rule_lists(run)
    deployed = {r.urn: {**_wire(r.outputs), **refreshed.get(r.urn, {})} for r in run.resources}
    return ShapedRuns(shape, analyze, _with_properties(run, deployed))


def _validate(shape: str) -> None:
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; the shapes are {', '.join(SHAPES)}")


def _checked(resource: RegisteredResource) -> dict[str, Any]:
    return checked_inputs(resource.type, resource.name, json_format.MessageToDict(resource.properties))


def _planned(resource: RegisteredResource) -> dict[str, Any]:
    """Checked inputs, and every property the provider computes as unknown."""
    planned = _checked(resource)
    # Only the keys matter (the values become unknown), so any region and account will do.
    _, computed = fake_outputs(resource.type, resource.name, {}, "us-east-1", "123456789012")
    for key in computed:
        planned.setdefault(key, rpc.UNKNOWN)
    return planned


def _wire(value: Any) -> Any:
    """A deserialized value (``UNKNOWN`` / ``Secret`` markers) back in its wire form."""
    if value is UNKNOWN:
        return rpc.UNKNOWN
    if isinstance(value, Secret):
        return {rpc._special_sig_key: rpc._special_secret_sig, "value": _wire(value.value)}
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


def _struct(properties: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(properties)
    return struct


def _with_properties(run: ProgramRun, properties: dict[str, dict[str, Any]]) -> ProgramRun:
    resources = [replace(r, properties=_struct(properties[r.urn])) for r in run.resources]
    return replace(run, resources=resources)


# --- Refreshed security-group rule lists --------------------------------------------------------------


def _strings(*values: Any) -> list[str]:
    out: list[str] = []
    for value in values:
        items = value if isinstance(value, list) else [value]
        out.extend(v for v in items if isinstance(v, str) and v)
    return out


def _ports(protocol: Any, props: dict[str, Any]) -> tuple[Any, Any]:
    if str(protocol) in ("-1", "all"):
        return 0, 0  # AWS reports all-traffic rules with ports 0..0
    return props.get("fromPort"), props.get("toPort")


def _block(group_id: str, protocol: Any, props: dict[str, Any], cidrs: list[str], cidrs_v6: list[str],
           prefix_lists: list[str], source: Any) -> dict[str, Any]:
    """One rule as it appears in the refreshed ``ingress``/``egress`` list of a security group."""
    from_port, to_port = _ports(protocol, props)
    return {
        "protocol": "-1" if str(protocol) == "all" else protocol,
        "fromPort": from_port,
        "toPort": to_port,
        "cidrBlocks": cidrs,
        "ipv6CidrBlocks": cidrs_v6,
        "prefixListIds": prefix_lists,
        "securityGroups": _strings(source) if source != group_id else [],
        "self": source == group_id or bool(props.get("self")),
        "description": props.get("description") or "",
    }


def _refreshed_rule_lists(run: ProgramRun) -> dict[str, dict[str, list[Any]]]:
    """Security group URN -> its ``ingress`` and ``egress`` after a refresh: inline blocks and rule resources."""
    groups = {r.outputs.get("id"): r for r in run.resources if r.type == _SECURITY_GROUP and isinstance(r.outputs.get("id"), str)}
    lists: dict[str, dict[str, list[Any]]] = {
        sg.urn: {"ingress": list(_wire(sg.outputs.get("ingress") or [])), "egress": list(_wire(sg.outputs.get("egress") or []))}
        for sg in groups.values()
    }
    # Rule resources register concurrently; list them by URN so a run always gives the same order.
    for rule in sorted(run.resources, key=lambda r: r.urn):
        props = rule.outputs
        group = groups.get(props.get("securityGroupId"))
        if group is None:
            continue
        group_id = str(props.get("securityGroupId"))
        if rule.type in (_VPC_INGRESS_RULE, _VPC_EGRESS_RULE):
            direction = "ingress" if rule.type == _VPC_INGRESS_RULE else "egress"
            block = _block(group_id, props.get("ipProtocol"), props, _strings(props.get("cidrIpv4")),
                           _strings(props.get("cidrIpv6")), _strings(props.get("prefixListId")),
                           props.get("referencedSecurityGroupId"))
        elif rule.type == _SG_RULE and props.get("type") in ("ingress", "egress"):
            direction = str(props.get("type"))
            block = _block(group_id, props.get("protocol"), props, _strings(props.get("cidrBlocks")),
                           _strings(props.get("ipv6CidrBlocks")), _strings(props.get("prefixListIds")),
                           props.get("sourceSecurityGroupId"))
        else:
            continue
        lists[group.urn][direction].append(block)
    return lists
