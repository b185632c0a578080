"""`make preview STACK=<any stack>`: the policy config a stack gets, through the gate CLI.

A stack without ``policies/config/<stack>.json`` gets the levels of its ``environment`` (dev levels for
dev, prod levels for staging and prod); ``POLICY_CONFIG`` (or ``--policy-config``) overrides both.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from policy_harness import CONFIG_DIR, ROOT

from gate.__main__ import main

#: Repository entries a copy of the project needs besides its stack files.
_PROJECT_ENTRIES = ("Pulumi.yaml", "__main__.py", "components")


def _project(tmp_path: Path, stack: str, based_on: str, environment: str) -> Path:
    """A project dir of this repo's program with one extra stack file, ``Pulumi.<stack>.yaml``."""
    project = tmp_path / "project"
    project.mkdir()
    for entry in _PROJECT_ENTRIES:
        (project / entry).symlink_to(ROOT / entry)
    data = yaml.safe_load((ROOT / f"Pulumi.{based_on}.yaml").read_text())
    data["config"]["resilient-rds:environment"] = environment
    (project / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(data))
    assert not (CONFIG_DIR / f"{stack}.json").exists()
    return project


def _gate(project: Path, stack: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    code = main(["check", "--stack", stack, "--project-dir", str(project), "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_a_new_prod_stack_gets_prod_levels(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("POLICY_CONFIG", raising=False)
    project = _project(tmp_path, "eu-prod", based_on="prod", environment="prod")
    code, doc = _gate(project, "eu-prod", capsys)
    assert code == 0, doc
    assert doc["policyConfigSource"] == "environment" and doc["policyConfig"] == str(CONFIG_DIR / "prod.json")
    # prod.json's levels, advisories (design preferences, the worst-case memory risk) included.
    prod_levels = json.loads((CONFIG_DIR / "prod.json").read_text())
    expected = {name: (entry if isinstance(entry, str) else entry["enforcementLevel"]) for name, entry in prod_levels.items()}
    assert {name: doc["policyLevels"].get(name) for name in expected} == expected
    assert doc["policyLevels"]["rds-multi-az"] == "mandatory"


def test_a_staging_stack_is_held_to_prod_levels_and_policy_config_overrides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    """A single-AZ stack: advisory at dev levels, mandatory at the prod levels a staging stack gets."""
    monkeypatch.delenv("POLICY_CONFIG", raising=False)
    project = _project(tmp_path, "qa", based_on="dev", environment="staging")
    code, doc = _gate(project, "qa", capsys)
    assert code == 1
    assert doc["policyConfigSource"] == "environment" and doc["policyConfig"] == str(CONFIG_DIR / "prod.json")
    assert "rds-multi-az" in {v["policy"] for v in doc["violations"] if v["level"] == "mandatory"}

    monkeypatch.setenv("POLICY_CONFIG", str(CONFIG_DIR / "dev.json"))
    code, doc = _gate(project, "qa", capsys)
    assert code == 0, doc
    assert doc["policyConfigSource"] == "env" and doc["policyConfig"] == str(CONFIG_DIR / "dev.json")
    assert doc["policyLevels"]["rds-multi-az"] == "advisory"
    assert "rds-multi-az" in {v["policy"] for v in doc["violations"] if v["level"] == "advisory"}


def test_a_new_dev_stack_gets_dev_levels(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("POLICY_CONFIG", raising=False)
    project = _project(tmp_path, "sandbox", based_on="dev", environment="dev")
    code, doc = _gate(project, "sandbox", capsys)
    assert code == 0, doc
    assert doc["policyConfigSource"] == "environment" and doc["policyConfig"] == str(CONFIG_DIR / "dev.json")
    assert doc["policyLevels"]["rds-multi-az"] == "advisory"


def test_a_stack_with_a_bad_environment_fails_like_the_program(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("POLICY_CONFIG", raising=False)
    project = _project(tmp_path, "odd", based_on="dev", environment="qa")
    assert main(["check", "--stack", "odd", "--project-dir", str(project)]) == 2
    err = capsys.readouterr().err
    assert "resilient-rds:environment = 'qa' is not accepted: expected one of dev, staging, prod" in err


def test_make_passes_policy_config_on():
    proc = subprocess.run(["make", "-n", "preview", "STACK=eu-prod", "POLICY_CONFIG=mine.json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=True)
    assert "-m gate preview --stack eu-prod --policy-config mine.json" in proc.stdout
