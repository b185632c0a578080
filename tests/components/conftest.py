"""Fixtures for the infrastructure program's tests: offline runs of the real ``__main__.py``.

Runs are cached per process (one per stack and mode) because most tests read the
same graph; tests that change the config run the program themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from stack_helpers import STACKS, cached_run

from gate import program
from gate.program import ProgramRun


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def run(stack: str) -> ProgramRun:
    """The stack's program as a first preview sees it: computed values unknown."""
    return cached_run(stack)


@pytest.fixture
def known_run(stack: str) -> ProgramRun:
    """The stack's program with plausible fake computed values (ARNs, endpoints)."""
    return cached_run(stack, unknown_computed=False)


@pytest.fixture
def registered_types(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every resource type sent to the mock monitor while the test runs (the stack included)."""
    seen: list[str] = []
    original = program._CapturingMonitor.RegisterResource

    def recording(self: Any, request: Any) -> Any:
        seen.append(request.type)
        return original(self, request)

    monkeypatch.setattr(program._CapturingMonitor, "RegisterResource", recording)
    yield seen


@pytest.fixture
def component_outputs(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    """URN -> the outputs each resource registered with ``register_outputs`` while the test runs."""
    seen: dict[str, dict[str, Any]] = {}
    original = program._CapturingMonitor.RegisterResourceOutputs

    def recording(self: Any, request: Any) -> Any:
        seen[request.urn] = program._from_struct(request.outputs)
        return original(self, request)

    monkeypatch.setattr(program._CapturingMonitor, "RegisterResourceOutputs", recording)
    return seen
