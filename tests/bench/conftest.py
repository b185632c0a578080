"""Fixtures of the drill tests: one short crash drill, run once per session even under pytest-xdist."""

from __future__ import annotations

import fcntl
import json
import os
import time
from typing import IO

import pytest

from bench.pgcluster import binaries_available
from tests.bench.drill_run import DRILL_TIMEOUT_S, DrillRun, run_drill


def _lock_within(lock: IO[str], timeout_s: float) -> None:
    """An exclusive lock on *lock*, or fail after *timeout_s*."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                pytest.fail(f"another xdist worker held the crash drill's lock for more than {timeout_s:.0f} s")
            time.sleep(0.2)


@pytest.fixture(scope="session")
def crash_drill(tmp_path_factory: pytest.TempPathFactory) -> DrillRun:
    """The drill's results; under pytest-xdist the first worker runs it and the others read its file."""
    if not binaries_available():
        pytest.skip("PostgreSQL 15 binaries missing: run `make setup`")
    if os.environ.get("PYTEST_XDIST_WORKER") is None:  # no xdist: this process is the only one
        return run_drill(tmp_path_factory.mktemp("crash_drill") / "crash_drill.json")
    shared = tmp_path_factory.getbasetemp().parent  # pytest-N/: common to this session's xdist workers only
    out = shared / "crash_drill.json"
    meta = shared / "crash_drill.meta.json"
    with open(shared / "crash_drill.lock", "w") as lock:
        _lock_within(lock, DRILL_TIMEOUT_S + 90)  # the other worker's drill, torn down; released when the file closes
        if not meta.exists():
            run = run_drill(out)
            meta.write_text(json.dumps({"returncode": run.returncode, "output": run.output[-6000:],
                                        "topology": run.topology, "pid": run.pid, "clients": run.clients}))
            return run
    info = json.loads(meta.read_text())
    return DrillRun(json.loads(out.read_text()), info["returncode"], info["output"], info["topology"], info["pid"],
                    info["clients"])
