"""One gate run in the Pulumi CLI's call order, and :class:`PolicyGate`, a started pack to run it against.

The order (pulumi/pulumi ``pkg/resource/plugin/analyzer_plugin.go`` and ``pkg/resource/deploy``):

1. start the pack (:mod:`gate.pack_process`), ``Handshake``, ``ConfigureStack`` (project, stack,
   organization, tags, dry-run flag, stack config and which keys are secret);
2. ``GetAnalyzerInfo``, validate the policy config against its schemas, ``Configure``;
3. per resource ``Remediate`` and then ``Analyze`` with the remediated inputs (``Remediate`` only when a
   policy is at the ``remediate`` level: the pack answers nothing otherwise);
4. one ``AnalyzeStack`` with every resource's outputs, except in ``up`` when a resource had a mandatory
   violation: the engine stops that resource, the update fails and no stack analysis runs.

What the calls carry in each shape (``inputs``, ``planned``, ``deployed``) is :mod:`gate.shapes`.

API::

    with PolicyGate() as gate:                                   # pack dir: policies/, its own venv
        run = run_program(ROOT, "prod", unknown_computed=shape_needs_unknown_values("deployed"))
        result = gate.check(run, load_config_file("policies/config/prod.json"), shape="deployed")
        result.passed, result.fired("mandatory"), result.stack_analyzed
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2

from gate.analyzer_client import AnalyzerClient
from gate.pack_info import PackInfo
from gate.pack_process import DEFAULT_PACK_DIR, PolicyPackProcess, read_pack_project
from gate.policy_config import resolve_config
from gate.program import ProgramRun
from gate.results import GateResult, Remediation, Violation, violations_from
from gate.shapes import DEFAULT_SHAPE, analyze_requests, analyze_stack_request, check_shape, resource_inputs

#: The organization a DIY backend reports (``pulumi.policy`` uses the same default).
DEFAULT_ORGANIZATION = "organization"


@dataclass(frozen=True)
class StackContext:
    """What the CLI tells the pack about the stack (``ConfigureStack``, and ``PULUMI_*`` at start)."""

    project: str
    stack: str
    organization: str = DEFAULT_ORGANIZATION
    dry_run: bool = True
    config: dict[str, str] = field(default_factory=dict)
    secret_keys: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, run: ProgramRun, *, dry_run: bool = True, project_dir: Path | None = None) -> StackContext:
        """The context of *run*: its config as the CLI passes it (strings; objects as JSON)."""
        config = {k: v if isinstance(v, str) else json.dumps(v) for k, v in run.config.items()}
        secret = tuple(sorted(k for k, v in run.config.items() if isinstance(v, dict) and "secure" in v))
        tags = {"pulumi:project": run.project, "pulumi:runtime": _runtime(project_dir)}
        return cls(project=run.project, stack=run.stack, dry_run=dry_run, config=config, secret_keys=secret, tags=tags)

    def request(self) -> analyzer_pb2.AnalyzerStackConfigureRequest:
        request = analyzer_pb2.AnalyzerStackConfigureRequest(
            stack=self.stack, project=self.project, organization=self.organization, dry_run=self.dry_run
        )
        request.config.update(self.config)
        request.config_secret_keys.extend(self.secret_keys)
        request.tags.update(self.tags)
        return request

    def environment(self) -> dict[str, str]:
        """The ``PULUMI_*`` variables the CLI's Python language host starts a pack with."""
        env = {
            "PULUMI_ORGANIZATION": self.organization,
            "PULUMI_PROJECT": self.project,
            "PULUMI_STACK": self.stack,
            "PULUMI_DRY_RUN": "true" if self.dry_run else "false",
        }
        if self.config:
            env["PULUMI_CONFIG"] = json.dumps(self.config)
        return env


