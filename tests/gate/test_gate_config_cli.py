"""Policy config validation against the pack's schemas, the CLI (exit codes, JSON), and pack process hygiene."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from policy_harness import CONFIG_DIR, ROOT, SEED, env_config

from gate.__main__ import main
from gate.analyzer import PolicyConfigInvalid, PolicyGate, PolicyPackProcess, PolicyPackStartFailure, resolve_config
from gate.program import run_program

# --- Config validation (through GetAnalyzerInfo's schemas) --------------------------------------------------


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"rds-multi-azz": "mandatory"}, 'unknown policy "rds-multi-azz" (did you mean rds-multi-az?)'),
        ({"no-such-policy": "advisory"}, 'unknown policy "no-such-policy"; the pack has:'),
        ({"rds-backup-retention": {"minimumDays": "seven"}},
         '"rds-backup-retention".minimumDays must be of type integer, got "seven" (string)'),
        ({"rds-backup-retention": {"minimumDays": 99}}, '"rds-backup-retention".minimumDays must be <= 35, got 99'),
        ({"rds-backup-retention": {"minimumDays": 0}}, '"rds-backup-retention".minimumDays must be >= 1, got 0'),
        ({"rds-backup-retention": {"minimumDays": 2.5}}, "must be of type integer, got 2.5 (number)"),
        ({"proxy-borrow-timeout": {"maximumSeconds": 301}}, '"proxy-borrow-timeout".maximumSeconds must be <= 300, got 301'),
        ({"rds-memory-budget": {"maxMemoryPercent": 0}}, '"rds-memory-budget".maxMemoryPercent must be > 0, got 0'),
        ({"rds-no-cidr-ingress": {"allowedCidrs": "10.0.0.0/8"}}, '"rds-no-cidr-ingress".allowedCidrs must be of type array'),
        ({"rds-no-cidr-ingress": {"allowedCidrs": ["ten/8"]}}, '"rds-no-cidr-ingress".allowedCidrs[0] must match'),
        ({"rds-multi-az": "blocking"}, '"rds-multi-az".enforcementLevel must be one of'),
        ({"rds-multi-az": {"threshold": 3}}, '"rds-multi-az".threshold is not a setting of this policy'),
        ({"rds-multi-az": 3}, '"rds-multi-az": must be an enforcement level string or an object, got 3'),
    ],
)
def test_bad_config_is_rejected_with_a_clear_error(policy_gate: PolicyGate, config: dict, expected: str):
    with pytest.raises(PolicyConfigInvalid) as excinfo:
        resolve_config(policy_gate.info(), config)
    assert expected in str(excinfo.value)


def test_all_problems_are_reported_at_once(policy_gate: PolicyGate):
    with pytest.raises(PolicyConfigInvalid) as excinfo:
        resolve_config(policy_gate.info(), {"nope": "advisory", "rds-backup-retention": {"minimumDays": -1}})
    assert len(excinfo.value.problems) == 2


def test_shipped_configs_are_valid_and_complete(policy_gate: PolicyGate):
    info = policy_gate.info()
    dev = resolve_config(info, env_config("dev"))
    prod = resolve_config(info, env_config("prod"))
    assert set(env_config("dev")) == set(env_config("prod")) == set(info.policies)
    # design preferences (least privilege beyond what opens access) and the theoretical memory worst case
    # (issue 8, section 3: a risk, not a defect) are advisory everywhere
    advisory_everywhere = {"rds-ingress-database-port-only", "rds-memory-worst-case"}
    assert {p for p, c in prod.items() if c["enforcementLevel"] != "mandatory"} == advisory_everywhere
    advisory_in_dev = {p for p, c in dev.items() if c["enforcementLevel"] == "advisory"}
    assert advisory_in_dev == {
        "rds-multi-az", "rds-backup-retention", "rds-deletion-protection", "rds-final-snapshot",
        "rds-replica-lag-alarm", "proxy-debug-logging-off", "alarm-has-actions", *advisory_everywhere,
    }
    # security policies stay mandatory in dev
    for name in ("rds-ingress-only-from-proxy", "rds-no-cidr-ingress", "rds-not-publicly-accessible", "rds-storage-encrypted",
                 "proxy-require-tls", "proxy-role-can-read-secret", "rds-master-username"):
        assert dev[name]["enforcementLevel"] == "mandatory"
    # schema defaults fill in what the file does not set
    assert prod["rds-backup-retention"]["minimumDays"] == 7
    assert prod["proxy-borrow-timeout"] == {"minimumSeconds": 1, "maximumSeconds": 300, "enforcementLevel": "mandatory"}


def test_every_policy_is_described(policy_gate: PolicyGate):
    for meta in policy_gate.info().policies.values():
        assert meta.name == meta.name.lower() and " " not in meta.name
        assert meta.description.endswith(".")
        assert meta.severity in ("low", "medium", "high", "critical")
        assert meta.kind in ("resource", "stack")
        for spec in meta.schema.values():
            assert "type" in spec and "default" in spec


# --- CLI -------------------------------------------------------------------------------------------------------


def test_cli_rejects_the_seed_with_exit_1_and_json(capsys: pytest.CaptureFixture[str]):
    prod = str(CONFIG_DIR / "prod.json")
    code = main(["check", "--stack", "seed", "--project-dir", str(SEED), "--policy-config", prod, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    mandatory = [v for v in doc["violations"] if v["level"] == "mandatory"]
    assert doc["passed"] is False and doc["summary"]["mandatory"] == len(mandatory) > 0
    assert {"policy", "level", "severity", "urn", "type", "name", "message"} <= set(doc["violations"][0])
    assert doc["policyPack"] == {"name": "resilient-rds", "version": "1.0.0"}


def test_cli_text_output_groups_by_resource(capsys: pytest.CaptureFixture[str]):
    code = main(["check", "--stack", "seed", "--project-dir", str(SEED), "--policy-config", str(CONFIG_DIR / "dev.json")])
    out = capsys.readouterr().out
    assert code == 1
    assert "aws:rds/proxy:Proxy main" in out and "[mandatory, critical] proxy-role-can-read-secret" in out
    assert "Policy gate FAILED" in out


def test_cli_bad_policy_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"rds-backup-retention": {"minimumDays": "seven"}, "rds-mutli-az": "mandatory"}))
    code = main(["check", "--stack", "seed", "--project-dir", str(SEED), "--policy-config", str(bad)])
    err = capsys.readouterr().err
    assert code == 2
    assert "minimumDays must be of type integer" in err and 'unknown policy "rds-mutli-az"' in err and str(bad) in err


def test_cli_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as excinfo:
        main(["check"])
    assert excinfo.value.code == 2
    assert main(["check", "--stack", "nosuchstack"]) == 2
    assert "no policy config" in capsys.readouterr().err
    not_json = tmp_path / "x.json"
    not_json.write_text("{not json")
    assert main(["check", "--stack", "dev", "--policy-config", str(not_json)]) == 2


def test_make_preview_entry_point_passes_for_prod():
    """`python -m gate preview --stack prod` as the Makefile runs it: plan, then a passing verdict."""
    proc = subprocess.run([sys.executable, "-m", "gate", "preview", "--stack", "prod"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Policy gate passed: 0 mandatory" in proc.stdout


# --- The pack process ---------------------------------------------------------------------------------------


def test_pack_process_is_stopped(tmp_path: Path):
    gate = PolicyGate().start()
    assert gate.process is not None and gate.process.proc is not None
    proc = gate.process.proc
    assert proc.poll() is None
    gate.stop()
    assert proc.poll() is not None


def test_pack_that_fails_to_start_is_reported_and_reaped(tmp_path: Path):
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (tmp_path / "__main__.py").write_text("raise SystemExit('broken pack: missing dependency')\n")
    process = PolicyPackProcess(tmp_path, python=sys.executable)
    with pytest.raises(PolicyPackStartFailure, match="broken pack: missing dependency"):
        process.start()
    assert process.proc is None


def test_pack_starts_like_the_cli_from_its_own_virtualenv():
    """`<pack>/venv/bin/python -u -m pulumi.policy <engine> <pack>`, as pulumi-language-python's RunPlugin runs it."""
    process = PolicyPackProcess()
    command = process.command()
    pack = ROOT / "policies"
    assert command[0] == str(pack / "venv" / "bin" / "python")
    assert command[1:4] == ["-u", "-m", "pulumi.policy"] and command[-1] == str(pack)
    assert process.project is not None and process.project.virtualenv == "venv"
    # the pack's venv holds exactly what policies/requirements.txt pins for the SDKs
    pins = dict(line.split("==") for line in (pack / "requirements.txt").read_text().splitlines() if "==" in line)
    versions = subprocess.run(
        [command[0], "-c", "import importlib.metadata as m; print(m.version('pulumi'), m.version('pulumi_policy'))"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.split()
    assert versions == [pins["pulumi"], pins["pulumi_policy"]]


def test_pack_without_its_virtualenv_says_how_to_build_it(tmp_path: Path):
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime:\n  name: python\n  options:\n    virtualenv: venv\n")
    (tmp_path / "__main__.py").write_text("")
    with pytest.raises(PolicyPackStartFailure, match=r"does not appear to be a virtual environment.*make policy-venv"):
        PolicyPackProcess(tmp_path).start()


def test_pack_with_another_runtime_is_refused(tmp_path: Path):
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: nodejs\n")
    with pytest.raises(PolicyPackStartFailure, match="runtime must be python"):
        PolicyPackProcess(tmp_path).start()


# --- Requests: what the pack receives ----------------------------------------------------------------------


def test_requests_carry_parents_and_property_dependencies():
    from gate.analyzer import analyze_requests, analyze_stack_request

    run = run_program(ROOT, "prod")
    stack = analyze_stack_request(run)
    assert len(stack.resources) == len(run.resources) == len(analyze_requests(run))
    by_name = {r.name: r for r in stack.resources}
    rule = by_name["network-database-ingress-from-proxy"]
    assert rule.type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
    assert rule.parent.endswith("::network") and rule.options.parent == rule.parent
    assert list(rule.propertyDependencies["referencedSecurityGroupId"].urns) == [by_name["network-proxy-security-group"].urn]
    # unknown during preview, in the engine's wire form
    assert rule.properties["securityGroupId"] == "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
