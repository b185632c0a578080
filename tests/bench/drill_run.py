"""One short crash drill on real PostgreSQL 15, run by the ``crash_drill`` fixture (tests/bench/conftest.py).

The drill (``python -m bench.long_outage``) crashes the primary, keeps the
server-side outage at :data:`OUTAGE_S` seconds, and runs concurrently: dbclient
direct and through pgbouncer with the failover drill's settings, and dbclient with
its shipped defaults and an operation budget longer (:data:`LONG_BUDGET_FACTOR`) and
shorter (:data:`SHORT_BUDGET_FACTOR`) than the outage.  With network namespaces
(root) it uses the netns topology and a private /etc/hosts; without them the
loopback topology (a TCP forwarder as the moving endpoint).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import netns
from bench.pgcluster import pgbouncer_binary

ROOT = Path(__file__).resolve().parents[2]
OUTAGE_S = 3.0
LONG_BUDGET_FACTOR = 3.0
SHORT_BUDGET_FACTOR = 0.85
DRILL_TIMEOUT_S = 150


@dataclass
class DrillRun:
    document: dict[str, Any]
    returncode: int
    output: str
    topology: str
    pid: int
    clients: list[str]


def run_drill(out: Path) -> DrillRun:
    topology = "netns" if netns.available() else "loopback"
    clients = ["dbclient-direct", "dbclient-budget-long", "dbclient-budget-short"]
    if pgbouncer_binary():
        clients.append("dbclient-pgbouncer")
    cmd = [sys.executable, "-m", "bench.long_outage", "--faults", "crash", "--outages-s", str(OUTAGE_S),
           "--clients", ",".join(clients), "--long-budget-factor", str(LONG_BUDGET_FACTOR),
           "--short-budget-factor", str(SHORT_BUDGET_FACTOR), "--topology", topology,
           "--pre-fault-s", "1.5", "--tail-s", "1", "--out", str(out)]
    with subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}) as proc:
        try:
            output, _ = proc.communicate(timeout=DRILL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.terminate()  # SIGTERM: the drill tears down its servers and namespaces
            output, _ = proc.communicate(timeout=60)
    assert out.exists(), f"drill wrote no results (exit {proc.returncode})\n{output[-4000:]}"
    return DrillRun(json.loads(out.read_text()), int(proc.returncode), output, topology, proc.pid, clients)
