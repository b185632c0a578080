"""The stack index a stack policy judges: resources by URN and by type, and reference resolution."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import StackValidationArgs

from .property_values import is_unknown, plain
from .resource_types import label


class Res:
    """One resource of the stack.  Properties and property dependencies are converted on first use:
    a stack policy reads the few resource types it judges, not all of a large stack."""

    __slots__ = ("urn", "type", "name", "parent", "_raw_props", "_raw_deps", "_props", "_deps", "_raw_provider")

    def __init__(
        self, urn: str, type_: str, name: str, raw_props: Any, raw_deps: Any, parent: str | None = None,
        raw_provider_props: Any = None,
    ) -> None:
        self.urn = urn
        self.type = type_
        self.name = name
        self.parent = parent
        self._raw_provider = raw_provider_props
        self._raw_props = raw_props
        self._raw_deps = raw_deps
        self._props: dict[str, Any] | None = None
        self._deps: dict[str, list[str]] | None = None

    @property
    def props(self) -> dict[str, Any]:
        """The resource's properties, a property the provider computes on its own left out.

        In a preview's planned outputs (``AnalyzeStack`` of a new stack) the engine shows every property the
        provider computes as unknown, including ones the program omitted (``storageEncrypted``, a key's
        ``policy``, ``inlinePolicies``).  A top-level unknown WITH a property dependency was computed from
        another resource by the program; one WITHOUT was not set by the program, so it is left out here and
        every stack policy judges it at its AWS/provider default, exactly as in the inputs and the deployed
        state.  (Resource policies see the inputs, which never hold provider-computed unknowns.)
        """
        if self._props is None:
            converted = plain(self._raw_props)
            props = converted if isinstance(converted, dict) else {}
            self._props = {k: v for k, v in props.items() if not (is_unknown(v) and not self.deps(k))}
        return self._props

    @property
    def provider_props(self) -> dict[str, Any] | None:
        """The properties of the provider that manages the resource (its ``region``), None if not sent."""
        if self._raw_provider is None:
            return None
        converted = plain(self._raw_provider)
        return converted if isinstance(converted, dict) else None

    @property
    def provider_region(self) -> str | None:
        """The known ``region`` of the resource's explicit provider (None: the default provider, or not set)."""
        region = (self.provider_props or {}).get("region")
        return region if isinstance(region, str) and region else None

    @property
    def prop_deps(self) -> dict[str, list[str]]:
        if self._deps is None:
            raw = self._raw_deps or {}
            self._deps = {k: [d if isinstance(d, str) else d.urn for d in v] for k, v in raw.items()}
        return self._deps

    @property
    def label(self) -> str:
        return label(self.type, self.name)

    def deps(self, prop: str) -> list[str]:
        return self.prop_deps.get(prop, [])


@dataclass
class StackIndex:
    resources: list[Res]
    by_urn: dict[str, Res] = field(default_factory=dict)
    by_type: dict[str, list[Res]] = field(default_factory=dict)

    @classmethod
    def build(cls, args: StackValidationArgs) -> StackIndex:
        resources = []
        for r in args.resources:
            parent = r.parent.urn if r.parent is not None else None
            provider = r.provider.props if r.provider is not None else None
            resources.append(Res(r.urn, r.resource_type, r.name, r.props, r.property_dependencies, parent, provider))
        index = cls(resources)
        for res in resources:
            index.by_urn[res.urn] = res
            index.by_type.setdefault(res.type, []).append(res)
        return index

    def of_type(self, type_: str) -> list[Res]:
        return self.by_type.get(type_, [])

    def referenced(self, res: Res, prop: str, type_: str) -> list[Res]:
        """Resources of *type_* that *res*'s property *prop* was computed from."""
        out = []
        for urn in res.deps(prop):
            dep = self.by_urn.get(urn)
            if dep is not None and dep.type == type_:
                out.append(dep)
        return out

    def _follow(self, res: Res, prop: str, type_: str, depth: int) -> list[Res]:
        """Like :meth:`referenced`, also through intermediates that pass the same property on
        (``db_proxy_name=target_group.db_proxy_name`` depends on the target group, not the proxy)."""
        found = self.referenced(res, prop, type_)
        if found or depth == 0:
            return found
        for urn in res.deps(prop):
            dep = self.by_urn.get(urn)
            if dep is not None and dep.deps(prop):
                found = self._follow(dep, prop, type_, depth - 1)
                if found:
                    return found
        return []

    def resolve(self, res: Res, prop: str, type_: str, value: Any, keys: Iterable[str]) -> Res | None:
        """The resource of *type_* a reference property points to.

        First by property dependency (works with unknown values), then by a known value
        equal to one of *keys* (for example ``identifier`` or ``name``) of a resource of that type.
        """
        refs = self._follow(res, prop, type_, depth=3)
        if refs:
            return refs[0]
        if isinstance(value, str) and value:
            for candidate in self.of_type(type_):
                for key in keys:
                    if candidate.props.get(key) == value:
                        return candidate
        return None
