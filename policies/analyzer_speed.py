"""Deserialize each resource once per ``AnalyzeStack``, not once per stack policy.

``pulumi_policy`` 1.21's servicer rebuilds every resource of the request (``MessageToDict`` +
``deserialize_properties`` of its properties and of its provider's, then ``unknown_checking_proxy``)
for *each* stack policy: with some forty stack policies that made a 1,600-resource stack take 7.2 s
instead of 4.5 s.  The request does not change between policies, so while one ``AnalyzeStack`` runs
this module memoizes those conversions by the identity of the object they start from.  Policies
read the result through the read-only proxy and never mutate it, so sharing it changes no verdict.

This reaches into the SDK's module (its ``json_format`` and ``deserialize_properties`` names and its
servicer class), so it is fenced like a ``_compat`` module: applied only to the versions it was tested
with; on any other version the pack runs unpatched (slower, same verdicts).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: pulumi_policy versions whose AnalyzeStack this was read against and tested with.
TESTED_PULUMI_POLICY = ("1.21.",)


def share_stack_deserialization() -> bool:
    """Patch the SDK's AnalyzeStack as described above; True if applied, False on an untested version."""
    import pulumi_policy.policy as sdk
    from google.protobuf import json_format
    from pulumi_policy.version import VERSION

    servicer = getattr(sdk, "_PolicyAnalyzerServicer", None)
    if not VERSION.startswith(TESTED_PULUMI_POLICY) or servicer is None:
        return False
    if getattr(servicer.AnalyzeStack, "_shares_deserialization", False):
        return True

    active = False
    memos: list[dict[int, tuple[Any, Any]]] = []

    def memoized(convert: Callable[..., Any]) -> Callable[..., Any]:
        """*convert* memoized by the identity of its argument while an AnalyzeStack runs (plain otherwise).
        Each entry keeps the object it was made from, so its id cannot be reused while the entry lives."""
        memo: dict[int, tuple[Any, Any]] = {}
        memos.append(memo)

        def call(value: Any, *args: Any, **kwargs: Any) -> Any:
            if not active or args or kwargs:
                return convert(value, *args, **kwargs)
            hit = memo.get(id(value))
            if hit is None or hit[0] is not value:
                hit = (value, convert(value))
                memo[id(value)] = hit
            return hit[1]

        return call

    message_to_dict = memoized(json_format.MessageToDict)

    class _JsonFormat:
        """``json_format`` as the SDK module sees it, with MessageToDict memoized."""

        def __getattr__(self, name: str) -> Any:
            return getattr(json_format, name)

        MessageToDict = staticmethod(message_to_dict)  # noqa: N815 - the SDK's name

    original = servicer.AnalyzeStack

    def analyze_stack(self: Any, request: Any, context: Any) -> Any:
        nonlocal active
        active = True
        try:
            return original(self, request, context)
        finally:
            active = False
            for memo in memos:
                memo.clear()

    analyze_stack._shares_deserialization = True  # type: ignore[attr-defined]
    servicer.AnalyzeStack = analyze_stack
    sdk.json_format = _JsonFormat()  # type: ignore[assignment]
    sdk.deserialize_properties = memoized(sdk.deserialize_properties)  # type: ignore[assignment]
    sdk.unknown_checking_proxy = memoized(sdk.unknown_checking_proxy)  # type: ignore[assignment]
    return True
