"""`pulumi up` on a stack deployed before ResilientPostgres replaces nothing: every old URN is still there or aliased.

The old URN sets were recorded from the stack program as it was before the component existed
(tests/fixtures/urns/).  The new program runs under the same mocks; each resource's aliases are
resolved the way the engine resolves them: its own alias specs (``noParent`` = a root resource),
plus the aliases inherited from its parent's aliases (same type, the parent's alias as parent, and
the parent's old name in place of its new one when the child's name starts with it).
The mocks put the root stack's type in front of top-level URNs and the engine does not; both sides
are compared without it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stack_helpers import NS, PROJECT_DIR, cached_run, stack_config

from gate import program
from gate.program import STACK_TYPE, run_program

FIXTURES = PROJECT_DIR / "tests" / "fixtures" / "urns"
VARIANTS = [("dev", False), ("prod", False), ("prod", True)]


def _normalize(urn: str) -> str:
    return urn.replace(f"::{STACK_TYPE}$", "::", 1)


def _urn(stack: str, project: str, parent_urn: str | None, type_: str, name: str) -> str:
    qualified = type_
    if parent_urn:
        parent_type = parent_urn.split("::")[2]
        if parent_type != STACK_TYPE:
            qualified = f"{parent_type}${type_}"
    return f"urn:pulumi:{stack}::{project}::{qualified}::{name}"


def _name(urn: str) -> str:
    return urn.split("::", 3)[3]


class _Recorder:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def record(self, request: Any, response: Any) -> None:
        self.requests.append(
            {"type": request.type, "name": request.name, "parent": request.parent, "urn": response.urn,
             "aliases": list(request.aliases)}
        )

    def alias_urns(self, stack: str, project: str) -> dict[str, set[str]]:
        """Every registered URN (normalized) -> the normalized URNs it answers to (itself and its aliases)."""
        by_urn = {r["urn"]: r for r in self.requests}
        resolved: dict[str, set[str]] = {}
        for r in self.requests:  # parents register before their children
            if r["type"] == STACK_TYPE:
                continue
            names: set[str] = set()
            for alias in r["aliases"]:
                if alias.urn:
                    names.add(alias.urn)
                    continue
                spec = alias.spec
                parent = None if spec.noParent else (spec.parentUrn or r["parent"])
                names.add(_urn(stack, project, parent, spec.type or r["type"], spec.name or r["name"]))
            parent = by_urn.get(r["parent"])
            if parent is not None and parent["type"] != STACK_TYPE:
                for parent_alias in resolved[parent["urn"]] - {_normalize(parent["urn"])}:
                    child_name = r["name"]
                    if child_name.startswith(parent["name"]):
                        child_name = _name(parent_alias) + child_name[len(parent["name"]):]
                    names.add(_urn(stack, project, parent_alias, r["type"], child_name))
            resolved[r["urn"]] = {_normalize(u) for u in {r["urn"], *names}}
        return resolved


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Recorder]:
    rec = _Recorder()
    original = program._CapturingMonitor.RegisterResource

    def recording(self: Any, request: Any) -> Any:
        response = original(self, request)
        rec.record(request, response)
        return response

    monkeypatch.setattr(program._CapturingMonitor, "RegisterResource", recording)
    yield rec


def _old_urns(stack: str, with_lambda: bool) -> list[str]:
    path = FIXTURES / f"{stack}{'-lambda' if with_lambda else ''}.txt"
    return [_normalize(line) for line in path.read_text().splitlines() if line]


@pytest.mark.parametrize(("stack", "with_lambda"), VARIANTS, ids=[f"{s}{'-lambda' if w else ''}" for s, w in VARIANTS])
def test_every_old_urn_is_still_declared_or_aliased(recorder: _Recorder, stack: str, with_lambda: bool, tmp_path: Path) -> None:
    config = stack_config(stack)
    if with_lambda:
        archive = tmp_path / "lambda-layer.zip"
        archive.write_bytes(b"PK\x05\x06" + bytes(18))
        config[f"{NS}:lambdaFunction"].update({"enabled": True, "layerArchive": str(archive)})
    run = run_program(PROJECT_DIR, stack, config=config)
    answers = recorder.alias_urns(stack, run.project)
    old = _old_urns(stack, with_lambda)
    matched: dict[str, list[str]] = {u: [new for new, names in answers.items() if u in names] for u in old}
    assert [u for u, new in matched.items() if not new] == [], "old URNs no resource answers to"
    # One new resource per old one: an alias never folds two deployed resources into one.
    assert all(len(new) == 1 for new in matched.values())
    assert len({new[0] for new in matched.values()}) == len(old)
    # The only resources without a past are the component itself and what on-call got with it.
    added = {_normalize(u) for u in answers} - {new[0] for new in matched.values()} - set(old)
    assert sorted(u.split("::")[2].rsplit("$", 1)[-1] for u in added) == sorted(NEW_TYPES)


#: Resources the component added to the stacks (no deployed URN to keep).
NEW_TYPES = (
    "resilient-rds:index:ResilientPostgres",
    "resilient-rds:events:DatabaseEvents",
    "aws:rds/eventSubscription:EventSubscription",
    "resilient-rds:dashboard:Dashboard",
    "aws:cloudwatch/dashboard:Dashboard",
)
#: Exports added with them; every older export keeps its name.
NEW_EXPORTS = ("dashboardName", "dashboardUrl", "eventSubscriptionId")


def test_exports_keep_their_names() -> None:
    import json

    for stack in ("dev", "prod"):
        expected = json.loads((FIXTURES / f"{stack}-exports.json").read_text())
        assert sorted(cached_run(stack).outputs) == sorted([*expected, *NEW_EXPORTS])
