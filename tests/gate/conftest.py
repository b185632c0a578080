"""The gate tests share the policy tests' pack process (see tests/policies/policy_harness.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "policies"))

from policy_harness import shared_gate, stop_shared_gate  # noqa: E402

from gate.analyzer import PolicyGate  # noqa: E402


@pytest.fixture(scope="session")
def policy_gate() -> Iterator[PolicyGate]:
    yield shared_gate()
    stop_shared_gate()
