"""The drills' client workload: threads that write one row per write and log every acknowledgement and error.

A writer has ``write(seq, client_ts)`` and ``close()``.  :class:`ClientThread`
calls ``write`` in a loop and records, for each write, when it was acknowledged
or which error surfaced to the caller (and when that write had started).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg

#: How many of a writer's latest retries are kept (to explain a slow resume).
RETRY_TRACE_LENGTH = 200
INSERT_WRITE = "INSERT INTO writes (client, seq, client_ts) VALUES (%s, %s, %s)"


class Writer(Protocol):
    def write(self, seq: int, client_ts: float) -> None: ...

    def close(self) -> None: ...


@dataclass
class ErrorRecord:
    """One error surfaced to the caller: when (monotonic), the message, and when its write had started."""

    at: float
    message: str
    write_started: float


@dataclass
class ClientLog:
    name: str
    acks: list[tuple[int, float]] = field(default_factory=list)  # (seq, monotonic time of the acknowledgement)
    errors: list[ErrorRecord] = field(default_factory=list)
    attempted: int = 0
    done: bool = False

    def snapshot(self) -> ClientLog:
        """A copy that a still-running thread cannot change."""
        return ClientLog(self.name, list(self.acks), list(self.errors), self.attempted, self.done)


class ClientThread(threading.Thread):
    """Writes continuously until stopped: one ``write(seq, client_ts)`` per iteration."""

    def __init__(self, name: str, make_writer: Callable[[], Any], interval_s: float, stop: threading.Event) -> None:
        super().__init__(name=f"client-{name}", daemon=True)
        self.log = ClientLog(name)
        self.make_writer = make_writer
        self.interval_s = interval_s
        self.stop_event = stop
        self.writer: Any = None

    def run(self) -> None:
        try:
            self.writer = self.make_writer()
            seq = 0
            while not self.stop_event.is_set():
                seq += 1
                started = time.monotonic()
                self.log.attempted = seq
                try:
                    self.writer.write(seq, time.time())
                    self.log.acks.append((seq, time.monotonic()))
                except Exception as exc:  # every error surfaces to the caller: count it, keep going
                    message = f"{type(exc).__name__}: {str(exc).strip()[:300]}"
                    self.log.errors.append(ErrorRecord(time.monotonic(), message, started))
                pause_s = self.interval_s - (time.monotonic() - started)
                if pause_s > 0:
                    self.stop_event.wait(pause_s)
        except Exception as exc:
            now = time.monotonic()
            self.log.errors.append(ErrorRecord(now, f"client setup failed: {type(exc).__name__}: {exc}", now))
        finally:
            self.log.done = True
            if self.writer is not None:
                with contextlib.suppress(Exception):
                    self.writer.close()


class DbclientWriter:
    """``run_transaction`` with an idempotency key per write, one kept connection (the Lambda pattern).

    *deadline_s*, *max_attempts* and *backoff_cap_s* go to :func:`dbclient.retry.run_transaction`;
    None keeps dbclient's default.
    """

    def __init__(self, name: str, settings: Any, run_id: str, *, deadline_s: float | None = None,
                 max_attempts: int | None = None, backoff_cap_s: float | None = None) -> None:
        from dbclient.connect import connect
        from dbclient.retry import Backoff, SingleConnection

        self.name = name
        self.run_id = run_id
        self.settings = settings
        self.source = SingleConnection(lambda: connect(self.settings))
        self.retries = 0
        #: The latest retries: (monotonic time, attempt, error class, "Type: message", backoff sleep in s).
        self.retry_trace: deque[tuple[float, int, str, str, float]] = deque(maxlen=RETRY_TRACE_LENGTH)
        self.options: dict[str, Any] = {}
        if deadline_s is not None:
            self.options["deadline_s"] = deadline_s
        if max_attempts is not None:
            self.options["max_attempts"] = max_attempts
        if backoff_cap_s is not None:
            self.options["backoff"] = Backoff(cap_s=backoff_cap_s)

    def write(self, seq: int, client_ts: float) -> None:
        from dbclient.retry import run_transaction

        def count_retry(attempt: int, error: BaseException, kind: Any, delay_s: float) -> None:
            self.retries += 1
            summary = f"{type(error).__name__}: {str(error).strip()[:160]}"
            self.retry_trace.append((time.monotonic(), attempt, getattr(kind, "value", str(kind)), summary, delay_s))

        def insert(conn: psycopg.Connection[Any]) -> None:
            conn.execute(INSERT_WRITE, (self.name, seq, client_ts))

        key = f"{self.run_id}:{self.name}:{seq}"
        run_transaction(insert, connection_source=self.source, idempotency_key=key, on_retry=count_retry, **self.options)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.source.close()
