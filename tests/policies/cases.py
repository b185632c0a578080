"""Shared shape of the end-to-end rule tests: (policy, case, violating program, clean counterpart)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType

from fast import module_policies

from gate.analyzer import GateResult

Program = Callable[[], None]
#: (policy, case name, a program with exactly that one defect, its clean counterpart)
Case = tuple[str, str, Program, Program]


def case_ids(cases: Sequence[Case]) -> list[str]:
    return [f"{c[0]}:{c[1]}" for c in cases]


def explain(result: GateResult) -> str:
    return "\n".join(f"{v.policy}: {v.message}" for v in result.violations)


def assert_only(result: GateResult, policy: str) -> None:
    """Exactly *policy* fired, at the mandatory level (prod.json), and the gate fails."""
    assert result.fired() == {policy}, explain(result)
    assert all(v.level == "mandatory" for v in result.violations)
    assert not result.passed


def assert_clean(result: GateResult) -> None:
    assert result.violations == [], explain(result)
    assert result.passed


def assert_every_policy_has_a_case(module: ModuleType, *case_lists: Sequence[Case]) -> None:
    """Each policy constant of a rule module has at least one violating case in its test file."""
    covered = {c[0] for cases in case_lists for c in cases}
    assert covered == set(module_policies(module)), f"cases cover {sorted(covered)}"
