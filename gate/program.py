"""Run a Pulumi Python program offline, under Pulumi mocks, and capture what it declares.

This is the "engine" half of the offline preview: no Pulumi CLI, no cloud.  The
program's ``__main__.py`` runs in this process against a mock resource monitor
that records every ``RegisterResource`` request exactly as the CLI would receive
it: type, name, parent, inputs (as the protobuf ``Struct`` the SDK serialized,
with unknowns and secrets in their wire form), dependencies and property
dependencies.  The policy gate forwards these to the analyzer unchanged.

With ``unknown_computed=True`` (the default, like a first ``pulumi preview``)
the mocks resolve nothing the provider would compute: ids, ARNs and endpoints
stay unknown, so policies must work from property dependencies.  With
``unknown_computed=False`` they get plausible fake values, which tests use to
check exports such as the ``rds-db:connect`` ARN.
"""

from __future__ import annotations

import asyncio
import json
import os
import runpy
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime
import yaml
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_in_stack

from gate.fakes import fake_outputs
from gate.provider_check import checked_inputs

STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass
class RegisteredResource:
    """One resource as the program declared it."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    provider: str
    #: Inputs as the SDK put them on the wire (camelCase keys, unknown/secret sentinels).
    properties: struct_pb2.Struct
    #: The same inputs deserialized to Python (unknowns as ``UNKNOWN``, secrets unwrapped).
    inputs: dict[str, Any]
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    #: What the mocks returned as the resource's state (inputs plus fake computed values).
    outputs: dict[str, Any]
    id: str


@dataclass
class ProgramRun:
    project: str
    stack: str
    resources: list[RegisteredResource]
    #: Stack exports, deserialized (secrets stay wrapped as ``pulumi.Output``-free ``Secret``).
    outputs: dict[str, Any] = field(default_factory=dict)
    #: Names of exports that are secret.
    secret_outputs: set[str] = field(default_factory=set)
    #: The stack config the program ran with (``Pulumi.<stack>.yaml``'s ``config:`` or the override).
    config: dict[str, Any] = field(default_factory=dict)
    #: True when provider-computed values stayed unknown (a first preview), False when they got fake values.
    unknown_computed: bool = True
    #: True when the inputs were planned through the provider's Check (:mod:`gate.provider_check`).
    provider_check: bool = False

    def by_type(self, type_: str) -> list[RegisteredResource]:
        return [r for r in self.resources if r.type == type_]

    def by_urn(self) -> dict[str, RegisteredResource]:
        return {r.urn: r for r in self.resources}

    def stack_urn(self) -> str:
        return f"urn:pulumi:{self.stack}::{self.project}::{STACK_TYPE}::{self.project}-{self.stack}"


class _Unknown:
    """Marker for a value that is not known until the resource is created."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = _Unknown()


@dataclass(frozen=True)
class Secret:
    """A secret value in captured inputs or exports; ``repr`` never shows it."""

    value: Any

    def __repr__(self) -> str:
        return "[secret]"


