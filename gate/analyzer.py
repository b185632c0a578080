"""The client side of Pulumi's analyzer protocol: what ``pulumi preview --policy-pack`` does, offline.

1. Start the policy pack (``python policies/__main__.py``) and read the port it prints.
2. ``Handshake`` (when the pack implements it), ``GetAnalyzerInfo``: policy names, levels, config schemas.
3. Validate the JSON policy config (``--policy-pack-config`` format) against those schemas and ``Configure``.
4. ``Analyze`` every resource (concurrently), then one ``AnalyzeStack`` with all of them, with
   parents, dependencies and property dependencies.
5. Collect the diagnostics: grouped by resource, with enforcement levels; mandatory ones fail the gate.

The pack process is always stopped, also on errors and Ctrl-C (:class:`PolicyPackProcess` is a
context manager).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import grpc
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, plugin_pb2

from gate.program import ProgramRun, RegisteredResource

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PACK_DIR = REPO_ROOT / "policies"
#: Largest gRPC message (the AnalyzeStack request of a big stack); the CLI uses 400 MB too.
MAX_MESSAGE = 400 * 1024 * 1024
_CHANNEL_OPTIONS = [("grpc.max_send_message_length", MAX_MESSAGE), ("grpc.max_receive_message_length", MAX_MESSAGE)]

LEVELS = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.REMEDIATE: "remediate",
    analyzer_pb2.DISABLED: "disabled",
}
_LEVEL_VALUES = {name: value for value, name in LEVELS.items()}
SEVERITIES = {
    analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED: "",
    analyzer_pb2.POLICY_SEVERITY_LOW: "low",
    analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium",
    analyzer_pb2.POLICY_SEVERITY_HIGH: "high",
    analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical",
}


class PolicyPackStartFailure(RuntimeError):
    """The policy pack did not start (import error, crash) or did not print its port in time."""


class PolicyConfigInvalid(ValueError):
    """The policy config file does not match the pack's policies and schemas; ``problems`` lists each."""

    def __init__(self, problems: list[str], source: str = "policy config") -> None:
        self.problems = problems
        super().__init__("\n".join([f"{source} is invalid:", *(f"  - {p}" for p in problems)]))


# --- The pack process ---------------------------------------------------------------------------------


class PolicyPackProcess:
    """``python <pack>/__main__.py`` as a child process, stopped on exit from the ``with`` block."""

    def __init__(self, pack_dir: Path | str = DEFAULT_PACK_DIR, python: str | None = None, start_timeout: float = 60.0):
        self.pack_dir = Path(pack_dir).resolve()
        self.python = python or sys.executable
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self._stderr: IO[bytes] | None = None

    def start(self) -> int:
        main = self.pack_dir / "__main__.py"
        if not main.exists():
            raise PolicyPackStartFailure(f"no policy pack at {self.pack_dir} (missing __main__.py)")
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process; closed in stop()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [self.python, "-u", str(main)],
            cwd=self.pack_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
        )
        line = self._read_port_line()
        try:
            self.port = int(line.strip())
        except ValueError:
            detail = self.stderr_text().strip()
            self.stop()
            raise PolicyPackStartFailure(
                f"the policy pack printed {line!r} instead of its port" + (f":\n{detail}" if detail else "")
            ) from None
        # Keep draining stdout so a chatty policy can never block on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        return self.port

    def _read_port_line(self) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        result: list[bytes] = []
        reader = threading.Thread(target=lambda: result.append(self.proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(self.start_timeout)
        if not result or not result[0]:
            if result:  # EOF: the pack exited (or closed stdout); let it finish to get its exit code
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=5)
            code = self.proc.poll()
            detail = self.stderr_text().strip()
            self.stop()
            why = f"exited with code {code}" if code is not None else f"printed no port within {self.start_timeout:g} s"
            raise PolicyPackStartFailure(f"the policy pack {why}" + (f":\n{detail}" if detail else ""))
        return result[0].decode(errors="replace")

    def _drain(self) -> None:
        stream = self.proc.stdout if self.proc is not None else None
        if stream is None:
            return
        try:
            while stream.read(65536):
                pass
        except (OSError, ValueError):
            pass

    def stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0)
            return self._stderr.read().decode(errors="replace")[-4000:]
        except (OSError, ValueError):
            return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> PolicyPackProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- Pack metadata and config -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyMeta:
    name: str
    description: str
    enforcement_level: str
    severity: str
    kind: str  # "resource" or "stack"
    schema: dict[str, Any]
    required: list[str]


