"""examples/yaml: a Pulumi YAML consumer of the component package, checked against the generated schema.

No Pulumi CLI here, so the program cannot run; instead every property it sets on ResilientPostgres is
checked against the schema the provider serves (name, type, required-ness, computed values only where
the schema takes an Input), every output it reads must be one the component has, and its literal
values must pass the same validation as a stack file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import validate
from components.resilient_postgres import TYPE_TOKEN
from tests.provider.provider_process import PROVIDER_DIR, provider_schema

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "yaml"
INTERPOLATION_RE = re.compile(r"^\$\{([A-Za-z0-9_-]+)\.([A-Za-z0-9_]+)\}$")
JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}
#: What a `${resource.id}` of these AWS types looks like: the stand-in for the validation check.
FAKE_IDS = {"aws:ec2:Vpc": "vpc-0a1b2c3d4e5f67890", "aws:ec2:Subnet": "subnet-0a1b2c3d4e5f6789{n}",
            "aws:ec2:SecurityGroup": "sg-0a1b2c3d4e5f6789{n}"}


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return provider_schema(tmp_path_factory.mktemp("consumer"))


@pytest.fixture(scope="module")
def program() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((EXAMPLE / "Pulumi.yaml").read_text())
    return loaded


def _problems(value: Any, prop: dict[str, Any], schema: dict[str, Any], where: str) -> list[str]:
    """Every way *value* does not fit the schema property *prop*."""
    if isinstance(value, str) and INTERPOLATION_RE.match(value):
        # A computed value: only where the schema takes an Input, not a plain value.
        return [f"{where} is computed ({value}) but the schema needs a plain value"] if prop.get("plain") else []
    ref = prop.get("$ref", "")
    if ref.startswith("#/types/"):
        typ = schema["types"][ref.removeprefix("#/types/")]
        if not isinstance(value, dict):
            return [f"{where} is {value!r}, expected an object ({ref})"]
        problems = [f"{where}.{key} is not a property of {ref}" for key in value if key not in typ["properties"]]
        problems += [f"{where}.{key} is required by {ref}" for key in typ.get("required", []) if key not in value]
        for key, item in value.items():
            if key in typ["properties"]:
                problems += _problems(item, typ["properties"][key], schema, f"{where}.{key}")
        return problems
    expected = JSON_TYPES[prop["type"]]
    if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
        return [f"{where} is {value!r}, expected {prop['type']}"]
    if prop["type"] == "array":
        return [p for i, item in enumerate(value) for p in _problems(item, prop["items"], schema, f"{where}[{i}]")]
    if prop["type"] == "object" and "additionalProperties" in prop:
        return [p for k, item in value.items() for p in _problems(item, prop["additionalProperties"], schema, f"{where}.{k}")]
    return []


def _components(program: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in program["resources"].items() if r["type"] == TYPE_TOKEN}


def test_the_package_entry_is_the_provider_directory_under_the_schema_name(
    program: dict[str, Any], schema: dict[str, Any]
) -> None:
    assert program["runtime"] == "yaml"
    assert list(program["packages"]) == [schema["name"]]
    assert (EXAMPLE / program["packages"][schema["name"]]).resolve() == PROVIDER_DIR
    assert [r["type"] for r in program["resources"].values() if r["type"].startswith(schema["name"] + ":")] == [
        TYPE_TOKEN
    ]


def test_every_property_set_on_the_component_fits_the_schema(program: dict[str, Any], schema: dict[str, Any]) -> None:
    resource = schema["resources"][TYPE_TOKEN]
    for name, declared in _components(program).items():
        properties = declared["properties"]
        problems = [f"{name}.{key} is not an input" for key in properties if key not in resource["inputProperties"]]
        problems += [f"{name}.{key} is required" for key in resource["requiredInputs"] if key not in properties]
        for key, value in properties.items():
            if key in resource["inputProperties"]:
                problems += _problems(value, resource["inputProperties"][key], schema, f"{name}.{key}")
        assert problems == []


def test_the_checker_rejects_what_the_schema_does_not_take(schema: dict[str, Any]) -> None:
    database = schema["resources"][TYPE_TOKEN]["inputProperties"]["database"]
    assert _problems({"instanceClass": "db.t4g.medium", "multiAZ": True}, database, schema, "d") == [
        "d.multiAZ is not a property of #/types/resilient-rds:index:DatabaseArgs"
    ]
    assert _problems({"allocatedStorage": "20"}, database, schema, "d") == [
        "d.instanceClass is required by #/types/resilient-rds:index:DatabaseArgs",
        "d.allocatedStorage is '20', expected integer",
    ]
    assert _problems({"instanceClass": "${cls.value}"}, database, schema, "d") == [
        "d.instanceClass is computed (${cls.value}) but the schema needs a plain value"
    ]


def test_every_output_read_from_the_component_is_one_it_has(program: dict[str, Any], schema: dict[str, Any]) -> None:
    outputs = schema["resources"][TYPE_TOKEN]["properties"]
    components = _components(program)
    read = [INTERPOLATION_RE.match(value) for value in program["outputs"].values()]
    assert all(match is not None for match in read)
    assert {m.group(1) for m in read if m} <= set(components)
    assert {m.group(2) for m in read if m} - set(outputs) == set()


def _with_fake_ids(value: Any, program: dict[str, Any], counter: list[int]) -> Any:
    if isinstance(value, dict):
        return {k: _with_fake_ids(v, program, counter) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_fake_ids(v, program, counter) for v in value]
    match = INTERPOLATION_RE.match(value) if isinstance(value, str) else None
    if match and match.group(2) == "id":
        counter[0] += 1
        return FAKE_IDS[program["resources"][match.group(1)]["type"]].format(n=counter[0] % 10)
    return value


def test_the_component_properties_pass_the_stack_config_validation(program: dict[str, Any]) -> None:
    for name, declared in _components(program).items():
        tree = _with_fake_ids(declared["properties"], program, [0])
        config = validate(tree, stack="dev", region=program["config"]["aws:region"], source=f"examples/yaml {name}")
        assert config.environment == "dev" and config.replicas.count == 1
