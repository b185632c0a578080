"""provider/: the component package, started the way the CLI starts it, asked for its schema over gRPC.

The schema is checked against the one declaration of the settings (components/settings.py) and
against the outputs the component really registers under mocks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi.provider.experimental.component import ComponentProvider

from components.config import ConfigError, load_config
from components.resilient_postgres import TYPE_TOKEN, ResilientPostgres
from components.settings import NAMESPACE, SECTIONS, TOP_LEVEL, Kind, Setting, camel_case
from gate.program import run_program
from tests.provider.provider_process import PROVIDER_DIR, ROOT, provider_schema

PACKAGE = TYPE_TOKEN.split(":", 1)[0]

#: What each kind of setting must be in the schema (descriptions and plain-ness checked separately).
SCHEMA_TYPE: dict[Kind, dict[str, Any]] = {
    "bool": {"type": "boolean"},
    "int": {"type": "integer"},
    "number": {"type": "number"},
    "string": {"type": "string"},
    "strings": {"type": "array", "items": {"type": "string"}},
    "tags": {"type": "object", "additionalProperties": {"type": "string"}},
}

#: Every output of ResilientPostgres, written out here (not derived) so that a renamed or retyped
#: output is a visible change of the package's public interface.
OUTPUTS: dict[str, dict[str, Any]] = {
    "proxyEndpoint": {"type": "string"},
    "proxyName": {"type": "string"},
    "readerEndpoints": {"type": "array", "items": {"type": "string"}},
    "primaryIdentifier": {"type": "string"},
    "replicaIdentifiers": {"type": "array", "items": {"type": "string"}},
    "port": {"type": "integer"},
    "dbName": {"type": "string"},
    "dbUser": {"type": "string"},
    "dbReaderUser": {"type": "string"},
    "secretArn": {"type": "string"},
    "connectPolicyArn": {"type": "string"},
    "connectResourceArn": {"type": "string"},
    "vpcId": {"type": "string"},
    "subnetIds": {"type": "array", "items": {"type": "string"}},
    "appSecurityGroupIds": {"type": "array", "items": {"type": "string"}},
    "proxySecurityGroupId": {"type": "string"},
    "databaseSecurityGroupId": {"type": "string"},
    "replicaSecurityGroupId": {"type": "string"},
    "alarmTopicArn": {"type": "string"},
    "connectionBudget": {"type": "object", "additionalProperties": {"$ref": "pulumi.json#/Any"}},
    "connectionBudgetRows": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
    "ecsPool": {"type": "object", "additionalProperties": {"type": "integer"}},
    "orderLookupFunctionArn": {"type": "string"},
    "dashboardName": {"type": "string"},
    "dashboardUrl": {"type": "string"},
    "eventSubscriptionId": {"type": "string"},
}
#: Present only in some configurations (replicas, the Lambda): not required in the schema.
OPTIONAL_OUTPUTS = {"replicaSecurityGroupId", "orderLookupFunctionArn"}


def _shape(prop: dict[str, Any]) -> dict[str, Any]:
    """A schema property without its description and plain markers: just the type."""
    return {
        key: _shape(value) if isinstance(value, dict) else value
        for key, value in prop.items()
        if key not in ("description", "plain")
    }


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    # The CLI runs the plugin in the consumer's directory, not the plugin's.
    return provider_schema(tmp_path_factory.mktemp("consumer"))


def _resource(schema: dict[str, Any]) -> dict[str, Any]:
    resource: dict[str, Any] = schema["resources"][TYPE_TOKEN]
    return resource


def _type_ref(section_stem: str) -> str:
    return f"#/types/{PACKAGE}:index:{section_stem}Args"


def test_the_package_is_named_after_the_type_token_and_versioned_from_pyproject(schema: dict[str, Any]) -> None:
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert schema["name"] == PACKAGE == "resilient-rds"
    assert schema["version"] == version
    assert list(schema["resources"]) == [TYPE_TOKEN]
    assert _resource(schema)["isComponent"] is True


def test_every_section_and_top_level_setting_is_an_input_with_its_type_and_requiredness(schema: dict[str, Any]) -> None:
    resource = _resource(schema)
    inputs = resource["inputProperties"]
    expected = {camel_case(section.attr) for section in SECTIONS} | {setting.key for setting in TOP_LEVEL}
    assert set(inputs) == expected
    for section in SECTIONS:
        assert inputs[camel_case(section.attr)]["$ref"] == _type_ref(section.class_stem), section.key
        assert inputs[camel_case(section.attr)]["description"] == section.description
    for setting in TOP_LEVEL:
        assert _shape(inputs[setting.key]) == SCHEMA_TYPE[setting.kind], setting.key
    required_sections = {camel_case(s.attr) for s in SECTIONS if any(setting.required for setting in s.settings)}
    assert set(resource["requiredInputs"]) == required_sections == {"database"}


def _check_setting(section_key: str, setting: Setting, prop: dict[str, Any]) -> None:
    where = f"{section_key}.{setting.key}"
    assert _shape(prop) == SCHEMA_TYPE[setting.kind], where
    assert prop["description"].startswith(setting.description), where
    if setting.computed_ok:
        # Another resource's output may be passed: the value (or each list element) is an Input.
        value = prop["items"] if setting.kind == "strings" else prop
        assert "plain" not in value, where
    else:
        assert prop.get("plain") is True, where


def test_every_setting_of_every_section_has_its_stack_key_type_and_requiredness(schema: dict[str, Any]) -> None:
    for section in SECTIONS:
        typ = schema["types"][f"{PACKAGE}:index:{section.class_stem}Args"]
        assert typ["type"] == "object"
        props = typ["properties"]
        assert list(props) != [] and set(props) == {s.key for s in section.settings}, section.key
        for setting in section.settings:
            _check_setting(section.key, setting, props[setting.key])
        assert set(typ.get("required", [])) == {s.key for s in section.settings if s.required}, section.key
    assert set(schema["types"]["resilient-rds:index:DatabaseArgs"]["required"]) == {"instanceClass"}


def test_every_output_is_in_the_schema_with_its_type(schema: dict[str, Any]) -> None:
    resource = _resource(schema)
    assert {name: _shape(prop) for name, prop in resource["properties"].items()} == OUTPUTS
    assert set(resource["required"]) == set(OUTPUTS) - OPTIONAL_OUTPUTS
    annotated = {camel_case(name) for name in ResilientPostgres.__annotations__ if not name.startswith("_")}
    assert annotated == set(OUTPUTS)


@pytest.mark.parametrize("replica_count", [0, 2])
def test_the_component_registers_the_schema_outputs(schema: dict[str, Any], replica_count: int) -> None:
    registered: list[set[str]] = []

    def program() -> None:
        args = load_config().to_args()
        assert args.replicas is not None
        args.replicas.count = replica_count
        registered.append(set(ResilientPostgres("orders", args).outputs()))

    run_program(ROOT, "dev", program=program)
    (outputs,) = registered
    resource = _resource(schema)
    assert outputs <= set(resource["properties"])
    assert set(resource["required"]) <= outputs
    assert ("replicaSecurityGroupId" in outputs) is (replica_count > 0)


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_the_plugin_virtualenv_gets_the_runtime_dependencies_at_the_repository_pins() -> None:
    plugin_pins = _pins(PROVIDER_DIR / "requirements.txt")
    repo_pins = _pins(ROOT / "requirements.txt")
    assert set(plugin_pins) == {"botocore", "pulumi", "pulumi-aws", "pulumi-random"}
    assert all(version for version in plugin_pins.values())
    assert {name: repo_pins.get(name) for name in plugin_pins} == plugin_pins


def test_the_plugin_project_runs_its_main_with_python_in_its_own_virtualenv() -> None:
    import yaml

    project = yaml.safe_load((PROVIDER_DIR / "PulumiPlugin.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    assert project["runtime"]["options"] == {"toolchain": "pip", "virtualenv": "venv"}
    # The language host runs `python <plugin dir>`: the plugin's __main__.py, not the stack program's.
    assert (PROVIDER_DIR / "__main__.py").is_file() and not (PROVIDER_DIR / "Pulumi.yaml").exists()


def _as_on_the_wire(value: Any) -> Any:
    """A value as the provider receives it in Construct: numbers are protobuf doubles."""
    if isinstance(value, dict):
        return {k: _as_on_the_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_on_the_wire(v) for v in value]
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _construct_inputs(wire: dict[str, Any]) -> Any:
    """What ComponentProvider.construct hands ResilientPostgres for these schema-named inputs."""
    provider = ComponentProvider([ResilientPostgres], PACKAGE)
    return provider.map_inputs(wire, provider._component_defs["ResilientPostgres"])


def _plan(run: Any) -> list[tuple[str, str, str]]:
    return sorted((r.type, r.name, json.dumps(r.inputs, sort_keys=True, default=repr)) for r in run.resources)


def test_construct_through_the_provider_declares_what_the_python_args_declare() -> None:
    stack_file = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]
    wire = _as_on_the_wire({key.split(":", 1)[1]: value for key, value in stack_file.items()
                            if key.startswith(NAMESPACE + ":")})
    assert isinstance(wire["database"]["allocatedStorage"], float)
    mapped = _construct_inputs(wire)
    assert isinstance(mapped, dict) and isinstance(mapped["database"], dict)  # dicts, not the dataclasses

    state_keys: list[set[str]] = []

    def construct() -> None:
        # What construct does after the constructor: the state the engine gets, by schema name.
        provider = ComponentProvider([ResilientPostgres], PACKAGE)
        component = ResilientPostgres("orders", mapped)
        state = provider.get_state(component, provider._component_defs["ResilientPostgres"])
        state_keys.append(set(state))
        assert set(state) == set(component.outputs())

    through_provider = run_program(ROOT, "dev", program=construct)
    assert state_keys and state_keys[0] >= {"proxyEndpoint", "secretArn", "connectPolicyArn", "connectionBudget"}
    from_python = run_program(ROOT, "dev", program=lambda: ResilientPostgres("orders", load_config().to_args()))
    assert len(through_provider.resources) > 20
    assert _plan(through_provider) == _plan(from_python)


def test_construct_through_the_provider_rejects_a_fractional_count_by_name() -> None:
    mapped = _construct_inputs({"database": {"instanceClass": "db.t4g.medium"}, "replicas": {"count": 1.5}})
    with pytest.raises(ConfigError) as raised:
        run_program(ROOT, "dev", program=lambda: ResilientPostgres("orders", mapped))
    assert any("replicas.count" in problem and "1.5" in problem for problem in raised.value.problems)
