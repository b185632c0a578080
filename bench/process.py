"""Process-wide setup for the drill commands: a private mount namespace, clean SIGTERM, quiet client loggers."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Sequence

from bench import netns

#: Set (to "1") in the environment of a drill re-executed in a private mount namespace.
PRIVATE_MOUNTS_ENV = "RRDS_PRIVATE_MOUNTS"


def in_private_mounts() -> bool:
    """True when this process runs in the private mount namespace :func:`reexec_with_private_mounts` made."""
    return os.environ.get(PRIVATE_MOUNTS_ENV) == "1"


def reexec_with_private_mounts(module: str, argv: Sequence[str]) -> None:
    """Re-run ``python -m module argv`` in a private mount namespace (for the private /etc/hosts), if we can."""
    if in_private_mounts() or os.geteuid() != 0 or not netns.available():
        return
    env = {**os.environ, PRIVATE_MOUNTS_ENV: "1"}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe("unshare", ["unshare", "--mount", "--propagation", "private", "--",
                           sys.executable, "-m", module, *argv], env)


def exit_cleanly_on_sigterm() -> None:
    """SIGTERM raises SystemExit in the main thread, so servers, pgbouncer and namespaces are torn down."""

    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def quiet_client_loggers() -> None:
    """The drill counts errors and retries itself; keep the clients' warnings off the terminal."""
    for name in ("bench.seed_client", "dbclient", "psycopg", "psycopg.pool"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
