"""What the engine sends the pack, in each of the three shapes a real ``pulumi`` run produces.

The engine (``pkg/resource/deploy/step_generator.go`` in pulumi/pulumi) sends, per resource, ``Remediate``
and then ``Analyze`` with the resource's *inputs* after the provider's Check; once every resource is done
it sends one ``AnalyzeStack`` with each resource's *outputs* (its state), parents, dependencies and property
dependencies.  What those properties look like depends on the run:

``inputs``
    ``Analyze`` and ``AnalyzeStack`` both get the program's inputs.  (What this gate sent before it modelled
    outputs; kept as a shape of its own because a policy must not depend on which call it runs in.)
``planned`` (the default; what ``pulumi preview`` of a new stack sends)
    ``Analyze`` gets the inputs, with values that come from other resources unknown.  ``AnalyzeStack`` gets
    the planned outputs: the inputs plus every output the provider computes (ids, ARNs, endpoints, and
    properties the program omitted that the provider fills in, e.g. ``storageType``) as *unknown*.
``deployed`` (what ``pulumi preview``/``up`` on a deployed stack sends)
    ``Analyze`` gets the inputs with every reference known.  ``AnalyzeStack`` gets the stored state: known
    ids, ARNs, endpoints and names (``gate/fakes.py``), security groups' ``ingress``/``egress`` lists as a
    refresh reads them back from AWS (inline rules plus every separate rule resource attached to the group),
    and an instance declared without security groups in the VPC's default group (whose id the VPC's
    ``defaultSecurityGroupId`` holds).  Values AWS would choose for other omitted properties are not
    guessed: they stay absent, as in the inputs.

Which properties a provider computes comes from the provider SDK's own types: an output that the SDK
types as always present (``pulumi.Output[str]``, not ``Output[Optional[str]]``) is, in a bridged
provider's schema, required or computed; one the program did not set is therefore computed.

The provider's Check runs before ``Analyze`` in the real CLI: it fills in auto-names and schema
defaults.  A run made with ``run_program(..., provider_check=True)`` models it (:mod:`gate.provider_check`):
every shape then sends the checked inputs, and references to auto-names are known, as in a real plan.

Use (``PolicyGate`` in :mod:`gate.policy_gate`)::

    run = run_program(project_dir, stack, unknown_computed=shape_needs_unknown_values(shape), provider_check=True)
    result = gate.check(run, policy_config, shape=shape)              # preview
    result = gate.check(run, policy_config, shape="deployed", operation="up")
"""

from __future__ import annotations

import functools
import importlib
import typing
from collections.abc import Mapping
from typing import Any, Literal

import pulumi
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.proto import analyzer_pb2

from gate.program import ProgramRun, RegisteredResource
from gate.provider_check import AUTO_NAMED, SCHEMA_DEFAULTS, checked_inputs

Shape = Literal["inputs", "planned", "deployed"]
SHAPES: tuple[Shape, ...] = ("inputs", "planned", "deployed")
#: What ``pulumi preview`` of a new stack sends.
DEFAULT_SHAPE: Shape = "planned"
Operation = Literal["preview", "up"]
OPERATIONS: tuple[Operation, ...] = ("preview", "up")

#: The VPC's default security group, where RDS puts an instance declared without groups (deployed shape).
DEFAULT_VPC_SECURITY_GROUP_ID = "sg-0defa017defa017de"

_SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
_VPC_TYPES = ("aws:ec2/vpc:Vpc", "aws:ec2/defaultVpc:DefaultVpc")
_RULE_TYPES = (
    "aws:ec2/securityGroupRule:SecurityGroupRule",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
)


def check_shape(shape: str, operation: str = "preview") -> Shape:
    """Validate *shape* and *operation*; ValueError naming the accepted values."""
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {', '.join(SHAPES)}; got {shape!r}")
    if operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {', '.join(OPERATIONS)}; got {operation!r}")
    return typing.cast(Shape, shape)


def shape_needs_unknown_values(shape: str) -> bool:
    """The ``unknown_computed`` argument of :func:`gate.program.run_program` for *shape*."""
    return check_shape(shape) != "deployed"


# --- Per-resource requests (Remediate, Analyze) -------------------------------------------------------------


def _options(resource: RegisteredResource) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(parent=resource.parent or "")


def _provider(
    resource: RegisteredResource, by_urn: Mapping[str, RegisteredResource]
) -> analyzer_pb2.AnalyzerProviderResource | None:
    if not resource.provider:
        return None
    # Provider references are "<urn>::<id>"; providers of the mock engine are not captured resources.
    urn = resource.provider.split("::")[0:-1]
    provider_urn = "::".join(urn) if urn else resource.provider
    provider = by_urn.get(provider_urn)
    type_ = provider_urn.split("::")[-2] if provider_urn.count("::") >= 2 else ""
    name = provider_urn.split("::")[-1]
    return analyzer_pb2.AnalyzerProviderResource(
        type=provider.type if provider is not None else type_,
        properties=provider.properties if provider is not None else struct_pb2.Struct(),
        urn=provider_urn,
        name=provider.name if provider is not None else name,
    )


