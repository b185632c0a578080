"""policies/reference.py: the README's policy reference is generated from the registry and the configs."""

from __future__ import annotations

import pytest
from pulumi_policy import EnforcementLevel, Severity

from policies import reference
from policies.rules.policy_factory import resource_policy
from policies.rules.registry import POLICIES


def test_readme_policy_reference_matches_the_registry_and_configs():
    table = reference.render()
    assert reference.readme_table(reference.README.read_text()) == table, (
        "README.md's policy reference is out of date: run `python -m policies.reference --write`"
    )
    assert reference.main(["--check"]) == 0


def test_every_registered_policy_has_a_row_with_its_levels():
    rows = reference.render().splitlines()[2:]
    assert [row.split(" | ")[0].strip("| `") for row in rows] == [p.name for p in POLICIES]
    levels = {"advisory", "mandatory", "remediate", "disabled"}
    assert all(set(row.strip(" |").split(" | ")[-2:]) <= levels for row in rows), rows


def test_levels_come_from_the_entry_then_all_then_the_declaration():
    policy = resource_policy("demo-policy", "Checks a | b.", ("aws:rds/instance:Instance",), lambda *_: None,
                             severity=Severity.LOW, enforcement_level=EnforcementLevel.ADVISORY)
    configs = {"dev": {"all": "disabled"}, "prod": {"demo-policy": {"enforcementLevel": "mandatory", "x": 1}}}
    assert reference.render([policy], configs).splitlines()[2] == "| `demo-policy` | Checks a \\| b. | disabled | mandatory |"
    assert reference.level(policy, {}) == "advisory"


def test_missing_markers_are_a_clear_error():
    with pytest.raises(reference.ReferenceError, match="no policy reference"):
        reference.readme_table("# README without the table\n")
    text = f"intro\n{reference.BEGIN}\nold\n{reference.END}\noutro\n"
    assert reference.with_table(text, "new") == f"intro\n{reference.BEGIN}\nnew\n{reference.END}\noutro\n"