def _plain(value: Any) -> Any:
    """Turn a deserialized wire value into plain Python with UNKNOWN / Secret markers."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return Secret(_plain(value.get("value")))
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if value == rpc.UNKNOWN:
        return UNKNOWN
    return value


def _from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    """Deserialize a wire ``Struct`` to plain Python, keeping unknown and secret markers."""
    return {k: _plain(v) for k, v in json_format.MessageToDict(struct).items()}


class _CapturingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
        super().__init__(mocks)
        self.captured: list[RegisteredResource] = []
        self.stack_outputs: struct_pb2.Struct | None = None
        self.stack_urn = ""
        self._lock = threading.Lock()
        #: Event loops made for the SDK's executor threads (it needs one per thread to deserialize).
        self.thread_loops: list[asyncio.AbstractEventLoop] = []

    def _ensure_thread_loop(self) -> None:
        """Give this executor thread an event loop we can close ourselves once the run is over.

        Left to the SDK, each thread's loop is only reclaimed by the garbage collector, whose
        ``__del__`` then fails on an already-closed self-pipe ("Invalid file descriptor: -1").
        """
        try:
            asyncio.get_event_loop()
        except RuntimeError:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            with self._lock:
                self.thread_loops.append(loop)

    def Invoke(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        self._ensure_thread_loop()
        return super().Invoke(request)

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        self._ensure_thread_loop()
        response = super().RegisterResource(request)
        if request.type == STACK_TYPE:
            self.stack_urn = response.urn
            return response
        outputs = _from_struct(response.object) if response.object else {}
        record = RegisteredResource(
            urn=response.urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent,
            provider=request.provider,
            properties=_copy_struct(request.object),
            inputs=_from_struct(request.object),
            dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            outputs=outputs,
            id=response.id,
        )
        with self._lock:
            self.captured.append(record)
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802
        if request.urn == self.stack_urn:
            self.stack_outputs = _copy_struct(request.outputs)
        return super().RegisterResourceOutputs(request)


def _copy_struct(struct: struct_pb2.Struct) -> struct_pb2.Struct:
    copy = struct_pb2.Struct()
    copy.CopyFrom(struct)
    return copy


class OfflineMocks(pulumi_mocks.Mocks):
    """Mocks that echo inputs and, unless told otherwise, leave computed values unknown.

    With ``provider_check`` they echo the inputs as the provider's Check returns them (auto-names
    and schema defaults filled in, see :mod:`gate.provider_check`), as the real engine plans them.
    """

    def __init__(
        self, *, unknown_computed: bool, region: str, account_id: str = "123456789012", provider_check: bool = False
    ) -> None:
        self.unknown_computed = unknown_computed
        self.region = region
        self.account_id = account_id
        self.provider_check = provider_check

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        inputs = checked_inputs(args.typ, args.name, args.inputs) if self.provider_check else dict(args.inputs)
        if self.unknown_computed:
            # An empty id during preview is how the engine says "not known yet".
            return "", inputs
        resource_id, computed = fake_outputs(args.typ, args.name, inputs, self.region, self.account_id)
        return resource_id, {**computed, **inputs}

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        # Failures must be a list (empty): the SDK iterates it, and None crashes every invoke.
        token = args.token
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": self.account_id, "arn": f"arn:aws:iam::{self.account_id}:root", "userId": "AIDA"}, []
        if token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region}, []
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}, []
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{self.region}{s}" for s in "abc"]
            return {"names": names, "zoneIds": [f"use1-az{i}" for i in range(1, 4)], "id": self.region}, []
        if token == "aws:iam/getPolicyDocument:getPolicyDocument":
            return {"json": json.dumps(_policy_document(args.args)), "id": "policy"}, []
        raise NotImplementedError(f"the offline preview has no mock for the data source {token}")


def _policy_document(args: Mapping[str, Any]) -> dict[str, Any]:
    statements = []
    for st in args.get("statements", []) or []:
        out: dict[str, Any] = {"Effect": st.get("effect", "Allow")}
        if st.get("sid"):
            out["Sid"] = st["sid"]
        for key, wire in (("actions", "Action"), ("resources", "Resource")):
            if st.get(key):
                out[wire] = st[key]
        if st.get("principals"):
            out["Principal"] = {p["type"]: p["identifiers"] for p in st["principals"]}
        if st.get("conditions"):
            cond: dict[str, dict[str, Any]] = {}
            for c in st["conditions"]:
                cond.setdefault(c["test"], {})[c["variable"]] = c["values"]
            out["Condition"] = cond
        statements.append(out)
    return {"Version": "2012-10-17", "Statement": statements}


class _StackFileLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader (C parser when present) that refuses duplicate keys instead of keeping the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (YAML would keep only the last one)", key_node.start_mark
                )
            seen.add(key)
        return dict(super().construct_mapping(node, deep=deep))


_YAML_LOADER = _StackFileLoader


class StackFileError(ValueError):
    """``Pulumi.<stack>.yaml`` cannot be read as a stack file; the message names the file (and line and column)."""


def read_stack_config(project_dir: Path, stack: str) -> dict[str, Any]:
    """The ``config:`` map of ``Pulumi.<stack>.yaml`` (plain values; no secure values).

    Raises :class:`StackFileError` naming the file for anything that is not a stack file: bytes that are
    not UTF-8 text, YAML syntax (with line and column), a root or ``config`` that is not a mapping.
    """
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"no stack file {path.name} in {project_dir}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StackFileError(f"{path.name} is not a text file (not UTF-8 at byte {exc.start}); expected YAML") from None
    if "\x00" in text:
        raise StackFileError(f"{path.name} is not a text file (it contains NUL bytes); expected YAML")
    try:
        data = yaml.load(text, Loader=_YAML_LOADER)  # the C loader when present: same safe subset, faster
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise StackFileError(f"{path.name} is not valid YAML{where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise StackFileError(f"{path.name}: the top level is a {type(data).__name__}, expected a mapping with a 'config' key")
    config = data.get("config")
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise StackFileError(f"{path.name}: 'config' is a {type(config).__name__}, expected a mapping of settings")
    bad_keys = [k for k in config if not isinstance(k, str)]
    if bad_keys:
        raise StackFileError(f"{path.name}: config key {bad_keys[0]!r} is not a string; expected 'namespace:key'")
    return config


def read_project_name(project_dir: Path) -> str:
    data = yaml.safe_load((project_dir / "Pulumi.yaml").read_text()) or {}
    name = data.get("name")
    if not isinstance(name, str):
        raise ValueError(f"{project_dir / 'Pulumi.yaml'}: 'name' is missing")
    return name


def run_program(
    project_dir: Path | str,
    stack: str,
    *,
    config: Mapping[str, Any] | None = None,
    unknown_computed: bool = True,
    program: Callable[[], None] | None = None,
    provider_check: bool = False,
) -> ProgramRun:
    """Run the program in *project_dir* for *stack* under mocks and return what it declared.

    *config* replaces the stack file's ``config:`` map when given (tests use it for
    bad configs).  *program* replaces ``__main__.py`` (synthetic stacks).  *provider_check* makes
    the mocks plan the inputs as the provider's Check returns them (:mod:`gate.provider_check`).
    Exceptions raised by the program (for example a config validation error)
    propagate unchanged.
    """
    project_dir = Path(project_dir).resolve()
    project = read_project_name(project_dir)
    raw_config = dict(config) if config is not None else read_stack_config(project_dir, stack)
    # As the CLI does: a key without a namespace belongs to the project's namespace.
    raw_config = {key if ":" in key else f"{project}:{key}": value for key, value in raw_config.items()}
    region = str(raw_config.get("aws:region", "us-east-1"))

    mocks = OfflineMocks(unknown_computed=unknown_computed, region=region, provider_check=provider_check)
    monitor = _CapturingMonitor(mocks)

    def default_program() -> None:
        runpy.run_path(str(project_dir / "__main__.py"), run_name="__pulumi_program__")

    body = program or default_program
    added_path = str(project_dir) not in sys.path
    if added_path:
        sys.path.insert(0, str(project_dir))
    old_cwd = os.getcwd()
    os.chdir(project_dir)
    # The SDK binds its bookkeeping to the current event loop, so the loop must exist
    # before set_mocks() and stay current until the program has finished.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=True, monitor=monitor)
        # set_mocks() makes a root stack of its own; run_in_stack() below makes the real one.
        pulumi_settings.set_root_resource(None)  # type: ignore[arg-type]
        pulumi.runtime.set_all_config(
            {k: v if isinstance(v, str) else json.dumps(v) for k, v in raw_config.items()},
        )
        loop.run_until_complete(run_in_stack(body))
    finally:
        # Mock invokes run in the loop's default executor, and each worker thread gets an event
        # loop of its own; join the workers now so those loops are freed while the interpreter is
        # healthy, not at exit (where their __del__ fails with "Invalid file descriptor: -1").
        loop.run_until_complete(loop.shutdown_default_executor())
        asyncio.set_event_loop(None)
        loop.close()
        for thread_loop in monitor.thread_loops:
            thread_loop.close()
        os.chdir(old_cwd)
        if added_path:
            sys.path.remove(str(project_dir))
        pulumi.runtime.set_all_config({})

    run = ProgramRun(
        project=project,
        stack=stack,
        resources=list(monitor.captured),
        config=raw_config,
        unknown_computed=unknown_computed,
        provider_check=provider_check,
    )
    if monitor.stack_outputs is not None:
        for key, value in _from_struct(monitor.stack_outputs).items():
            plain = value
            if isinstance(plain, Secret):
                run.secret_outputs.add(key)
            run.outputs[key] = plain
    return run
