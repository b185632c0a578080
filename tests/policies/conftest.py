"""One policy pack process per test session (per xdist worker), started by the first end-to-end test
that needs it and stopped at the end; fast-layer tests never start it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from policy_harness import shared_gate, stop_shared_gate

from gate.analyzer import PolicyGate


@pytest.fixture(scope="session", autouse=True)
def _stop_pack_at_session_end() -> Iterator[None]:
    yield
    stop_shared_gate()


@pytest.fixture(scope="session")
def policy_gate() -> PolicyGate:
    return shared_gate()
