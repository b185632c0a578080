"""The pack runs from a copy of ``policies/`` alone, as ``pulumi policy publish`` uploads it.

The copy gets its own virtualenv, built from the copy's ``requirements.txt`` (offline, from the wheels
``make policy-venv`` keeps in ``build/policy-wheels``); the gate starts it from there, as the CLI would,
and its verdicts on dev, prod and the seed must equal the in-repo pack's.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from policy_harness import ROOT, SEED, env_config

from gate.analyzer import GateResult, PolicyGate
from gate.program import run_program

WHEELS = ROOT / "build" / "policy-wheels"
PACK = ROOT / "policies"


def _copy_pack(target: Path) -> Path:
    """``policies/`` without its virtualenv and caches: what a publish uploads."""
    shutil.copytree(PACK, target, ignore=shutil.ignore_patterns("venv", "__pycache__", "*.pyc"))
    return target


@pytest.fixture(scope="module")
def standalone_gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PolicyGate]:
    if not (PACK / "venv" / "bin" / "python").exists() or not WHEELS.is_dir():
        pytest.fail("the pack's virtualenv or its wheels (build/policy-wheels) are missing: "
                    "run `rm -rf policies/venv && make policy-venv`")
    pack = _copy_pack(tmp_path_factory.mktemp("published") / "policies")
    venv = pack / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    install = subprocess.run(
        [str(PACK / "venv" / "bin" / "python"), "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
         "-q", "--disable-pip-version-check", "--no-compile", "--no-index", "--find-links", str(WHEELS),
         "-r", str(pack / "requirements.txt")],
        capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, install.stderr
    gate = PolicyGate(pack_dir=pack).start()
    yield gate
    gate.stop()


def _verdict(result: GateResult) -> list[tuple[str, str, str, str]]:
    return sorted((v.policy, v.level, v.urn, v.message) for v in result.violations)


@pytest.mark.parametrize(("project", "stack", "config"), [(ROOT, "dev", "dev"), (ROOT, "prod", "prod"), (SEED, "seed", "prod")])
def test_published_pack_gives_the_in_repo_verdict(standalone_gate: PolicyGate, policy_gate: PolicyGate, project, stack,
                                                 config):
    assert standalone_gate.process is not None and standalone_gate.process.pack_dir != PACK
    run = run_program(project, stack, provider_check=True)
    published = standalone_gate.check(run, env_config(config))
    in_repo = policy_gate.check(run, env_config(config))
    assert _verdict(published) == _verdict(in_repo)
    assert published.passed == (stack != "seed")
    assert set(standalone_gate.info().policies) == set(policy_gate.info().policies)


def test_published_pack_imports_nothing_from_the_repository(standalone_gate: PolicyGate):
    """Its Python sees only the copy: the rules and their AWS facts load from there, the program's modules do not."""
    assert standalone_gate.process is not None
    pack = standalone_gate.process.pack_dir
    probe = (
        "import importlib.util, sys; sys.path.insert(0, '.'); import rules.registry, rules.rds_facts; "
        "print(rules.rds_facts.__file__); print(importlib.util.find_spec('components'))"
    )
    out = subprocess.run([str(pack / "venv" / "bin" / "python"), "-c", probe], cwd=pack, capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    assert out == [str(pack / "rules" / "rds_facts.py"), "None"]


def test_the_program_shares_the_packs_facts_without_loading_rules():
    """components/sizing.py re-exports rds_facts (one source of numbers) and imports no rule, no pulumi_policy."""
    probe = (
        "import sys; import components.sizing as s; import policies.rules.rds_facts as f; "
        "assert s.instance_memory_bytes is f.instance_memory_bytes and s.INSTANCE_MEMORY_GIB is f.INSTANCE_MEMORY_GIB; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('policies', 'rules', 'pulumi_policy')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "['policies', 'policies.rules', 'policies.rules.rds_facts']"
