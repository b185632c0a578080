"""The pack's AnalyzeStack speed-up is applied on the pinned pulumi_policy and is fenced to it."""

from __future__ import annotations

import pulumi_policy.policy as sdk
from pulumi_policy.version import VERSION

from policies import analyzer_speed


def test_applied_on_the_pinned_sdk_and_idempotent() -> None:
    assert VERSION.startswith(analyzer_speed.TESTED_PULUMI_POLICY), (
        f"pulumi_policy {VERSION} is not one policies/analyzer_speed.py was read against: check its "
        "AnalyzeStack still deserializes per policy, then add the version to TESTED_PULUMI_POLICY"
    )
    assert analyzer_speed.share_stack_deserialization()
    assert analyzer_speed.share_stack_deserialization()  # a second call does not wrap twice
    assert sdk._PolicyAnalyzerServicer.AnalyzeStack._shares_deserialization


def test_outside_analyze_stack_the_conversions_are_the_sdks() -> None:
    analyzer_speed.share_stack_deserialization()
    first = sdk.deserialize_properties({"a": 1})
    second = sdk.deserialize_properties({"a": 1})
    assert first == second == {"a": 1} and first is not second  # not memoized between requests
