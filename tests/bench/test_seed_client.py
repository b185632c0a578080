"""bench/seed_client.py holds the scenario's Step 4 code verbatim (the drill measures what the scenario recommends).

The scenario lives beside the repository, at ``../shared/seed/scenario.txt``
relative to its root (CI checks a copy of shared/ out there, read-only).
"""

from __future__ import annotations

from pathlib import Path

from bench.seed_client import verbatim_block

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT.parent / "shared" / "seed" / "scenario.txt"


def test_seed_client_is_the_scenario_step_4_code_verbatim() -> None:
    assert SCENARIO.is_file(), (
        f"the scenario is expected beside the repository at ../shared/seed/scenario.txt ({SCENARIO}): "
        "check out shared/ next to the clone"
    )
    block = verbatim_block()
    assert "class DatabaseConnection" in block and "def with_retry" in block
    assert block.strip() in SCENARIO.read_text()