@dataclass(frozen=True)
class PackInfo:
    name: str
    version: str
    policies: dict[str, PolicyMeta]
    initial_config: dict[str, dict[str, Any]]


def _struct_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    from google.protobuf import json_format

    return json_format.MessageToDict(struct)


def pack_info(response: analyzer_pb2.AnalyzerInfo) -> PackInfo:
    policies = {}
    for p in response.policies:
        kind = {analyzer_pb2.POLICY_TYPE_RESOURCE: "resource", analyzer_pb2.POLICY_TYPE_STACK: "stack"}.get(p.policy_type, "")
        policies[p.name] = PolicyMeta(
            name=p.name,
            description=p.description,
            enforcement_level=LEVELS.get(p.enforcementLevel, "advisory"),
            severity=SEVERITIES.get(p.severity, ""),
            kind=kind,
            schema=_struct_dict(p.configSchema.properties) if p.HasField("configSchema") else {},
            required=list(p.configSchema.required) if p.HasField("configSchema") else [],
        )
    initial: dict[str, dict[str, Any]] = {}
    for name, cfg in response.initialConfig.items():
        entry: dict[str, Any] = dict(_struct_dict(cfg.properties))
        if cfg.enforcementLevel:
            entry["enforcementLevel"] = LEVELS[cfg.enforcementLevel]
        initial[name] = entry
    return PackInfo(response.name, response.version, policies, initial)


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


def _schema_errors(value: Any, schema: Mapping[str, Any], where: str) -> list[str]:
    """JSON-schema checks for the keywords policy configs use (type, enum, ranges, lengths, pattern, items)."""
    errors: list[str] = []
    expected = schema.get("type")
    if expected is not None:
        types = expected if isinstance(expected, list) else [expected]
        ok = False
        for t in types:
            py = _JSON_TYPES.get(t, ())
            if isinstance(value, bool) and t in ("number", "integer"):
                continue
            if t == "integer" and isinstance(value, float) and value.is_integer():
                ok = True
            if isinstance(value, py):
                ok = True
        if not ok:
            return [f"{where} must be of type {' or '.join(types)}, got {json.dumps(value)} ({_json_type(value)})"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where} must be one of {json.dumps(schema['enum'])}, got {json.dumps(value)}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where} must be >= {schema['minimum']:g}, got {value:g}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where} must be <= {schema['maximum']:g}, got {value:g}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            errors.append(f"{where} must be > {schema['exclusiveMinimum']:g}, got {value:g}")
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            errors.append(f"{where} must be < {schema['exclusiveMaximum']:g}, got {value:g}")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append(f"{where} must be at least {schema['minLength']:g} characters long")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{where} must be at most {schema['maxLength']:g} characters long")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{where} must match {schema['pattern']!r}, got {json.dumps(value)}")
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append(f"{where} must have at least {schema['minItems']:g} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{where} must have at most {schema['maxItems']:g} items")
        if isinstance(schema.get("items"), dict):
            for i, item in enumerate(value):
                errors.extend(_schema_errors(item, schema["items"], f"{where}[{i}]"))
    return errors


def _json_type(value: Any) -> str:
    for name, types in _JSON_TYPES.items():
        if isinstance(value, bool):
            return "boolean"
        if name != "integer" and isinstance(value, types):
            return name
    return type(value).__name__