def analyze_requests(
    run: ProgramRun, inputs: Mapping[str, struct_pb2.Struct] | None = None
) -> list[analyzer_pb2.AnalyzeRequest]:
    """One request per resource with its inputs (*inputs*, by URN, replaces them: checked or remediated ones)."""
    by_urn = run.by_urn()
    requests = []
    for r in run.resources:
        request = analyzer_pb2.AnalyzeRequest(type=r.type, urn=r.urn, name=r.name, options=_options(r))
        given = (inputs or {}).get(r.urn)
        request.properties.CopyFrom(given if given is not None else resource_inputs(run, r))
        provider = _provider(r, by_urn)
        if provider is not None:
            request.provider.CopyFrom(provider)
        requests.append(request)
    return requests


def resource_inputs(run: ProgramRun, resource: RegisteredResource) -> struct_pb2.Struct:
    """The inputs ``Analyze`` gets: after the provider's Check when *run* models it, else as the program sent them."""
    if not run.provider_check or (resource.type not in AUTO_NAMED and resource.type not in SCHEMA_DEFAULTS):
        return resource.properties  # Check adds nothing to this type: no conversion
    out = struct_pb2.Struct()
    out.update(checked_inputs(resource.type, resource.name, json_format.MessageToDict(resource.properties)))
    return out


# --- AnalyzeStack: outputs per shape --------------------------------------------------------------------------


def analyze_stack_request(
    run: ProgramRun, shape: str = "inputs", inputs: Mapping[str, struct_pb2.Struct] | None = None
) -> analyzer_pb2.AnalyzeStackRequest:
    """The ``AnalyzeStack`` request: every resource with the properties *shape* gives it."""
    check_shape(shape)
    if shape == "deployed" and run.unknown_computed:
        raise ValueError(
            "the deployed shape needs known values: run the program with run_program(..., unknown_computed=False)"
        )
    by_urn = run.by_urn()
    refreshed_rules = _refreshed_rules(run) if shape == "deployed" else {}
    request = analyzer_pb2.AnalyzeStackRequest()
    for r in run.resources:
        item = request.resources.add(type=r.type, urn=r.urn, name=r.name, parent=r.parent or "")
        given = (inputs or {}).get(r.urn)
        base = given if given is not None else resource_inputs(run, r)
        if shape == "planned":
            item.properties.CopyFrom(planned_outputs(r, base))
        elif shape == "deployed":
            item.properties.CopyFrom(deployed_outputs(r, base, refreshed_rules))
        else:
            item.properties.CopyFrom(base)
        item.options.CopyFrom(_options(r))
        item.dependencies.extend(r.dependencies)
        for prop, urns in r.property_dependencies.items():
            item.propertyDependencies[prop].urns.extend(urns)
        provider = _provider(r, by_urn)
        if provider is not None:
            item.provider.CopyFrom(provider)
    return request


def planned_outputs(resource: RegisteredResource, inputs: struct_pb2.Struct) -> struct_pb2.Struct:
    """The inputs plus every provider-computed output the program did not set, unknown (a preview's Create)."""
    out = struct_pb2.Struct()
    out.CopyFrom(inputs)
    for name in computed_outputs(resource.type):
        if name not in out.fields:
            out.fields[name].string_value = rpc.UNKNOWN
    return out


def deployed_outputs(
    resource: RegisteredResource, inputs: struct_pb2.Struct, refreshed_rules: Mapping[str, dict[str, list[Any]]]
) -> struct_pb2.Struct:
    """The stored state: inputs, known computed values, refreshed rule lists (see the module docstring)."""
    out = struct_pb2.Struct()
    out.CopyFrom(inputs)
    computed = {k: v for k, v in resource.outputs.items() if k not in resource.inputs}
    if resource.id and resource.custom:
        computed.setdefault("id", resource.id)
    if computed:
        out.update(_plain_json(computed))
    if resource.type == _SECURITY_GROUP and resource.id in refreshed_rules:
        lists = refreshed_rules[resource.id]
        for direction in ("ingress", "egress"):
            inline = json_format.MessageToDict(out).get(direction) or []
            out.update({direction: [*inline, *lists.get(direction, [])]})
    if resource.type == "aws:rds/instance:Instance" and not resource.inputs.get("vpcSecurityGroupIds"):
        out.update({"vpcSecurityGroupIds": [DEFAULT_VPC_SECURITY_GROUP_ID]})
    if resource.type in _VPC_TYPES and not resource.outputs.get("defaultSecurityGroupId"):
        # The group EC2 creates with the VPC (the provider's computed default_security_group_id).
        out.update({"defaultSecurityGroupId": DEFAULT_VPC_SECURITY_GROUP_ID})
    return out


