"""Helpers shared by the infrastructure tests (imported by name; pytest puts this directory on sys.path)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gate import program
from gate.program import UNKNOWN, ProgramRun, RegisteredResource, Secret, run_program

PROJECT_DIR = Path(__file__).resolve().parents[2]
STACKS = ("dev", "prod")
NS = "resilient-rds"

_cache: dict[tuple[str, bool], ProgramRun] = {}


def stack_config(stack: str) -> dict[str, Any]:
    """A deep copy of ``Pulumi.<stack>.yaml``'s config, safe to modify."""
    return copy.deepcopy(program.read_stack_config(PROJECT_DIR, stack))


def namespace_source(config: dict[str, Any]) -> dict[str, str]:
    """The ``resilient-rds:*`` keys of a stack config as Pulumi hands them to the program (structures as JSON)."""
    prefix = f"{NS}:"
    return {
        key[len(prefix):]: value if isinstance(value, str) else json.dumps(value)
        for key, value in config.items()
        if key.startswith(prefix) and value is not None
    }


def cached_run(stack: str, *, unknown_computed: bool = True) -> ProgramRun:
    key = (stack, unknown_computed)
    if key not in _cache:
        _cache[key] = run_program(PROJECT_DIR, stack, unknown_computed=unknown_computed)
    return _cache[key]


def set_config(config: dict[str, Any], dotted: str, value: Any) -> None:
    """``set_config(cfg, "resilient-rds:proxy.maxConnectionsPercent", 50)``; value None deletes."""
    top, _, rest = dotted.partition(".")
    if not rest:
        if value is None:
            config.pop(top, None)
        else:
            config[top] = value
        return
    target = config.setdefault(top, {})
    parts = rest.split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    if value is None:
        target.pop(parts[-1], None)
    else:
        target[parts[-1]] = value


def run_changed(stack: str, changes: dict[str, Any], *, unknown_computed: bool = True) -> ProgramRun:
    config = stack_config(stack)
    for key, value in changes.items():
        set_config(config, key, value)
    return run_program(PROJECT_DIR, stack, config=config, unknown_computed=unknown_computed)


def only(run: ProgramRun, type_: str) -> RegisteredResource:
    found = run.by_type(type_)
    assert len(found) == 1, f"expected one {type_}, found {[r.name for r in found]}"
    return found[0]


def named(run: ProgramRun, name: str) -> RegisteredResource:
    found = [r for r in run.resources if r.name == name]
    assert len(found) == 1, f"expected one resource named {name}, found {len(found)}"
    return found[0]


def policy(document: Any) -> dict[str, Any]:
    assert isinstance(document, str), f"policy document should be JSON text, got {document!r}"
    return json.loads(document)


def walk(value: Any) -> Iterator[Any]:
    """Every leaf of a nested input value, secrets unwrapped (with their marker first)."""
    if isinstance(value, dict):
        for v in value.values():
            yield from walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v)
    elif isinstance(value, Secret):
        yield value
        yield from walk(value.value)
    else:
        yield value


def plain_strings(value: Any) -> Iterator[str]:
    """Strings reachable WITHOUT passing through a Secret marker."""
    if isinstance(value, Secret) or value is UNKNOWN:
        return
    if isinstance(value, dict):
        for v in value.values():
            yield from plain_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from plain_strings(v)
    elif isinstance(value, str):
        yield value
