"""A short crash-fault failover drill on real PostgreSQL 15: behaviour, not timing.

The full drills (three faults, three clients, figures and picture) run in
``make bench``.  Here: one crash of the primary, dbclient writing directly to the
moving writer endpoint and through pgbouncer; we assert that every acknowledged
write is on the new primary, none is there twice, and the writers reached the
new primary (acknowledged writes after the promotion).

With network namespaces (root) the drill uses the netns topology and a private
/etc/hosts; without them it uses the loopback topology (a TCP forwarder as the
moving endpoint).  Either way the same properties are asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import netns
from bench.pgcluster import binaries_available, pgbouncer_binary
from bench.seed_client import verbatim_block

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = Path("/work/shared/seed/scenario.txt")

pytestmark = pytest.mark.postgres


def _topology() -> str:
    return "netns" if netns.available() else "loopback"


@pytest.mark.skipif(not binaries_available(), reason="PostgreSQL 15 binaries missing: run `make setup`")
def test_crash_drill_loses_and_duplicates_no_acknowledged_write(tmp_path: Path) -> None:
    out = tmp_path / "failover.json"
    clients = "dbclient-direct,dbclient-pgbouncer" if pgbouncer_binary() else "dbclient-direct"
    topology = _topology()
    cmd = [sys.executable, "-m", "bench.failover", "--faults", "crash", "--clients", clients,
           "--topology", topology, "--pre-fault-s", "1.5", "--detection-delay-s", "1", "--tail-s", "1",
           "--cap-s", "25", "--out", str(out)]
    with subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.terminate()  # SIGTERM: the drill tears down its servers and namespaces
            stdout, stderr = proc.communicate(timeout=60)
    # The drill (same pid after its re-exec under unshare) left no namespace behind.
    if topology == "netns":
        assert not [ns for ns in netns.list_namespaces() if ns.startswith(f"{netns.NS_PREFIX}{proc.pid}-")]
    assert out.exists(), f"drill wrote no results\nstdout:\n{stdout}\nstderr:\n{stderr}"
    document = json.loads(out.read_text())
    (run,) = document["runs"]
    assert "error" not in run, run.get("traceback", run.get("error"))
    assert run["topology"] == topology
    assert run["writer_reached_new_primary"], run
    events = run["events_s"]
    assert events["fault"] < events["promote_start"] < events["first_write_new_primary"] <= events["stopped"]
    assert set(run["clients"]) == set(clients.split(","))
    for name, figures in run["clients"].items():
        # Writes were acknowledged before the crash, and again after the promotion ...
        assert figures["last_ack_before_fault_s"] is not None and figures["last_ack_before_fault_s"] <= 0.5, (name, figures)
        assert not figures["capped"], (name, figures)
        # ... every one of them is on the new primary, exactly once.
        assert figures["acked_writes"] > 0
        assert figures["lost_acked_writes"] == 0, (name, figures["lost_seqs"])
        assert figures["duplicates"] == 0, (name, figures["duplicate_seqs"])
        assert figures["acked_after_promotion"] > 0, (name, figures)
    assert proc.returncode == 0, stderr[-3000:]


@pytest.mark.skipif(not SCENARIO.exists(), reason=f"{SCENARIO} not present on this machine")
def test_seed_client_is_the_scenario_step_4_code_verbatim() -> None:
    block = verbatim_block()
    assert "class DatabaseConnection" in block and "def with_retry" in block
    assert block.strip() in SCENARIO.read_text()