def resolve_config(info: PackInfo, raw: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Validate a ``--policy-pack-config`` document and resolve every policy's level and properties.

    Precedence, as in the CLI: the policy's own level, then the pack's initial config, then *raw*;
    schema defaults fill properties nobody set.  Raises :class:`PolicyConfigInvalid` listing every problem.
    """
    problems: list[str] = []
    if not isinstance(raw, Mapping):
        raise PolicyConfigInvalid(["the config must be a JSON object mapping policy names to settings"])
    user: dict[str, dict[str, Any]] = {}
    known = ", ".join(sorted(info.policies))
    for name, value in raw.items():
        if name == "all":
            if value not in _LEVEL_VALUES:
                problems.append(f'"all": enforcement level must be one of {sorted(_LEVEL_VALUES)}, got {json.dumps(value)}')
            continue
        if name not in info.policies:
            close = [p for p in info.policies if _similar(p, name)]
            hint = f" (did you mean {', '.join(close)}?)" if close else f"; the pack has: {known}"
            problems.append(f'unknown policy "{name}"{hint}')
            continue
        if isinstance(value, str):
            value = {"enforcementLevel": value}
        if not isinstance(value, dict):
            problems.append(f'"{name}": must be an enforcement level string or an object, got {json.dumps(value)}')
            continue
        meta = info.policies[name]
        for key, item in value.items():
            where = f'"{name}".{key}'
            if key == "enforcementLevel":
                if item not in _LEVEL_VALUES:
                    problems.append(f"{where} must be one of {sorted(_LEVEL_VALUES)}, got {json.dumps(item)}")
                continue
            if key not in meta.schema:
                allowed = ", ".join(sorted(meta.schema)) or "none (only enforcementLevel)"
                problems.append(f"{where} is not a setting of this policy; settings: {allowed}")
                continue
            problems.extend(_schema_errors(item, meta.schema[key], where))
        for key in meta.required:
            if key not in value and key not in info.initial_config.get(name, {}):
                problems.append(f'"{name}".{key} is required')
        user[name] = dict(value)
    if problems:
        raise PolicyConfigInvalid(problems)

    all_level = raw.get("all") if isinstance(raw.get("all"), str) else None
    resolved: dict[str, dict[str, Any]] = {}
    for name, meta in info.policies.items():
        entry: dict[str, Any] = {k: v["default"] for k, v in meta.schema.items() if isinstance(v, dict) and "default" in v}
        level = meta.enforcement_level
        initial = info.initial_config.get(name, {})
        entry.update({k: v for k, v in initial.items() if k != "enforcementLevel"})
        level = initial.get("enforcementLevel", level)
        if all_level is not None:
            level = all_level
        entry.update({k: v for k, v in user.get(name, {}).items() if k != "enforcementLevel"})
        level = user.get(name, {}).get("enforcementLevel", level)
        entry["enforcementLevel"] = level
        resolved[name] = entry
    return resolved


def _pack_yaml_version(pack_dir: Path) -> str | None:
    path = pack_dir / "PulumiPolicy.yaml"
    if not path.exists():
        return None
    import yaml

    data = yaml.safe_load(path.read_text()) or {}
    version = data.get("version") if isinstance(data, dict) else None
    return str(version) if version is not None else None


def _similar(a: str, b: str) -> bool:
    a, b = a.lower(), b.lower()
    if a in b or b in a:
        return True
    shared = set(a.split("-")) & set(b.split("-"))
    return len(shared) >= 2


def load_config_file(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise PolicyConfigInvalid([f"{path} does not exist"], str(path)) from None
    except json.JSONDecodeError as exc:
        raise PolicyConfigInvalid([f"not valid JSON: {exc}"], str(path)) from None
    if not isinstance(data, dict):
        raise PolicyConfigInvalid(["the config must be a JSON object mapping policy names to settings"], str(path))
    return data


# --- Requests ----------------------------------------------------------------------------------------------


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


def analyze_requests(run: ProgramRun) -> list[analyzer_pb2.AnalyzeRequest]:
    by_urn = run.by_urn()
    requests = []
    for r in run.resources:
        request = analyzer_pb2.AnalyzeRequest(type=r.type, urn=r.urn, name=r.name, options=_options(r))
        request.properties.CopyFrom(r.properties)
        provider = _provider(r, by_urn)
        if provider is not None:
            request.provider.CopyFrom(provider)
        requests.append(request)
    return requests


def analyze_stack_request(run: ProgramRun) -> analyzer_pb2.AnalyzeStackRequest:
    by_urn = run.by_urn()
    request = analyzer_pb2.AnalyzeStackRequest()
    for r in run.resources:
        item = request.resources.add(type=r.type, urn=r.urn, name=r.name, parent=r.parent or "")
        item.properties.CopyFrom(r.properties)
        item.options.CopyFrom(_options(r))
        item.dependencies.extend(r.dependencies)
        for prop, urns in r.property_dependencies.items():
            item.propertyDependencies[prop].urns.extend(urns)
        provider = _provider(r, by_urn)
        if provider is not None:
            item.provider.CopyFrom(provider)
    return request


# --- Results -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str
    severity: str
    urn: str
    resource_type: str
    resource_name: str
    message: str
    description: str

    def as_dict(self) -> dict[str, str]:
        return {
            "policy": self.policy,
            "level": self.level,
            "severity": self.severity,
            "urn": self.urn,
            "type": self.resource_type,
            "name": self.resource_name,
            "message": self.message,
            "description": self.description,
        }


@dataclass
class GateResult:
    project: str
    stack: str
    pack: str
    pack_version: str
    resources: int
    violations: list[Violation]
    config: dict[str, dict[str, Any]]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.level in ("mandatory", "remediate")]

    @property
    def advisory(self) -> list[Violation]:
        return [v for v in self.violations if v.level == "advisory"]

    @property
    def passed(self) -> bool:
        return not self.mandatory

    def fired(self, level: str | None = None) -> set[str]:
        """Names of the policies that reported (at *level*, or any)."""
        return {v.policy for v in self.violations if level is None or v.level == level}

    def by_resource(self) -> dict[str, list[Violation]]:
        grouped: dict[str, list[Violation]] = {}
        for v in self.violations:
            grouped.setdefault(v.urn, []).append(v)
        return grouped

    def as_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "stack": self.stack,
            "policyPack": {"name": self.pack, "version": self.pack_version},
            "resources": self.resources,
            "passed": self.passed,
            "summary": {"mandatory": len(self.mandatory), "advisory": len(self.advisory)},
            "violations": [v.as_dict() for v in self.violations],
            "byResource": {urn: [v.policy for v in vs] for urn, vs in self.by_resource().items()},
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }

    def render(self) -> str:
        lines = [f"Policy pack {self.pack}@{self.pack_version}: {self.resources} resources of {self.project}/{self.stack}"]
        if not self.violations:
            lines.append("  no policy violations")
        for urn, items in sorted(self.by_resource().items(), key=lambda kv: (kv[0] == "", kv[0])):
            first = items[0]
            head = f"{first.resource_type} {first.resource_name}" if urn else "stack"
            lines.append(f"\n  {head}")
            if urn:
                lines.append(f"    ({urn})")
            for v in sorted(items, key=lambda x: (x.level != "mandatory", x.policy)):
                sev = f", {v.severity}" if v.severity else ""
                lines.append(f"    [{v.level}{sev}] {v.policy}")
                for chunk in _wrap(v.message, 100):
                    lines.append(f"        {chunk}")
        lines.append("")
        verdict = "FAILED" if self.mandatory else "passed"
        lines.append(
            f"Policy gate {verdict}: {len(self.mandatory)} mandatory, {len(self.advisory)} advisory violation(s)"
            f" in {self.timings.get('total', 0.0):.2f} s"
        )
        return "\n".join(lines)


def _wrap(text: str, width: int) -> Iterable[str]:
    import textwrap

    for paragraph in text.splitlines() or [""]:
        yield from textwrap.wrap(paragraph, width) or [""]


# --- The client -------------------------------------------------------------------------------------------------


class AnalyzerClient:
    """A gRPC client of one running policy pack."""

    def __init__(self, port: int, *, concurrency: int = 8) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=_CHANNEL_OPTIONS)
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)
        self.concurrency = max(1, concurrency)
        self._info: PackInfo | None = None

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> AnalyzerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def handshake(self, pack_dir: Path | str = DEFAULT_PACK_DIR, program_dir: Path | str | None = None) -> bool:
        """Call ``Handshake``; False when the pack does not implement it (pulumi_policy <= 1.x)."""
        request = analyzer_pb2.AnalyzerHandshakeRequest(engine_address="", root_directory=str(pack_dir))
        if program_dir is not None:
            request.program_directory = str(program_dir)
        try:
            self.stub.Handshake(request, timeout=30)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:  # type: ignore[attr-defined]
                return False
            raise
        return True

    def plugin_version(self) -> str:
        response: plugin_pb2.PluginInfo = self.stub.GetPluginInfo(empty_pb2.Empty(), timeout=30)
        return str(response.version)

    def info(self) -> PackInfo:
        if self._info is None:
            self._info = pack_info(self.stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30))
        return self._info

    def pin_version(self, version: str | None) -> None:
        """Use the version of PulumiPolicy.yaml, as the CLI does (Python packs always report 0.0.1)."""
        if version:
            self._info = replace(self.info(), version=version)

    def configure(self, resolved: Mapping[str, Mapping[str, Any]]) -> None:
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, entry in resolved.items():
            cfg = request.policyConfig[name]
            cfg.enforcementLevel = _LEVEL_VALUES[str(entry.get("enforcementLevel", "advisory"))]
            props = {k: v for k, v in entry.items() if k != "enforcementLevel"}
            if props:
                cfg.properties.update(props)
        self.stub.Configure(request, timeout=30)

    def analyze(
        self, requests: Sequence[analyzer_pb2.AnalyzeRequest]
    ) -> list[tuple[analyzer_pb2.AnalyzeRequest, analyzer_pb2.AnalyzeResponse]]:
        """``Analyze`` every request, at most ``concurrency`` in flight; results in request order."""
        results: list[analyzer_pb2.AnalyzeResponse | None] = [None] * len(requests)
        semaphore = threading.BoundedSemaphore(self.concurrency)
        pending: list[tuple[int, Any]] = []
        for i, request in enumerate(requests):
            semaphore.acquire()
            future = self.stub.Analyze.future(request, timeout=120)
            future.add_done_callback(lambda _f: semaphore.release())
            pending.append((i, future))
        for i, future in pending:
            results[i] = future.result()
        return [(req, res) for req, res in zip(requests, results, strict=True) if res is not None]

    def analyze_stack(self, request: analyzer_pb2.AnalyzeStackRequest) -> analyzer_pb2.AnalyzeResponse:
        return self.stub.AnalyzeStack(request, timeout=300)


def _violations(
    response: analyzer_pb2.AnalyzeResponse,
    default_urn: str,
    run: ProgramRun,
    info: PackInfo,
    by_urn: Mapping[str, RegisteredResource],
) -> list[Violation]:
    out = []
    for d in response.diagnostics:
        urn = d.urn or default_urn
        res = by_urn.get(urn)
        message = d.message
        if d.description and message.startswith(d.description):
            message = message[len(d.description) :].lstrip("\n") or d.description
        meta = info.policies.get(d.policyName)
        out.append(
            Violation(
                policy=d.policyName,
                level=LEVELS.get(d.enforcementLevel, "advisory"),
                severity=SEVERITIES.get(d.severity, "") or (meta.severity if meta is not None else ""),
                urn=urn,
                resource_type=res.type if res is not None else ("pulumi:pulumi:Stack" if not urn else urn.split("::")[-2]),
                resource_name=res.name if res is not None else (f"{run.project}-{run.stack}" if not urn else urn.split("::")[-1]),
                message=message,
                description=d.description,
            )
        )
    return out


def run_gate(
    run: ProgramRun, client: AnalyzerClient, raw_config: Mapping[str, Any], *, stack_run: ProgramRun | None = None
) -> GateResult:
    """Configure the pack with *raw_config* and analyze every resource of *run*, then the stack
    (*stack_run* when given: the resources' outputs, where *run* carries their inputs)."""
    t0 = time.perf_counter()
    info = client.info()
    resolved = resolve_config(info, raw_config)
    client.configure(resolved)
    t_config = time.perf_counter()

    by_urn = run.by_urn()
    violations: list[Violation] = []
    for request, response in client.analyze(analyze_requests(run)):
        if response.diagnostics:
            violations.extend(_violations(response, request.urn, run, info, by_urn))
    t_resources = time.perf_counter()
    stack_request = analyze_stack_request(stack_run if stack_run is not None else run)
    violations.extend(_violations(client.analyze_stack(stack_request), "", run, info, by_urn))
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
            "analyze": t_resources - t_config,
            "analyzeStack": t_stack - t_resources,
            "total": t_stack - t0,
        },
    )


