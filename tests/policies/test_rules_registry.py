"""policies/rules/registry.py: one list of named policies, unique names, every constant registered."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from fast import module_policies
from pulumi_policy import ResourceValidationPolicy, Severity, StackValidationPolicy

from gate.analyzer import PolicyGate
from policies import rules
from policies.rules.availability import RDS_MULTI_AZ
from policies.rules.policy_factory import resource_policy
from policies.rules.registry import POLICIES, DuplicatePolicyName, all_policies, unique_by_name
from policies.rules.resource_types import INSTANCE


def _rule_modules() -> dict[str, object]:
    """Every module of policies/rules that defines policy constants."""
    modules = {}
    for info in pkgutil.iter_modules(rules.__path__):
        module = importlib.import_module(f"policies.rules.{info.name}")
        if module_policies(module) and info.name != "registry":
            modules[info.name] = module
    return modules


def test_a_duplicate_name_is_rejected_naming_it():
    twin = resource_policy("rds-multi-az", "Another policy under a taken name.", (INSTANCE,),
                           lambda *_: None, severity=Severity.LOW)
    with pytest.raises(DuplicatePolicyName, match='"rds-multi-az" is registered twice'):
        unique_by_name([RDS_MULTI_AZ, *POLICIES[:2], twin])
    with pytest.raises(DuplicatePolicyName):
        unique_by_name([RDS_MULTI_AZ, RDS_MULTI_AZ])


def test_registered_names_are_unique_and_registration_keeps_order():
    names = [p.name for p in POLICIES]
    assert len(names) == len(set(names))
    assert unique_by_name(POLICIES) == POLICIES
    assert all_policies() == list(POLICIES) and all_policies() is not all_policies()


def test_every_policy_constant_is_registered_exactly_once():
    registered = {id(p) for p in POLICIES}
    defined = {}
    for name, module in _rule_modules().items():
        for policy in module_policies(module).values():  # type: ignore[arg-type]
            defined[id(policy)] = f"{name}.{policy.name}"
    missing = sorted(v for k, v in defined.items() if k not in registered)
    assert not missing, f"policy constants not in policies/rules/registry.py POLICIES: {missing}"
    assert registered <= set(defined), "the registry lists a policy that no rule module defines as a constant"


def test_constant_names_follow_policy_names():
    for module in _rule_modules().values():
        for attr, value in vars(module).items():
            if isinstance(value, ResourceValidationPolicy | StackValidationPolicy):
                assert attr == value.name.upper().replace("-", "_"), f"{attr} holds {value.name}"


def test_the_running_pack_serves_exactly_the_registry(policy_gate: PolicyGate):
    assert list(policy_gate.info().policies) == [p.name for p in POLICIES]