def _plain_json(value: Any) -> Any:
    """Fake computed values are plain JSON already; keep only what a Struct can hold."""
    if isinstance(value, Mapping):
        return {str(k): _plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_json(v) for v in value]
    if value is None or isinstance(value, str | bool | int | float):
        return value
    return str(value)


def _refreshed_rules(run: ProgramRun) -> dict[str, dict[str, list[Any]]]:
    """Security group id -> {"ingress": [...], "egress": [...]} from separate rule resources, as AWS lists them."""
    rules: dict[str, dict[str, list[Any]]] = {}
    # Rule resources register concurrently; list them by URN so a run always gives the same order.
    for r in sorted(run.resources, key=lambda r: r.urn):
        if r.type not in _RULE_TYPES:
            continue
        i = r.inputs
        group = i.get("securityGroupId")
        if not isinstance(group, str):
            continue
        if r.type == _RULE_TYPES[0]:
            direction = str(i.get("type", "ingress"))
            peer_group = i.get("sourceSecurityGroupId")
            entry = {
                "protocol": _protocol(i.get("protocol")),
                "fromPort": i.get("fromPort", 0),
                "toPort": i.get("toPort", 0),
                "cidrBlocks": list(i.get("cidrBlocks") or []),
                "ipv6CidrBlocks": list(i.get("ipv6CidrBlocks") or []),
                "prefixListIds": list(i.get("prefixListIds") or []),
                "securityGroups": [peer_group] if isinstance(peer_group, str) else [],
                "self": bool(i.get("self", False)),
                "description": i.get("description") or "",
            }
        else:
            direction = "ingress" if "Ingress" in r.type else "egress"
            protocol = _protocol(i.get("ipProtocol"))
            peer_group = i.get("referencedSecurityGroupId")
            entry = {
                "protocol": protocol,
                "fromPort": 0 if protocol == "-1" else i.get("fromPort", 0),
                "toPort": 0 if protocol == "-1" else i.get("toPort", 0),
                "cidrBlocks": [i["cidrIpv4"]] if isinstance(i.get("cidrIpv4"), str) else [],
                "ipv6CidrBlocks": [i["cidrIpv6"]] if isinstance(i.get("cidrIpv6"), str) else [],
                "prefixListIds": [i["prefixListId"]] if isinstance(i.get("prefixListId"), str) else [],
                "securityGroups": [peer_group] if isinstance(peer_group, str) and peer_group != group else [],
                "self": peer_group == group,
                "description": i.get("description") or "",
            }
        if direction in ("ingress", "egress"):
            rules.setdefault(group, {}).setdefault(direction, []).append(_plain_json(entry))
    return rules


_PROTOCOL_NUMBERS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}


def _protocol(value: Any) -> str:
    """AWS reads protocols back by name (``tcp``) and "all" as ``-1``."""
    text = str(value if value is not None else "-1").lower()
    return _PROTOCOL_NUMBERS.get(text, text)


@functools.cache
def computed_outputs(type_: str) -> frozenset[str]:
    """Outputs of *type_* its provider SDK types as always present (required or computed), by wire name."""
    cls = _resource_class(type_)
    if cls is None:
        return frozenset()
    names = set()
    for klass in cls.__mro__:
        for attr in vars(klass).values():
            getter = attr.fget if isinstance(attr, property) else None
            wire = getattr(getter, "_pulumi_name", None)
            if getter is None or not isinstance(wire, str):
                continue
            if not _optional(getter.__annotations__.get("return")):
                names.add(wire)
    return frozenset(names)


def _optional(annotation: Any) -> bool:
    if isinstance(annotation, str):
        return "Optional[" in annotation
    inner = typing.get_args(annotation)
    if not inner:
        return True  # unknown annotation: do not invent an unknown value
    return type(None) in typing.get_args(inner[0])


def _resource_class(type_: str) -> type | None:
    """``aws:rds/instance:Instance`` -> ``pulumi_aws.rds.Instance`` (bridged providers' Python layout)."""
    parts = type_.split(":")
    if len(parts) != 3 or parts[0] == "pulumi":
        return None
    package, module, name = parts
    python_module = f"pulumi_{package.replace('-', '_')}"
    top = module.split("/")[0]
    if top != "index":
        python_module += f".{top}"
    try:
        cls = getattr(importlib.import_module(python_module), name, None)
    except ImportError:
        return None
    return cls if isinstance(cls, type) and issubclass(cls, pulumi.CustomResource) else None
