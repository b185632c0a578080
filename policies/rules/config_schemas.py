"""Policy configuration: schema builders and reading a policy's settings with the schema defaults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyConfigSchema


def string_list_schema(key: str, description: str, *, pattern: str | None = None) -> PolicyConfigSchema:
    """A config schema with one optional list of strings (allow-lists and extra names), empty by default."""
    items: dict[str, Any] = {"type": "string", "minLength": 1}
    if pattern is not None:
        items = {"type": "string", "pattern": pattern}
    return PolicyConfigSchema(
        properties={key: {"type": "array", "items": items, "default": [], "description": description}}
    )


def config_value(config: Mapping[str, Any], schema: PolicyConfigSchema | None, key: str) -> Any:
    """The configured value of *key*, else the schema's default."""
    if key in config:
        return config[key]
    if schema is not None and key in schema.properties:
        return schema.properties[key].get("default")
    return None


def with_defaults(config: Mapping[str, Any] | None, schema: PolicyConfigSchema | None) -> dict[str, Any]:
    """A policy's config with every schema default filled in where the config does not set the key."""
    merged: dict[str, Any] = {}
    if schema is not None:
        for key, spec in schema.properties.items():
            if "default" in spec:
                merged[key] = spec["default"]
    merged.update(dict(config or {}))
    return merged