@dataclass
class PolicyGate:
    """A started pack plus a connected client, for one or many gate runs (tests share one)."""

    pack_dir: Path = DEFAULT_PACK_DIR
    python: str | None = None
    concurrency: int = 8
    process: PolicyPackProcess | None = None
    client: AnalyzerClient | None = None
    startup_seconds: float = 0.0

    def start(self) -> PolicyGate:
        t0 = time.perf_counter()
        self.process = PolicyPackProcess(self.pack_dir, self.python)
        try:
            port = self.process.start()
            self.client = AnalyzerClient(port, concurrency=self.concurrency)
            self.client.handshake(self.pack_dir)
            self.client.pin_version(_pack_yaml_version(self.pack_dir))
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.perf_counter() - t0
        return self

    def check(self, run: ProgramRun, raw_config: Mapping[str, Any], *, stack_run: ProgramRun | None = None) -> GateResult:
        if self.client is None:
            raise RuntimeError("the policy gate is not started")
        return run_gate(run, self.client, raw_config, stack_run=stack_run)

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


__all__ = [
    "AnalyzerClient",
    "GateResult",
    "PackInfo",
    "PolicyConfigInvalid",
    "PolicyGate",
    "PolicyMeta",
    "PolicyPackProcess",
    "PolicyPackStartFailure",
    "Violation",
    "load_config_file",
    "resolve_config",
    "run_gate",
]
