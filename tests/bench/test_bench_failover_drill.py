"""The short crash drill (tests/bench/conftest.py): behaviour, not timing.

The full drills (three faults, four clients, figures and picture) run in
``make bench``.  Here, from one crash of the primary with dbclient writing directly
to the moving writer endpoint and through pgbouncer: every acknowledged write is
on the new primary, none is there twice, and the writers reached the new primary
(acknowledged writes after the promotion).
"""

from __future__ import annotations

import pytest

from bench import netns
from tests.bench.drill_run import DrillRun

pytestmark = pytest.mark.postgres

FAILOVER_CLIENTS = ("dbclient-direct", "dbclient-pgbouncer")


def test_drill_ran_cleanly_and_left_nothing_behind(crash_drill: DrillRun) -> None:
    (run,) = crash_drill.document["runs"]
    assert "error" not in run, run.get("traceback", run.get("error"))
    assert run["topology"] == crash_drill.topology
    assert crash_drill.returncode == 0, crash_drill.output[-3000:]
    if crash_drill.topology == "netns":
        # The drill (same pid after its re-exec under unshare) left no namespace behind.
        assert not [ns for ns in netns.list_namespaces() if ns.startswith(f"{netns.NS_PREFIX}{crash_drill.pid}-")]


def test_crash_drill_loses_and_duplicates_no_acknowledged_write(crash_drill: DrillRun) -> None:
    (run,) = crash_drill.document["runs"]
    assert run["writer_reached_new_primary"], run
    events = run["events_s"]
    assert events["fault"] < events["promote_start"] < events["first_write_new_primary"] <= events["stopped"]
    assert set(run["clients"]) == set(crash_drill.clients)
    for name in FAILOVER_CLIENTS:
        if name not in run["clients"]:
            continue  # pgbouncer not installed
        figures = run["clients"][name]
        # Writes were acknowledged before the crash, and again after the promotion ...
        assert figures["last_ack_before_fault_s"] is not None and figures["last_ack_before_fault_s"] <= 0.5, (name, figures)
        assert not figures["capped"], (name, figures)
        # ... every one of them is on the new primary, exactly once.
        assert figures["acked_writes"] > 0
        assert figures["lost_acked_writes"] == 0, (name, figures["lost_seqs"])
        assert figures["duplicates"] == 0, (name, figures["duplicate_seqs"])
        assert figures["acked_after_promotion"] > 0, (name, figures)
