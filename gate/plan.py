"""Human-readable plan of an offline run: resources, key settings, connection budget.

``python -m gate.plan --stack dev`` runs the program under mocks (see
:mod:`gate.program`) and prints what it would create.  ``gate/__main__.py``
(the ``make preview`` entry) calls :func:`render_plan` and then the policy gate.

Values the provider computes are shown as ``(computed)``; references to other
resources in this stack are shown as ``-> <resource name>`` (taken from the
property dependencies); secrets are shown as ``[secret]`` and never printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from google.protobuf import struct_pb2

from gate.program import UNKNOWN, ProgramRun, RegisteredResource, Secret, run_program

PROJECT_DIR = Path(__file__).resolve().parents[1]


def _short_type(type_: str) -> str:
    """``aws:rds/instance:Instance`` -> ``aws.rds.Instance``; component tokens stay as they are."""
    parts = type_.split(":")
    if len(parts) == 3 and "/" in parts[1]:
        return f"{parts[0]}.{parts[1].split('/')[0]}.{parts[2]}"
    if len(parts) == 3 and parts[1] == "index":
        return f"{parts[0]}.{parts[2]}"
    return type_


class _Formatter:
    def __init__(self, run: ProgramRun) -> None:
        self.names = {r.urn: r.name for r in run.resources}

    def value(self, resource: RegisteredResource, key: str) -> str:
        raw = resource.inputs.get(key)
        return self.show(resource, key, raw)

    def show(self, resource: RegisteredResource, key: str, raw: Any) -> str:
        if isinstance(raw, Secret):
            return "[secret]"
        if raw is UNKNOWN or (isinstance(raw, list) and raw and all(v is UNKNOWN for v in raw)):
            refs = sorted(self.names.get(u, u) for u in resource.property_dependencies.get(key, []))
            if refs:
                return "-> " + ", ".join(refs)
            return "(computed)"
        if isinstance(raw, float) and raw.is_integer():
            return str(int(raw))
        if isinstance(raw, bool):
            return "true" if raw else "false"
        if isinstance(raw, list):
            return "[" + ", ".join(self.show(resource, key, v) for v in raw) + "]"
        if isinstance(raw, dict):
            return "{" + ", ".join(f"{k}: {self.show(resource, key, v)}" for k, v in raw.items()) + "}"
        if raw is None:
            return "-"
        return str(raw)

    def fields(self, resource: RegisteredResource, keys: Sequence[str]) -> str:
        return ", ".join(f"{k}={self.value(resource, k)}" for k in keys if k in resource.inputs)


def _number(raw: Any) -> str:
    if isinstance(raw, float) and raw.is_integer():
        return f"{int(raw):,}"
    return str(raw)


def _dashboard_summary(body: Any) -> str:
    """``widgets: <title>; <title>; ...`` of a dashboard body, or why it cannot be read yet."""
    if not isinstance(body, str):
        return "widgets: (computed)"
    try:
        widgets = json.loads(body).get("widgets", [])
    except (ValueError, AttributeError):
        return "widgets: (not JSON)"
    titles = [w.get("properties", {}).get("title") for w in widgets if isinstance(w, dict) and w.get("type") == "metric"]
    return f"widgets ({len(titles)} graphs): " + "; ".join(str(t) for t in titles)


def _details(resource: RegisteredResource, fmt: _Formatter) -> list[str]:
    inputs = resource.inputs
    t = resource.type
    if t == "aws:rds/instance:Instance":
        lines = [
            fmt.fields(resource, ["identifier", "engine", "engineVersion", "instanceClass", "multiAz", "replicateSourceDb"]),
            "storage: "
            + fmt.fields(resource, ["storageType", "allocatedStorage", "maxAllocatedStorage", "storageEncrypted", "kmsKeyId"]),
            "access: " + fmt.fields(resource, ["publiclyAccessible", "iamDatabaseAuthenticationEnabled", "vpcSecurityGroupIds"]),
            "resilience: "
            + fmt.fields(
                resource, ["backupRetentionPeriod", "deletionProtection", "skipFinalSnapshot", "finalSnapshotIdentifier"]
            ),
            "observability: "
            + fmt.fields(
                resource,
                ["performanceInsightsEnabled", "monitoringInterval", "enabledCloudwatchLogsExports", "parameterGroupName"],
            ),
        ]
        if "password" in inputs:
            lines.append("password=" + fmt.value(resource, "password"))
        return lines
    if t == "aws:rds/parameterGroup:ParameterGroup":
        params = inputs.get("parameters") or []
        return [f"family={fmt.value(resource, 'family')}"] + [
            f"{p.get('name')} = {p.get('value')} ({p.get('applyMethod', 'immediate')})" for p in params
        ]
    if t == "aws:rds/proxy:Proxy":
        auths = inputs.get("auths") or [{}]
        auth = auths[0]
        return [
            fmt.fields(resource, ["name", "engineFamily", "requireTls", "debugLogging", "idleClientTimeout", "roleArn"]),
            f"auth: iamAuth={auth.get('iamAuth')}, clientPasswordAuthType={auth.get('clientPasswordAuthType')}, "
            f"secretArn={fmt.show(resource, 'auths', auth.get('secretArn'))}",
        ]
    if t == "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup":
        pool = inputs.get("connectionPoolConfig") or {}
        return ["pool: " + ", ".join(f"{k}={_number(v)}" for k, v in sorted(pool.items()))]
    if t == "aws:rds/proxyTarget:ProxyTarget":
        return [fmt.fields(resource, ["dbInstanceIdentifier", "targetGroupName"])]
    if t in (
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
    ):
        direction = "from" if "Ingress" in t else "to"
        peer = fmt.value(resource, "referencedSecurityGroupId")
        if "cidrIpv4" in inputs or "cidrIpv6" in inputs:
            peer = f"CIDR {inputs.get('cidrIpv4') or inputs.get('cidrIpv6')}"
        return [
            f"group {fmt.value(resource, 'securityGroupId')}: {fmt.value(resource, 'ipProtocol')} "
            f"{fmt.value(resource, 'fromPort')}-{fmt.value(resource, 'toPort')} {direction} {peer}"
        ]
    if t == "aws:ec2/securityGroup:SecurityGroup":
        return [fmt.fields(resource, ["description", "vpcId"])]
    if t == "aws:cloudwatch/metricAlarm:MetricAlarm":
        dims = inputs.get("dimensions") or {}
        dim_text = ", ".join(f"{k}={fmt.show(resource, 'dimensions', v)}" for k, v in dims.items())
        return [
            f"{inputs.get('namespace')} {inputs.get('metricName')} [{dim_text}] {inputs.get('statistic')} "
            f"{inputs.get('comparisonOperator')} {_number(inputs.get('threshold'))} "
            f"({_number(inputs.get('period'))} s x {_number(inputs.get('evaluationPeriods'))})",
            f"treatMissingData={inputs.get('treatMissingData')}, alarmActions={len(inputs.get('alarmActions') or [])}, "
            f"okActions={len(inputs.get('okActions') or [])}",
        ]
    if t == "aws:cloudwatch/dashboard:Dashboard":
        return [fmt.fields(resource, ["dashboardName"]), _dashboard_summary(inputs.get("dashboardBody"))]
    if t == "aws:rds/eventSubscription:EventSubscription":
        return [
            fmt.fields(resource, ["name", "sourceType", "sourceIds", "enabled"]),
            fmt.fields(resource, ["eventCategories", "snsTopic"]),
        ]
    if t == "aws:kms/key:Key":
        return [fmt.fields(resource, ["enableKeyRotation", "deletionWindowInDays"])]
    if t == "aws:secretsmanager/secret:Secret":
        return [fmt.fields(resource, ["name", "kmsKeyId", "recoveryWindowInDays"])]
    if t == "aws:secretsmanager/secretVersion:SecretVersion":
        return ["secretString=" + fmt.value(resource, "secretString")]
    if t == "aws:sns/topic:Topic":
        return [fmt.fields(resource, ["name", "kmsMasterKeyId"])]
    if t == "aws:sns/topicSubscription:TopicSubscription":
        return [fmt.fields(resource, ["protocol", "endpoint"])]
    if t == "aws:iam/role:Role":
        return [fmt.fields(resource, ["name", "description"])]
    if t == "aws:iam/policy:Policy":
        return [fmt.fields(resource, ["name", "description"])]
    if t == "aws:ec2/vpc:Vpc":
        return [fmt.fields(resource, ["cidrBlock", "enableDnsHostnames"])]
    if t == "aws:ec2/subnet:Subnet":
        return [fmt.fields(resource, ["cidrBlock", "availabilityZone", "mapPublicIpOnLaunch"])]
    if t == "aws:rds/subnetGroup:SubnetGroup":
        return [fmt.fields(resource, ["name", "subnetIds"])]
    if t == "random:index/randomPassword:RandomPassword":
        return [fmt.fields(resource, ["length", "overrideSpecial"])]
    if t == "pulumi:providers:aws":
        return []
    return []


def _budget_rows(run: ProgramRun) -> list[tuple[str, str]]:
    rows = run.outputs.get("connectionBudgetRows")
    if isinstance(rows, list) and rows:
        return [(str(r[0]), str(r[1])) for r in rows]
    summary = run.outputs.get("connectionBudget")
    if isinstance(summary, dict):
        return [(k, _number(v)) for k, v in summary.items()]
    return []


_COMPONENT_ORDER = ("network", "credentials", "database", "replica", "proxy", "alarms", "events", "dashboard", "access")


def _plan_order(resource: RegisteredResource) -> tuple[int, str]:
    rank = _COMPONENT_ORDER.index(resource.name) if resource.name in _COMPONENT_ORDER else len(_COMPONENT_ORDER)
    return rank, resource.name


def render_plan(run: ProgramRun) -> str:
    """The plan as text: resources grouped under their component, the budget table, counts."""
    fmt = _Formatter(run)
    out: list[str] = [f"Plan for stack '{run.stack}' of project '{run.project}' (offline, Pulumi mocks)", ""]
    # Registration order is asynchronous; print in a stable order: components in the order data
    # flows through them, children by name.
    children: dict[str, list[RegisteredResource]] = {}
    for resource in sorted(run.resources, key=_plan_order):
        children.setdefault(resource.parent, []).append(resource)

    def emit(resource: RegisteredResource, depth: int) -> None:
        indent = "  " * depth
        out.append(f"{indent}+ {_short_type(resource.type)}  {resource.name}")
        for line in _details(resource, fmt):
            if line:
                out.append(f"{indent}    {line}")
        for child in children.get(resource.urn, []):
            emit(child, depth + 1)

    urns = {r.urn for r in run.resources}
    for resource in sorted(run.resources, key=_plan_order):
        if resource.parent not in urns:
            emit(resource, 0)

    rows = _budget_rows(run)
    if rows:
        out += ["", "Connection budget (components/sizing.py)"]
        width = max(len(label) for label, _ in rows)
        out += [f"  {label.ljust(width)}  {value}" for label, value in rows]

    exports = [k for k in sorted(run.outputs) if k not in ("connectionBudget", "connectionBudgetRows")]
    if exports:
        out += ["", "Stack outputs"]
        for key in exports:
            value = "[secret]" if key in run.secret_outputs else fmt.show(_EMPTY, key, run.outputs[key])
            out.append(f"  {key}: {value}")

    counts = Counter(_short_type(r.type) for r in run.resources)
    custom = sum(1 for r in run.resources if r.custom)
    out += ["", f"Resources: {len(run.resources)} ({custom} cloud resources, {len(run.resources) - custom} components)"]
    out += [f"  {count:3d}  {type_}" for type_, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return "\n".join(out) + "\n"


_EMPTY = RegisteredResource(
    urn="",
    type="",
    name="",
    custom=False,
    parent="",
    provider="",
    properties=struct_pb2.Struct(),
    inputs={},
    dependencies=[],
    property_dependencies={},
    outputs={},
    id="",
)


def _config_problems(error: BaseException) -> list[str] | None:
    problems = getattr(error, "problems", None)
    if isinstance(error, ValueError) and isinstance(problems, list):
        return [str(p) for p in problems]
    return None


def main(argv: Sequence[str] | None = None, *, runner: Callable[..., ProgramRun] = run_program) -> int:
    parser = argparse.ArgumentParser(prog="python -m gate.plan", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", default="dev", help="stack name: reads Pulumi.<stack>.yaml (default: dev)")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR, help="directory holding Pulumi.yaml")
    parser.add_argument(
        "--known-values", action="store_true", help="give computed values plausible fakes instead of leaving them unknown"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        run = runner(args.project_dir, args.stack, unknown_computed=not args.known_values)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        problems = _config_problems(error)
        if problems is None:
            raise
        print(f"Stack '{args.stack}': the configuration is invalid; nothing was planned.", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    sys.stdout.write(render_plan(run))
    print(f"\n(planned offline in {time.monotonic() - started:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
