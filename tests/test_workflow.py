"""The GitHub workflow (.github/workflows/preview.yml) does what the README's "Deploying for real" says.

Checked against how the CLI behaves (pulumi/pulumi sources): `pulumi stack select --create` creates a
missing stack (the backend's GetStack answers "none" for a 404 and select then calls InitStack), and a
local policy pack runs with the virtualenv its PulumiPolicy.yaml names, which the CLI does not create.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "preview.yml"
SAME_REPO = "github.event.pull_request.head.repo.full_name == github.repository"
FORK = "github.event.pull_request.head.repo.full_name != github.repository"
STEP_OUTPUT_RE = re.compile(r"^\$\{\{\s*steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)\s*\}\}$")


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def _steps(workflow: dict[str, Any], job: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = workflow["jobs"][job]["steps"]
    return steps


def _commands(step: dict[str, Any]) -> list[list[str]]:
    """The shell commands of a `run:` step, one token list per line (folded `>-` blocks are one line)."""
    return [shlex.split(line) for line in step.get("run", "").splitlines() if line.strip()]


def _index(steps: list[dict[str, Any]], predicate: Any) -> int:
    matches = [i for i, step in enumerate(steps) if predicate(step)]
    assert len(matches) == 1, matches
    return matches[0]


def _runs(step: dict[str, Any], *prefix: str) -> bool:
    return any(command[: len(prefix)] == list(prefix) for command in _commands(step))


def test_runs_on_pull_requests_only_and_the_preview_runs_only_for_this_repository(workflow: dict[str, Any]) -> None:
    # PyYAML reads the bare key `on` as the boolean True.
    assert set(workflow[True]) == {"pull_request"}
    assert workflow["jobs"]["preview"]["if"] == SAME_REPO


def test_a_fork_pull_request_gets_a_notice_and_touches_no_secret(workflow: dict[str, Any]) -> None:
    (notice_job,) = [name for name, job in workflow["jobs"].items() if job.get("if") == FORK]
    job = workflow["jobs"][notice_job]
    assert "secrets." not in yaml.safe_dump(job) and "vars." not in yaml.safe_dump(job)
    (step,) = job["steps"]
    assert "::notice" in step["run"] and "GITHUB_STEP_SUMMARY" in step["run"]
    # Every other job is the same-repository preview.
    assert [name for name, job in workflow["jobs"].items() if job.get("if") != FORK] == ["preview"]


def test_the_stack_is_selected_or_created_before_the_preview(workflow: dict[str, Any]) -> None:
    steps = _steps(workflow, "preview")
    select = _index(steps, lambda s: _runs(s, "pulumi", "stack", "select"))
    preview = _index(steps, lambda s: _runs(s, "pulumi", "preview"))
    assert select < preview
    (select_command,) = _commands(steps[select])
    assert "--create" in select_command or "-c" in select_command
    (preview_command,) = _commands(steps[preview])
    assert [c[c.index("--stack") + 1] for c in (select_command, preview_command)] == ["$STACK", "$STACK"]
    env = workflow["jobs"]["preview"]["env"]
    assert env["STACK"] == "${{ vars.PULUMI_ORG }}/${{ matrix.stack }}"
    assert workflow["jobs"]["preview"]["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    assert all((ROOT / f"Pulumi.{stack}.yaml").is_file() for stack in ["dev", "prod"])
    assert "--policy-pack" in preview_command and preview_command[preview_command.index("--policy-pack") + 1] == "policies"


def _requirements_pin(name: str) -> str:
    (version,) = [line.split("==", 1)[1].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
                  if line.split("==", 1)[0].strip().lower() == name]
    return version


def test_the_cli_is_pinned_to_the_sdk_version_of_requirements_txt(workflow: dict[str, Any], tmp_path: Path) -> None:
    steps = _steps(workflow, "preview")
    install = steps[_index(steps, lambda s: str(s.get("uses", "")).startswith("pulumi/actions@"))]
    match = STEP_OUTPUT_RE.match(install["with"]["pulumi-version"])
    assert match is not None, install["with"]
    step_id, output = match.groups()
    version_step = steps[_index(steps, lambda s: s.get("id") == step_id)]
    assert steps.index(version_step) < steps.index(install)
    # Run the step's script as the runner would (bash, repository root, GITHUB_OUTPUT file).
    github_output = tmp_path / "github_output"
    github_output.touch()
    subprocess.run(["bash", "-e", "-c", version_step["run"]], cwd=ROOT, check=True, timeout=30,
                   env={**os.environ, "GITHUB_OUTPUT": str(github_output)})
    outputs = dict(line.split("=", 1) for line in github_output.read_text().splitlines())
    assert outputs == {output: _requirements_pin("pulumi")} and outputs[output] == "3.272.0"


def test_the_version_step_fails_without_a_pin(workflow: dict[str, Any], tmp_path: Path) -> None:
    steps = _steps(workflow, "preview")
    version_step = steps[_index(steps, lambda s: s.get("id") == "versions")]
    (tmp_path / "requirements.txt").write_text("pulumi>=3\nboto3==1.44.8\n")
    result = subprocess.run(["bash", "-e", "-c", version_step["run"]], cwd=tmp_path, timeout=30, capture_output=True,
                            text=True, env={**os.environ, "GITHUB_OUTPUT": str(tmp_path / "out")})
    assert result.returncode != 0 and "no 'pulumi==X.Y.Z' pin" in result.stdout


def test_the_layer_and_the_pack_virtualenv_are_built_before_the_preview(workflow: dict[str, Any]) -> None:
    steps = _steps(workflow, "preview")
    preview = _index(steps, lambda s: _runs(s, "pulumi", "preview"))
    layer = _index(steps, lambda s: _runs(s, "make", "layer"))
    pack = _index(steps, lambda s: _runs(s, "make", "policy-venv") or _runs(s, "python", "-m", "venv", "policies/venv"))
    assert layer < preview and pack < preview
    if not _runs(steps[pack], "make", "policy-venv"):
        assert _runs(steps[pack], "policies/venv/bin/pip", "install", "-r", "policies/requirements.txt")
    # The pack's virtualenv is the one its PulumiPolicy.yaml names.
    policy_project = yaml.safe_load((ROOT / "policies" / "PulumiPolicy.yaml").read_text())
    assert policy_project["runtime"]["options"]["virtualenv"] == "venv"
    # `make layer` must not need root (no system-deps) on a CI runner.
    makefile = (ROOT / "Makefile").read_text()
    (layer_rule,) = [line for line in makefile.splitlines() if line.startswith("layer:")]
    assert "setup" not in layer_rule.split(":", 1)[1] and "system-deps" not in layer_rule


def test_aws_credentials_come_before_the_preview_and_the_pulumi_token_from_secrets(workflow: dict[str, Any]) -> None:
    steps = _steps(workflow, "preview")
    aws = _index(steps, lambda s: str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials@"))
    assert aws < _index(steps, lambda s: _runs(s, "pulumi", "preview"))
    assert workflow["jobs"]["preview"]["env"]["PULUMI_ACCESS_TOKEN"] == "${{ secrets.PULUMI_ACCESS_TOKEN }}"
    assert workflow["permissions"]["id-token"] == "write"


def _readme_section(title: str) -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index(f"\n## {title}\n")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end != -1 else len(readme)]


def test_the_readme_deploy_steps_are_the_workflow_steps(workflow: dict[str, Any]) -> None:
    section = _readme_section("Deploying for real")
    code = "\n".join(section.split("```")[1::2])  # the fenced blocks
    readme_commands = [shlex.split(line.split("#", 1)[0]) for line in code.splitlines() if line.strip()]
    steps = _steps(workflow, "preview")
    # The pack's venv step: `make policy-venv`, or the commands that target runs spelt out.
    policy_venv = lambda s: _runs(s, "make", "policy-venv") or _runs(s, "python", "-m", "venv", "policies/venv")  # noqa: E731
    for predicate in (lambda s: _runs(s, "make", "layer"), policy_venv):
        for command in _commands(steps[_index(steps, predicate)]):
            # The README writes python3 (a bare `python` may be absent outside setup-python).
            wanted = ["python3", *command[1:]] if command[0] == "python" else command
            assert wanted in readme_commands, wanted
    assert any(c[:3] == ["pulumi", "stack", "select"] and "--create" in c for c in readme_commands)
    assert any(c[:2] == ["pulumi", "preview"] and "--policy-pack" in c for c in readme_commands)
    assert "aws.get_caller_identity" in section and "aws.get_availability_zones" in section