def _runtime(project_dir: Path | None) -> str:
    if project_dir is None:
        return "python"
    try:
        data = yaml.safe_load((project_dir / "Pulumi.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return "python"
    runtime = data.get("runtime") if isinstance(data, dict) else None
    if isinstance(runtime, dict):
        runtime = runtime.get("name")
    return str(runtime or "python")


def run_gate(
    run: ProgramRun,
    client: AnalyzerClient,
    raw_config: Mapping[str, Any],
    *,
    shape: str = DEFAULT_SHAPE,
    operation: str = "preview",
    context: StackContext | None = None,
) -> GateResult:
    """Configure the pack with *raw_config* and analyze *run* as the engine would (see the module docstring)."""
    checked_shape = check_shape(shape, operation)
    t0 = time.perf_counter()
    client.configure_stack((context or StackContext.of(run, dry_run=operation == "preview")).request())
    info = client.info()
    resolved = resolve_config(info, raw_config)
    client.configure(resolved)
    t_config = time.perf_counter()

    by_urn = run.by_urn()
    violations: list[Violation] = []
    remediations: list[Remediation] = []
    # The inputs after the provider's Check, converted once for every call that sends them.
    inputs = {r.urn: resource_inputs(run, r) for r in run.resources}
    requests = analyze_requests(run, inputs)
    # The engine calls Remediate for every resource; a pack answers it only for policies at the
    # remediate level, so without one every answer is empty and the calls are skipped (same result).
    remediating = any(entry.get("enforcementLevel") == "remediate" for entry in resolved.values())
    for request, remediate_response in zip(requests, client.remediate(requests) if remediating else [], strict=False):
        for item in remediate_response.remediations:
            if item.diagnostic:
                violations.append(_remediation_warning(item, request, by_urn, run))
            elif item.HasField("properties"):
                inputs[request.urn] = item.properties
                remediations.append(Remediation(item.policyName, request.urn, _struct_to_dict(item.properties)))
    t_remediate = time.perf_counter()

    resource_violations: list[Violation] = []
    for request, response in client.analyze(analyze_requests(run, inputs) if remediations else requests):
        if response.diagnostics:
            resource_violations.extend(violations_from(response, request.urn, run, info, by_urn))
    violations.extend(resource_violations)
    t_resources = time.perf_counter()

    # `pulumi up` marks a resource with a mandatory violation invalid and bails: no AnalyzeStack.
    stack_analyzed = not (operation == "up" and any(v.level == "mandatory" for v in resource_violations))
    if stack_analyzed:
        stack_response = client.analyze_stack(analyze_stack_request(run, checked_shape, inputs))
        for v in violations_from(stack_response, "", run, info, by_urn):
            # Stack policies cannot remediate: the engine treats a remediate-level stack finding as mandatory.
            violations.append(replace(v, level="mandatory") if v.level == "remediate" else v)
    t_stack = time.perf_counter()

    order = {r.urn: i for i, r in enumerate(run.resources)}
    violations.sort(key=lambda v: (order.get(v.urn, math.inf), v.policy, v.message))
    return GateResult(
        project=run.project,
        stack=run.stack,
        pack=info.name,
        pack_version=info.version,
        resources=len(run.resources),
        violations=violations,
        config=resolved,
        timings={
            "configure": t_config - t0,
            "remediate": t_remediate - t_config,
            "analyze": t_resources - t_remediate,
            "analyzeStack": t_stack - t_resources,
            "total": t_stack - t0,
        },
        shape=checked_shape,
        operation=operation,
        stack_analyzed=stack_analyzed,
        remediations=remediations,
    )


def _struct_to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(struct)


def _remediation_warning(
    item: analyzer_pb2.Remediation, request: analyzer_pb2.AnalyzeRequest, by_urn: Mapping[str, Any], run: ProgramRun
) -> Violation:
    """A remediation that could not run (e.g. unknown values in preview): the engine shows it as advisory."""
    resource = by_urn.get(request.urn)
    return Violation(
        policy=item.policyName,
        level="advisory",
        severity="",
        urn=request.urn,
        resource_type=resource.type if resource is not None else request.type,
        resource_name=resource.name if resource is not None else request.name,
        message=item.diagnostic,
        description=item.description,
    )


@dataclass
class PolicyGate:
    """A started pack plus a connected client, for one or many gate runs (tests share one).

    *python* overrides the interpreter ``PulumiPolicy.yaml`` selects; *context* (optional) is the stack
    the CLI would start the pack for, passed as ``PULUMI_*`` variables (each :meth:`check` still sends
    its own run's ``ConfigureStack``).
    """

    pack_dir: Path = DEFAULT_PACK_DIR
    python: str | None = None
    concurrency: int = 8
    context: StackContext | None = None
    process: PolicyPackProcess | None = None
    client: AnalyzerClient | None = None
    startup_seconds: float = 0.0

    def start(self) -> PolicyGate:
        t0 = time.perf_counter()
        env = self.context.environment() if self.context is not None else None
        self.process = PolicyPackProcess(self.pack_dir, self.python, env=env)
        try:
            port = self.process.start()
            self.client = AnalyzerClient(port, concurrency=self.concurrency)
            self.client.handshake(self.process.pack_dir)
            self.client.pin_version(read_pack_project(self.pack_dir).version)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.perf_counter() - t0
        return self

    def check(
        self,
        run: ProgramRun,
        raw_config: Mapping[str, Any],
        *,
        shape: str = DEFAULT_SHAPE,
        operation: str = "preview",
    ) -> GateResult:
        """Gate *run*: *shape* is what the engine sends (:mod:`gate.shapes`), *operation* ``preview`` or ``up``."""
        if self.client is None:
            raise RuntimeError("the policy gate is not started")
        return run_gate(run, self.client, raw_config, shape=shape, operation=operation)

    def info(self) -> PackInfo:
        if self.client is None:
            raise RuntimeError("the policy gate is not started")
        return self.client.info()

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.process is not None:
            self.process.stop()
            self.process = None

    def __enter__(self) -> PolicyGate:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
