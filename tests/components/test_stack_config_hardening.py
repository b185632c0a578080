"""Issue 9: nothing silent, nothing cryptic - unknown keys, credentials, quoting, the file itself, regions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from stack_helpers import NS, PROJECT_DIR, namespace_source, set_config, stack_config

from components.config import ConfigError, StackConfig, load_config, rds_regions
from gate.__main__ import main as gate_main
from gate.program import StackFileError, read_stack_config, run_program

POLICY_CONFIG = str(PROJECT_DIR / "policies" / "config" / "dev.json")


def _load(stack: str, changes: dict[str, Any] | None = None, *, region: Any = "us-east-1") -> StackConfig:
    raw = stack_config(stack)
    for dotted, value in (changes or {}).items():
        set_config(raw, dotted, value)
    return load_config(namespace_source(raw), stack=stack, region=region)


def _problem(stack: str, changes: dict[str, Any], **kwargs: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        _load(stack, changes, **kwargs)
    assert len(caught.value.problems) == 1, caught.value.problems
    return caught.value.problems[0]


@pytest.mark.parametrize(
    ("key", "guess"),
    [("replica", "replicas"), ("databse", "database"), ("Proxy", "proxy"), ("alarm", "alarms"), ("lambda", "lambdaFunction")],
)
def test_a_misspelt_section_names_key_file_and_closest_name(key: str, guess: str) -> None:
    problem = _problem("dev", {f"{NS}:{key}": {"count": 1}})
    assert problem.startswith(f"{NS}:{key} is not a known setting (in Pulumi.dev.yaml): did you mean `{guess}`?")


def test_an_extra_section_lists_every_accepted_top_level_key() -> None:
    problem = _problem("prod", {f"{NS}:monitoring": {"enabled": True}})
    assert "environment, name, tags, network, database, replicas, workload, proxy, alarms, lambdaFunction" in problem


@pytest.mark.parametrize("key", [f"{NS}:dbPassword", f"{NS}:database.masterPassword", f"{NS}:proxy.secret"])
def test_a_credential_gets_its_own_message_and_is_never_echoed(key: str) -> None:
    problem = _problem("prod", {key: "hunter2-very-secret"})
    assert "looks like a credential" in problem and "Secrets Manager" in problem and "secretArn" in problem
    assert "hunter2" not in problem


def test_a_secure_value_is_refused_as_a_credential() -> None:
    problem = _problem("dev", {f"{NS}:dbPassword": {"secure": "v1:abc"}})
    assert "looks like a credential" in problem


def test_a_key_in_a_section_gets_did_you_mean() -> None:
    problem = _problem("dev", {f"{NS}:database.instanceClas": "db.t4g.medium"})
    assert "did you mean `instanceClass`?" in problem and "(in Pulumi.dev.yaml)" in problem


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("proxy.connectionBorrowTimeout", "connectionBorrowTimeoutS"),
        ("proxy.idleClientTimeout", "idleClientTimeoutS"),
        ("database.monitoringInterval", "monitoringIntervalS"),
        ("alarms.replicaLagSeconds", "replicaLagS"),
        ("lambdaFunction.timeoutSeconds", "timeoutS"),
    ],
)
def test_a_renamed_duration_key_says_its_new_name(old: str, new: str) -> None:
    section, _, key = old.partition(".")
    raw_new = stack_config("prod")[f"{NS}:{section}"].pop(new, None)
    changes: dict[str, Any] = {f"{NS}:{old}": raw_new or 10, f"{NS}:{section}.{new}": None}
    problem = _problem("prod", changes)
    assert problem.startswith(f"{NS}:{old} is not a known setting") and f"it was renamed {new}" in problem


@pytest.mark.parametrize(
    ("dotted", "value"),
    [
        ("database.engineVersion", 15.1),
        ("database.dbName", 123),
        ("database.backupWindow", 300),
        ("alarms.email", True),
        ("database.masterUsername", False),
        ("tags", {"CostCenter": 1234}),
    ],
)
def test_a_string_setting_that_arrives_as_a_number_or_boolean_says_to_quote_it(dotted: str, value: Any) -> None:
    problem = _problem("prod", {f"{NS}:{dotted}": value})
    assert problem.startswith(f"{NS}:{dotted} = ") and "write it in quotes" in problem


def test_the_loader_keeps_an_unquoted_top_level_number_from_pulumi_as_text() -> None:
    # Pulumi hands top-level values over as strings: `name: 42` arrives as "42", which is then a bad name.
    raw = stack_config("dev")
    raw[f"{NS}:name"] = "42"
    with pytest.raises(ConfigError) as caught:
        load_config(namespace_source(raw), stack="dev", region="us-east-1")
    assert caught.value.problems[0].startswith(f"{NS}:name = '42' is not accepted")


def test_an_unknown_region_lists_every_rds_region() -> None:
    problem = _problem("dev", {}, region="us-east-7")
    regions = rds_regions()
    assert problem.startswith("aws:region = 'us-east-7' is not accepted") and "did you mean" in problem
    assert all(r in problem for r in regions) and {"us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"} <= set(regions)
    assert not [r for r in regions if "fips" in r or r.startswith("rds")]


def test_the_program_refuses_an_unknown_region_before_declaring_anything() -> None:
    config = stack_config("prod")
    config["aws:region"] = "eu-middle-1"
    with pytest.raises(ConfigError) as caught:
        run_program(PROJECT_DIR, "prod", config=config)
    assert "aws:region = 'eu-middle-1'" in str(caught.value)


def test_a_misspelt_namespace_is_refused() -> None:
    config = stack_config("dev")
    config["resilent-rds:replicas"] = {"count": 1}
    with pytest.raises(ConfigError) as caught:
        run_program(PROJECT_DIR, "dev", config=config)
    assert "did you mean `resilient-rds:replicas`?" in str(caught.value)


def test_a_key_without_namespace_is_the_project_namespace_as_for_the_cli() -> None:
    config = stack_config("dev")
    config["replicaz"] = {"count": 1}
    with pytest.raises(ConfigError) as caught:
        run_program(PROJECT_DIR, "dev", config=config)
    assert "resilient-rds:replicaz is not a known setting" in str(caught.value) and "`replicas`" in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "key", "text"),
    [
        ({"database.backupWindow": "04:30-05:00", "database.maintenanceWindow": "sun:04:00-sun:05:00"}, "backupWindow",
         "does not overlap maintenanceWindow"),
        ({"database.backupWindow": "03:00-03:15"}, "backupWindow", "at least 30 minutes"),
        ({"database.maintenanceWindow": "mon:04:30-mon:04:40"}, "maintenanceWindow", "at least 30 minutes"),
        ({"tags": {"k" * 129: "v"}}, "tags.", "1 to 128 characters"),
        ({"tags": {"Team": "v" * 257}}, "tags.Team", "at most 256"),
    ],
)
def test_values_aws_would_refuse_at_up_are_refused_first(changes: dict[str, Any], key: str, text: str) -> None:
    problem = _problem("prod", {f"{NS}:{k}": v for k, v in changes.items()})
    assert f"{NS}:{key}" in problem or f"{NS}:database.{key}" in problem
    assert text in problem


def test_the_windows_of_both_stacks_pass() -> None:
    for stack in ("dev", "prod"):
        _load(stack)


# --- The file itself ------------------------------------------------------------------------------


def _project(tmp_path: Path, stack: str, content: bytes) -> Path:
    (tmp_path / "Pulumi.yaml").write_text((PROJECT_DIR / "Pulumi.yaml").read_text())
    (tmp_path / "__main__.py").write_text((PROJECT_DIR / "__main__.py").read_text())
    (tmp_path / f"Pulumi.{stack}.yaml").write_bytes(content)
    return tmp_path


@pytest.mark.parametrize(
    ("content", "text"),
    [
        (b"config:\n  resilient-rds:name: [orders\n", "is not valid YAML at line 3, column 1"),
        (b"config:\n\tresilient-rds:name: orders\n", "is not valid YAML at line 2, column 1"),
        (b"- config\n- other\n", "the top level is a list, expected a mapping"),
        (b"config: just-a-string\n", "'config' is a str, expected a mapping"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "is not a text file"),
        (b"config:\n  \x00\x00\n", "is not a text file"),
        (b"config:\n  resilient-rds:name: a\n  resilient-rds:name: b\n", "line 3, column 3: duplicate key 'resilient-rds:name'"),
        (b"config:\n  resilient-rds:replicas:\n    count: 1\n    count: 0\n", "line 4, column 5: duplicate key 'count'"),
    ],
)
def test_a_broken_stack_file_is_named_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, text: str
) -> None:
    project = _project(tmp_path, "mystack", content)
    with pytest.raises(StackFileError) as caught:
        read_stack_config(project, "mystack")
    assert str(caught.value).startswith("Pulumi.mystack.yaml") and text in str(caught.value)
    code = gate_main(["check", "--stack", "mystack", "--project-dir", str(project), "--policy-config", POLICY_CONFIG])
    err = capsys.readouterr().err
    assert code == 2 and "Pulumi.mystack.yaml" in err and text in err and "Traceback" not in err


def test_a_bad_key_through_the_cli_exits_2_naming_key_file_and_guess(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = yaml.safe_load((PROJECT_DIR / "Pulumi.dev.yaml").read_text())
    data["config"]["resilient-rds:replica"] = {"count": 1}
    project = _project(tmp_path, "dev", yaml.safe_dump(data).encode())
    code = gate_main(["preview", "--stack", "dev", "--project-dir", str(project), "--policy-config", POLICY_CONFIG])
    err = capsys.readouterr().err
    assert code == 2
    assert "resilient-rds:replica is not a known setting (in Pulumi.dev.yaml): did you mean `replicas`?" in err
