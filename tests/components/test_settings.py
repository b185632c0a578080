"""The settings declaration is the one source: README table, generated args and the reader all follow it."""

from __future__ import annotations

import dataclasses

import pytest
from stack_helpers import PROJECT_DIR

from components import args, settings, sizing
from components.config import StackConfig


def test_readme_configuration_table_matches_the_declaration() -> None:
    readme = (PROJECT_DIR / "README.md").read_text()
    assert settings.README_BEGIN in readme and settings.README_END in readme
    assert settings.readme_with_table(readme) == readme, "README's table drifted: run `python -m components.settings`"


def test_generated_args_module_matches_the_declaration() -> None:
    current = (PROJECT_DIR / "components" / "args.py").read_text()
    assert settings.args_module() == current, "components/args.py drifted: run `python -m components.settings`"


def test_every_declared_setting_has_one_name() -> None:
    seen: set[str] = set()
    for dotted, setting in settings.all_settings():
        assert dotted not in seen
        seen.add(dotted)
        # The package schema camel-cases the Python attribute: it must give the stack key back.
        assert settings.camel_case(setting.attr) == setting.key, dotted
        assert setting.description.endswith("."), dotted


@pytest.mark.parametrize("section", settings.SECTIONS, ids=lambda s: s.key)
def test_args_and_resolved_classes_have_exactly_the_declared_fields(section: settings.Section) -> None:
    declared = [s.attr for s in section.settings]
    consumer = getattr(args, f"{section.class_stem}Args")
    assert sorted(f.name for f in dataclasses.fields(consumer)) == sorted(declared)
    resolved = sizing.Workload if section.resolved_elsewhere else getattr(args, f"{section.class_stem}Settings")
    assert [f.name for f in dataclasses.fields(resolved)] == declared
    assert section.attr in {f.name for f in dataclasses.fields(StackConfig)}
    assert section.attr in {f.name for f in dataclasses.fields(args.ResilientPostgresArgs)}


def test_durations_carry_their_unit_in_the_name() -> None:
    for dotted, setting in settings.all_settings():
        if setting.unit in ("seconds", "ms", "days"):
            suffix = {"seconds": "_s", "ms": "_ms", "days": "_days"}[setting.unit]
            assert setting.attr.endswith(suffix), dotted


def test_a_range_message_names_every_bound_and_choice() -> None:
    monitoring = settings.section("database").setting("monitoringIntervalS")
    assert monitoring.expected() == "expected one of 1, 5, 10, 15, 30, 60 seconds (enhanced monitoring)"
    borrow = settings.section("proxy").setting("connectionBorrowTimeoutS")
    assert borrow.expected() == "expected a whole number from 1 to 300 seconds (the RDS Proxy maximum is 300)"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_settings_become_the_component_args_unchanged(stack: str) -> None:
    from stack_helpers import namespace_source, stack_config

    from components.config import load_config, validate_args

    config = load_config(namespace_source(stack_config(stack)), stack=stack, region="us-east-1")
    again = validate_args(config.to_args(), stack=stack, region="us-east-1")
    assert again == config


def test_component_outputs_are_the_annotated_ones() -> None:
    from components.resilient_postgres import ResilientPostgres

    annotated = [settings.camel_case(n) for n in ResilientPostgres.__annotations__]
    assert "proxyEndpoint" in annotated and "connectionBudget" in annotated and "secretArn" in annotated
    assert len(annotated) == len(set(annotated))
