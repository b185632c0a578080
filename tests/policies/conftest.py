"""One policy pack process per test session (per xdist worker), stopped at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from policy_harness import shared_gate, stop_shared_gate

from gate.analyzer import PolicyGate


@pytest.fixture(scope="session")
def policy_gate() -> Iterator[PolicyGate]:
    yield shared_gate()
    stop_shared_gate()
