"""The ``--policy-pack-config`` document: read it, validate it against the pack's schemas, resolve levels.

Validation covers the JSON-schema keywords policy configs use (type, enum, ranges, lengths, pattern,
items) and reports every problem at once (:class:`PolicyConfigInvalid`).  Precedence follows the CLI:
the policy's own level, then the pack's initial config, then ``all``, then the policy's own entry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gate.pack_info import LEVEL_VALUES, PackInfo


class PolicyConfigInvalid(ValueError):
    """The policy config file does not match the pack's policies and schemas; ``problems`` lists each."""

    def __init__(self, problems: list[str], source: str = "policy config") -> None:
        self.problems = problems
        super().__init__("\n".join([f"{source} is invalid:", *(f"  - {p}" for p in problems)]))


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


def _schema_errors(value: Any, schema: Mapping[str, Any], where: str) -> list[str]:
    """JSON-schema checks for the keywords policy configs use (type, enum, ranges, lengths, pattern, items)."""
    errors: list[str] = []
    expected = schema.get("type")
    if expected is not None:
        types = expected if isinstance(expected, list) else [expected]
        ok = False
        for t in types:
            py = _JSON_TYPES.get(t, ())
            if isinstance(value, bool) and t in ("number", "integer"):
                continue
            if t == "integer" and isinstance(value, float) and value.is_integer():
                ok = True
            if isinstance(value, py):
                ok = True
        if not ok:
            return [f"{where} must be of type {' or '.join(types)}, got {json.dumps(value)} ({_json_type(value)})"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where} must be one of {json.dumps(schema['enum'])}, got {json.dumps(value)}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where} must be >= {schema['minimum']:g}, got {value:g}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where} must be <= {schema['maximum']:g}, got {value:g}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            errors.append(f"{where} must be > {schema['exclusiveMinimum']:g}, got {value:g}")
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            errors.append(f"{where} must be < {schema['exclusiveMaximum']:g}, got {value:g}")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append(f"{where} must be at least {schema['minLength']:g} characters long")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{where} must be at most {schema['maxLength']:g} characters long")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{where} must match {schema['pattern']!r}, got {json.dumps(value)}")
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append(f"{where} must have at least {schema['minItems']:g} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{where} must have at most {schema['maxItems']:g} items")
        if isinstance(schema.get("items"), dict):
            for i, item in enumerate(value):
                errors.extend(_schema_errors(item, schema["items"], f"{where}[{i}]"))
    return errors


def _json_type(value: Any) -> str:
    for name, types in _JSON_TYPES.items():
        if isinstance(value, bool):
            return "boolean"
        if name != "integer" and isinstance(value, types):
            return name
    return type(value).__name__


def _similar(a: str, b: str) -> bool:
    a, b = a.lower(), b.lower()
    if a in b or b in a:
        return True
    shared = set(a.split("-")) & set(b.split("-"))
    return len(shared) >= 2


def resolve_config(info: PackInfo, raw: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Validate a ``--policy-pack-config`` document and resolve every policy's level and properties.

    Precedence, as in the CLI: the policy's own level, then the pack's initial config, then *raw*;
    schema defaults fill properties nobody set.  Raises :class:`PolicyConfigInvalid` listing every problem.
    """
    problems: list[str] = []
    if not isinstance(raw, Mapping):
        raise PolicyConfigInvalid(["the config must be a JSON object mapping policy names to settings"])
    user: dict[str, dict[str, Any]] = {}
    known = ", ".join(sorted(info.policies))
    for name, value in raw.items():
        if name == "all":
            if value not in LEVEL_VALUES:
                problems.append(f'"all": enforcement level must be one of {sorted(LEVEL_VALUES)}, got {json.dumps(value)}')
            continue
        if name not in info.policies:
            close = [p for p in info.policies if _similar(p, name)]
            hint = f" (did you mean {', '.join(close)}?)" if close else f"; the pack has: {known}"
            problems.append(f'unknown policy "{name}"{hint}')
            continue
        if isinstance(value, str):
            value = {"enforcementLevel": value}
        if not isinstance(value, dict):
            problems.append(f'"{name}": must be an enforcement level string or an object, got {json.dumps(value)}')
            continue
        meta = info.policies[name]
        for key, item in value.items():
            where = f'"{name}".{key}'
            if key == "enforcementLevel":
                if item not in LEVEL_VALUES:
                    problems.append(f"{where} must be one of {sorted(LEVEL_VALUES)}, got {json.dumps(item)}")
                continue
            if key not in meta.schema:
                allowed = ", ".join(sorted(meta.schema)) or "none (only enforcementLevel)"
                problems.append(f"{where} is not a setting of this policy; settings: {allowed}")
                continue
            problems.extend(_schema_errors(item, meta.schema[key], where))
        for key in meta.required:
            if key not in value and key not in info.initial_config.get(name, {}):
                problems.append(f'"{name}".{key} is required')
        user[name] = dict(value)
    if problems:
        raise PolicyConfigInvalid(problems)

    all_level = raw.get("all") if isinstance(raw.get("all"), str) else None
    resolved: dict[str, dict[str, Any]] = {}
    for name, meta in info.policies.items():
        entry: dict[str, Any] = {k: v["default"] for k, v in meta.schema.items() if isinstance(v, dict) and "default" in v}
        level = meta.enforcement_level
        initial = info.initial_config.get(name, {})
        entry.update({k: v for k, v in initial.items() if k != "enforcementLevel"})
        level = initial.get("enforcementLevel", level)
        if all_level is not None:
            level = all_level
        entry.update({k: v for k, v in user.get(name, {}).items() if k != "enforcementLevel"})
        level = user.get(name, {}).get("enforcementLevel", level)
        entry["enforcementLevel"] = level
        resolved[name] = entry
    return resolved


def load_config_file(path: Path | str) -> dict[str, Any]:
    """Read a policy config JSON file; :class:`PolicyConfigInvalid` (naming the file) when it is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise PolicyConfigInvalid([f"{path} does not exist"], str(path)) from None
    except json.JSONDecodeError as exc:
        raise PolicyConfigInvalid([f"not valid JSON: {exc}"], str(path)) from None
    if not isinstance(data, dict):
        raise PolicyConfigInvalid(["the config must be a JSON object mapping policy names to settings"], str(path))
    return data
