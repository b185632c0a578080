"""Failover drill: a primary and a synchronous standby, a fault, a promotion, and clients writing through it.

Topology (``--topology netns``, the default when we may create network namespaces):
the primary runs in namespace "a", its synchronous standby in namespace "b"
(:mod:`bench.netns`); clients, pgbouncer and the controller run in the root
namespace.  The *writer endpoint* is a host name, as the RDS endpoint is: this
process runs in a private mount namespace (``unshare --mount``) with its own
``/etc/hosts``, in which ``writer.rrds.internal`` points at the primary's address
and, after the failover, at the new primary's.  Like a DNS change, that moves
only *new* connections: established ones stay with the old host, which is what
makes the three faults differ:

* ``crash``   SIGKILL of every server process: the host's kernel resets connections.
* ``netloss`` every link of namespace "a" goes down: packets vanish, nothing resets.
* ``hang``    SIGSTOP of every server process: TCP stays up, nothing answers.

The controller waits ``--detection-delay`` seconds after the fault, promotes
the standby, moves the endpoint (hosts file) and re-points pgbouncer (RELOAD +
RECONNECT), then records when the new primary first accepts a write.

Clients, concurrently, each writing one row per write with a unique (client, seq):

* ``seed``               the seed's Step 4 ``DatabaseConnection.execute`` (psycopg2), verbatim;
* ``dbclient-direct``    :func:`dbclient.retry.run_transaction` with an idempotency key, to the endpoint;
* ``dbclient-pgbouncer`` the same through pgbouncer (transaction pooling, the RDS Proxy stand-in);
* ``dbclient-defaults``  for comparison: dbclient direct with its shipped defaults (only ``sslmode``
  changed: the local servers have no TLS), where the two above use the drill's tighter timeouts.

Afterwards the new primary is queried: an acknowledged write missing there is
*lost*; a (client, seq) present twice is a *duplicate*.

``--topology loopback`` (used when network namespaces are unavailable) puts both
servers on 127.0.0.1 behind a small TCP forwarder acting as the moving endpoint;
the network-loss fault needs namespaces and is not run there.

Usage: ``python -m bench.failover [--faults crash,netloss,hang] [--cap 180] [--plot]``.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import logging
import os
import platform
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench import netns
from bench.pgcluster import APP_PASSWORD, APP_USER, Pgbouncer, PgCluster, make_workdir, pgbouncer_binary

RESULTS_DIR = Path(__file__).resolve().parent / "results"
FAULTS = ("crash", "netloss", "hang")
CLIENTS = ("seed", "dbclient-direct", "dbclient-pgbouncer", "dbclient-defaults")
WRITER_HOST = "writer.rrds.internal"
PRIVATE_MOUNTS_ENV = "RRDS_PRIVATE_MOUNTS"
#: Extra client outage allowed over the server-side outage (issue 5's targets for dbclient).
TARGET_EXTRA_S = {"crash": 1.0, "netloss": 3.0, "hang": 3.0}
BIN_S = 0.1

SCHEMA = """
CREATE TABLE IF NOT EXISTS writes (
    client text NOT NULL,
    seq integer NOT NULL,
    client_ts double precision NOT NULL,
    server_ts timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE IF NOT EXISTS failover_probe (t double precision NOT NULL);
"""
INSERT_WRITE = "INSERT INTO writes (client, seq, client_ts) VALUES (%s, %s, %s)"


@dataclass
class DrillConfig:
    faults: Sequence[str] = FAULTS
    clients: Sequence[str] = CLIENTS
    topology: str = "auto"
    #: Seconds between the fault and the controller's promotion (RDS detection time, shortened).
    detection_delay: float = 3.0
    #: Seconds of steady writing before the fault.
    pre_fault: float = 4.0
    #: Keep the run going this long after every client has recovered.
    tail: float = 3.0
    #: Stop a run this long after the fault even if a client has not recovered.
    cap: float = 180.0
    #: Target pause between two writes of one client (about 100 writes/s each).
    write_interval: float = 0.01
    #: dbclient settings used by both dbclient clients (see the report for why they are tighter than the defaults).
    operation_timeout: float = 2.0
    connect_timeout: int = 2
    tcp_user_timeout_ms: int = 2000
    keepalives_idle: int = 1
    keepalives_interval: int = 1
    keepalives_count: int = 2
    txn_deadline_s: float = 60.0
    txn_max_attempts: int = 1000
    #: dbclient's Backoff cap for the drill (its default is 2.0 s; see the report).
    backoff_cap_s: float = 0.5


# --- writer endpoint ----------------------------------------------------------------------------------


class HostsEndpoint:
    """A host name in this process's private /etc/hosts: a DNS record we can change.

    The file is bind-mounted over /etc/hosts once (we are in a private mount
    namespace); changing the address rewrites its 15 characters in place with
    one ``pwrite``, so a concurrent lookup sees the old or the new address,
    never a half-written file.
    """

    _file: Path | None = None
    _offset = 0

    def __init__(self, name: str = WRITER_HOST) -> None:
        if os.environ.get(PRIVATE_MOUNTS_ENV) != "1":
            raise RuntimeError("HostsEndpoint needs a private mount namespace (run through bench.failover.main)")
        self.host = name
        self.port = 0
        self._install()

    @classmethod
    def _install(cls) -> None:
        if cls._file is not None:
            return
        original = Path("/etc/hosts").read_text()
        if not original.endswith("\n"):
            original += "\n"
        workdir = make_workdir("rrds-hosts-")
        atexit.register(shutil.rmtree, workdir, True)  # the bind mount ends with our mount namespace
        path = workdir / "hosts"
        head = original + "# resilient-rds failover drill (private mount namespace)\n"
        path.write_text(head + f"{'127.0.0.1':<15} {WRITER_HOST}\n")
        path.chmod(0o644)
        subprocess.run(["mount", "--bind", str(path), "/etc/hosts"], check=True, capture_output=True, timeout=10)
        cls._file, cls._offset = path, len(head.encode())

    def point_to(self, address: str, port: int) -> None:
        assert self._file is not None and len(address) <= 15
        fd = os.open(self._file, os.O_WRONLY)
        try:
            os.pwrite(fd, f"{address:<15}".encode(), self._offset)
        finally:
            os.close(fd)
        self.port = port

    def close(self) -> None:
        pass


class ForwarderEndpoint:
    """Loopback fallback: a TCP forwarder whose *new* connections go to the current target.

    Established connections keep their upstream (as with DNS), and are closed
    when the upstream closes or resets.
    """

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._target: tuple[str, int] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name="forwarder", daemon=True)
        self._thread.start()

    def point_to(self, address: str, port: int) -> None:
        self._target = (address, port)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._pipe, args=(client, self._target), daemon=True).start()

    def _pipe(self, client: socket.socket, target: tuple[str, int] | None) -> None:
        try:
            if target is None:
                return
            upstream = socket.create_connection(target, timeout=2)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        client.settimeout(None)
        socks = [client, upstream]
        try:
            while not self._stop.is_set():
                readable, _, _ = select.select(socks, [], [], 0.5)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)
        except OSError:
            return
        finally:
            for sock in socks:
                with contextlib.suppress(OSError):
                    sock.close()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()


# --- clients -----------------------------------------------------------------------------------------


@dataclass
class ClientLog:
    name: str
    acks: list[tuple[int, float]] = field(default_factory=list)  # (seq, monotonic time of the acknowledgement)
    errors: list[tuple[float, str]] = field(default_factory=list)
    attempted: int = 0
    done: bool = False


class ClientThread(threading.Thread):
    """Writes continuously until stopped: one ``write(seq, client_ts)`` per iteration."""

    def __init__(self, name: str, make_writer: Callable[[], Any], interval: float, stop: threading.Event) -> None:
        super().__init__(name=f"client-{name}", daemon=True)
        self.log = ClientLog(name)
        self.make_writer = make_writer
        self.interval = interval
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
                    self.log.errors.append((time.monotonic(), f"{type(exc).__name__}: {str(exc).strip()[:300]}"))
                pause = self.interval - (time.monotonic() - started)
                if pause > 0:
                    self.stop_event.wait(pause)
        except Exception as exc:
            self.log.errors.append((time.monotonic(), f"client setup failed: {type(exc).__name__}: {exc}"))
        finally:
            self.log.done = True
            if self.writer is not None:
                with contextlib.suppress(Exception):
                    self.writer.close()


class DbclientWriter:
    """``run_transaction`` with an idempotency key per write, one kept connection (the Lambda pattern)."""

    def __init__(self, name: str, host: str, port: int, run_id: str, cfg: DrillConfig, *, defaults: bool = False) -> None:
        from dbclient.connect import ConnectionSettings, connect
        from dbclient.retry import SingleConnection

        self.name = name
        self.run_id = run_id
        self.cfg = cfg
        self.defaults = defaults
        self.settings = ConnectionSettings(
            host=host, port=port, dbname=APP_USER, user=APP_USER, password=APP_PASSWORD, sslmode="disable",
            application_name=f"drill-{name}",
        ) if defaults else ConnectionSettings(
            host=host, port=port, dbname=APP_USER, user=APP_USER, password=APP_PASSWORD, sslmode="disable",
            connect_timeout_s=cfg.connect_timeout, operation_timeout_s=cfg.operation_timeout,
            tcp_user_timeout_ms=cfg.tcp_user_timeout_ms, keepalives_idle_s=cfg.keepalives_idle,
            keepalives_interval_s=cfg.keepalives_interval, keepalives_count=cfg.keepalives_count,
            application_name=f"drill-{name}",
        )
        self.source = SingleConnection(lambda: connect(self.settings))
        self.retries = 0

    def write(self, seq: int, client_ts: float) -> None:
        from dbclient.retry import Backoff, run_transaction

        def count_retry(*_: object) -> None:
            self.retries += 1

        def insert(conn: psycopg.Connection[Any]) -> None:
            conn.execute(INSERT_WRITE, (self.name, seq, client_ts))

        key = f"{self.run_id}:{self.name}:{seq}"
        if self.defaults:
            run_transaction(insert, connection_source=self.source, idempotency_key=key, on_retry=count_retry)
            return
        run_transaction(insert, connection_source=self.source, idempotency_key=key,
                        deadline_s=self.cfg.txn_deadline_s, max_attempts=self.cfg.txn_max_attempts,
                        backoff=Backoff(cap_s=self.cfg.backoff_cap_s), on_retry=count_retry)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.source.close()


# --- one fault run ----------------------------------------------------------------------------------------


@dataclass
class Site:
    cluster: PgCluster
    address: str  # where clients in the root namespace reach it
    zone: str | None = None


class Drill:
    """Build the topology for one fault, run clients and controller, verify, tear down."""

    def __init__(self, fault: str, cfg: DrillConfig, topology: str) -> None:
        self.fault = fault
        self.cfg = cfg
        self.topology = topology
        self.run_id = f"{fault}-{os.getpid()}-{int(time.time())}"
        self.net: netns.Topology | None = None
        self.primary: Site | None = None
        self.standby: Site | None = None
        self.endpoint: HostsEndpoint | ForwarderEndpoint | None = None
        self.bouncer: Pgbouncer | None = None
        self.events: dict[str, float] = {}
        self.notes: list[str] = []

    # --- setup -----------------------------------------------------------------------------------------

    def setup(self) -> None:
        settings = {"wal_sender_timeout": "5s", "wal_receiver_timeout": "5s", "max_connections": "50"}
        if self.topology == "netns":
            self.net = netns.Topology().create()
            net = self.net
            hba = [f"host replication {netns_user()} {net.repl_ip('b')}/32 trust",
                   f"host replication {netns_user()} {net.repl_ip('a')}/32 trust",
                   f"host all all {net.root_ip('a')}/32 scram-sha-256",
                   f"host all all {net.root_ip('b')}/32 scram-sha-256"]
            primary = PgCluster.create(name="primary", netns=net.ns["a"], hba_extra=hba, settings=settings,
                                       listen_addresses=(net.server_ip("a"), net.repl_ip("a")))
            self.primary = Site(primary, net.server_ip("a"), "a")
            self._schema(primary.conninfo(dbname=APP_USER, user=APP_USER))
            # Same port in the other namespace: the endpoint moves by address only, as a DNS record does.
            standby = primary.create_standby("standby", port=primary.port, netns=net.ns["b"], primary_host=net.repl_ip("a"),
                                             listen_addresses=(net.server_ip("b"), net.repl_ip("b")))
            self.standby = Site(standby, net.server_ip("b"), "b")
            self.endpoint = HostsEndpoint()
        else:
            primary = PgCluster.create(name="primary", settings=settings)
            self.primary = Site(primary, "127.0.0.1")
            self._schema(primary.conninfo(dbname=APP_USER, user=APP_USER))
            standby = primary.create_standby("standby")
            self.standby = Site(standby, "127.0.0.1")
            self.endpoint = ForwarderEndpoint()
        self.endpoint.point_to(self.primary.address, primary.port)
        if "dbclient-pgbouncer" in self.cfg.clients:
            self.bouncer = Pgbouncer.start_new(
                primary.workdir, backend_host=self.primary.address, backend_port=primary.port,
                settings={
                    "default_pool_size": "5",
                    "max_client_conn": "50",
                    "server_connect_timeout": "2",
                    "server_login_retry": "0.2",
                    "query_wait_timeout": "30",
                    "tcp_keepalive": "1",
                    "tcp_keepidle": "1",
                    "tcp_keepintvl": "1",
                    "tcp_keepcnt": "2",
                    "tcp_user_timeout": "2000",
                    "server_check_delay": "0",
                },
            )

    @staticmethod
    def _schema(conninfo: str) -> None:
        from dbclient.retry import ensure_schema

        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(SCHEMA)
            conn.autocommit = False
            ensure_schema(conn)

    def _client_factories(self) -> dict[str, Callable[[], Any]]:
        assert self.endpoint is not None and self.primary is not None
        endpoint = self.endpoint
        port = self.primary.cluster.port if isinstance(endpoint, HostsEndpoint) else endpoint.port

        def seed() -> Any:
            from bench.seed_client import SeedWriter

            dsn = f"host={endpoint.host} port={port} dbname={APP_USER} user={APP_USER} password={APP_PASSWORD}"
            return SeedWriter(dsn, "seed")

        factories: dict[str, Callable[[], Any]] = {
            "seed": seed,
            "dbclient-direct": lambda: DbclientWriter("dbclient-direct", endpoint.host, port, self.run_id, self.cfg),
            "dbclient-defaults": lambda: DbclientWriter("dbclient-defaults", endpoint.host, port, self.run_id, self.cfg,
                                                        defaults=True),
        }
        if self.bouncer is not None:
            bouncer = self.bouncer
            factories["dbclient-pgbouncer"] = lambda: DbclientWriter(
                "dbclient-pgbouncer", "127.0.0.1", bouncer.port, self.run_id, self.cfg)
        return {name: factories[name] for name in self.cfg.clients}

    # --- the fault --------------------------------------------------------------------------------------

    def inject(self) -> None:
        assert self.primary is not None
        if self.fault == "crash":
            # SIGKILL everything now; PgCluster.kill() (which also waits for the exit) runs at the end.
            for pid in self.primary.cluster.server_pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        elif self.fault == "hang":
            self.primary.cluster.pause()
        elif self.fault == "netloss":
            assert self.net is not None
            self.net.set_links("a", up=False)
        else:
            raise ValueError(f"unknown fault {self.fault!r}")

    def controller(self) -> None:
        """Detection delay, promote, move the endpoint, re-point pgbouncer; a probe records the first write.

        The probe starts with the promotion and tries an INSERT on the new primary
        every 10 ms (directly, not through the endpoint), so the server-side outage
        ends when the new primary can first accept a write, not when the
        controller has finished its bookkeeping.
        """
        assert self.standby is not None and self.endpoint is not None
        time.sleep(self.cfg.detection_delay)
        self.events["promote_start"] = time.monotonic()
        probe = threading.Thread(target=self._guard(self._probe_first_write), name="probe", daemon=True)
        probe.start()
        self.standby.cluster.promote()
        self.events["promoted"] = time.monotonic()
        self.endpoint.point_to(self.standby.address, self.standby.cluster.port)
        self.events["endpoint_moved"] = time.monotonic()
        if self.bouncer is not None:
            self.bouncer.repoint(self.standby.address, self.standby.cluster.port)
            self.events["pgbouncer_repointed"] = time.monotonic()
        probe.join(timeout=65)

    def _probe_first_write(self) -> None:
        assert self.standby is not None
        conninfo = self.standby.cluster.conninfo(host=self.standby.address, dbname=APP_USER, user=APP_USER,
                                                 connect_timeout=2)
        deadline = time.monotonic() + 60
        with psycopg.connect(conninfo, autocommit=True) as conn:
            while time.monotonic() < deadline:
                try:
                    conn.execute("INSERT INTO failover_probe (t) VALUES (%s)", (time.time(),))
                    self.events["first_write_new_primary"] = time.monotonic()
                    return
                except psycopg.errors.ReadOnlySqlTransaction:
                    time.sleep(0.01)
        self.notes.append("the new primary accepted no write within 60 s")

    # --- run ----------------------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        stop = threading.Event()
        threads: list[ClientThread] = []
        try:
            self.setup()
            self.events["setup_done"] = time.monotonic()
            for name, factory in self._client_factories().items():
                thread = ClientThread(name, factory, self.cfg.write_interval, stop)
                threads.append(thread)
                thread.start()
            time.sleep(self.cfg.pre_fault)
            self.events["fault"] = time.monotonic()
            self.inject()
            self.events["fault_applied"] = time.monotonic()
            control = threading.Thread(target=self._guard(self.controller), name="controller", daemon=True)
            control.start()
            capped = self._wait_for_recovery(threads)
            control.join(timeout=70)
            stop.set()
            self.events["stopped"] = time.monotonic()
            self._release_stuck_clients()
            join_until = time.monotonic() + 20
            for thread in threads:
                thread.join(timeout=max(0.1, join_until - time.monotonic()))
            stuck = [t.log.name for t in threads if t.is_alive()]
            if stuck:
                self.notes.append(f"client threads still blocked at the end (abandoned): {', '.join(stuck)}")
            # What each client had acknowledged before we look at the new primary (a thread left blocked could
            # still acknowledge a write after the query, which must not count as lost).
            logs = [(ClientLog(t.log.name, list(t.log.acks), list(t.log.errors), t.log.attempted), t.writer)
                    for t in threads]
            stored = self._stored_writes()
            result = self._figures(logs, stored, capped)
        except Exception as exc:
            stop.set()
            result = {"fault": self.fault, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        finally:
            stop.set()
            self.teardown()
        result["wall_s"] = round(time.monotonic() - started, 1)
        return result

    def _guard(self, fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except Exception as exc:
                self.notes.append(f"controller failed: {type(exc).__name__}: {exc}")
        return run

    def _wait_for_recovery(self, threads: list[ClientThread]) -> dict[str, bool]:
        """Until every client has an ack after the fault (plus the tail), or the cap."""
        cap_at = self.events["fault"] + self.cfg.cap
        recovered_at: dict[str, float] = {}
        while time.monotonic() < cap_at:
            for thread in threads:
                promote_start = self.events.get("promote_start")
                if (thread.log.name not in recovered_at and promote_start is not None
                        and any(t >= promote_start for _, t in thread.log.acks[-5:])):
                    recovered_at[thread.log.name] = time.monotonic()
            if (len(recovered_at) == len(threads) and "first_write_new_primary" in self.events
                    and time.monotonic() >= max(recovered_at.values()) + self.cfg.tail):
                break
            time.sleep(0.1)
        return {t.log.name: t.log.name not in recovered_at for t in threads}

    def _release_stuck_clients(self) -> None:
        """Unblock clients still waiting on the old primary: kill it, then let its (reset) packets through."""
        assert self.primary is not None
        with contextlib.suppress(Exception):
            self.primary.cluster.kill()
        if self.net is not None:
            with contextlib.suppress(Exception):
                self.net.abort_sockets("a")  # a client still waiting on the old primary gets an error now
            if self.fault == "netloss":
                with contextlib.suppress(Exception):
                    self.net.set_links("a", up=True)

    def _stored_writes(self) -> dict[tuple[str, int], int]:
        assert self.standby is not None
        conninfo = self.standby.cluster.conninfo(host=self.standby.address, dbname=APP_USER, user=APP_USER)
        with psycopg.connect(conninfo) as conn:
            rows = conn.execute("SELECT client, seq, count(*) FROM writes GROUP BY client, seq").fetchall()
        return {(client, seq): count for client, seq, count in rows}

    def _figures(self, logs: list[tuple[ClientLog, Any]], stored: dict[tuple[str, int], int],
                 capped: dict[str, bool]) -> dict[str, Any]:
        ev = self.events
        t0 = ev["fault"]
        first_write = ev.get("first_write_new_primary")
        server_outage = first_write - t0 if first_write is not None else None
        end = ev["stopped"]
        clients = {}
        for log, writer in logs:
            # Acknowledgements that arrive after the stop (a released, capped client finishing) do not count.
            ack_times = [t for _, t in log.acks if t <= end]
            # The old primary can still deliver acknowledgements already in flight when the fault hits, and the
            # standby accepts no write before its promotion starts: so the first acknowledgement at or after the
            # start of the promotion is the first one from the new primary.
            promote_start = ev.get("promote_start", end)
            after = [t for t in ack_times if t >= promote_start]
            in_flight = [t for t in ack_times if ev["fault"] <= t < promote_start]
            first_after = after[0] if after else None
            before = [t for t in ack_times if first_after is None or t < first_after]
            last_before = before[-1] if before else None
            if first_after is not None and last_before is not None:
                outage = first_after - last_before
            elif last_before is not None:
                outage = end - last_before  # capped: a lower bound
            else:
                outage = None
            acked = {seq for seq, _ in log.acks}  # all of them, for the loss check
            lost = sorted(seq for seq in acked if (log.name, seq) not in stored)
            dups = sorted(seq for (client, seq), count in stored.items() if client == log.name and count > 1)
            unacked_committed = sorted(seq for (client, seq) in stored if client == log.name and seq not in acked)
            errors = [(t, m) for t, m in log.errors if t <= end]  # not the ones our teardown provokes
            error_kinds: dict[str, int] = {}
            for _, message in errors:
                kind = message.split(":", 1)[0]
                error_kinds[kind] = error_kinds.get(kind, 0) + 1
            samples: list[str] = []
            for _, message in errors:
                if message not in samples and len(samples) < 4:
                    samples.append(message)
            extra = None if outage is None or server_outage is None else outage - server_outage
            figures: dict[str, Any] = {
                "acked_writes": len(acked),
                "attempted_writes": log.attempted,
                "client_outage_s": _r(outage),
                "server_outage_s": _r(server_outage),
                "difference_s": _r(extra),
                "last_ack_before_fault_s": _r(last_before - t0 if last_before is not None else None),
                "first_ack_after_fault_s": _r(first_after - t0 if first_after is not None else None),
                "capped": capped.get(log.name, False),
                "acks_after_fault_before_promotion": len(in_flight),
                "acked_after_promotion": len(after),
                "lost_acked_writes": len(lost),
                "lost_seqs": lost[:20],
                "duplicates": len(dups),
                "duplicate_seqs": dups[:20],
                "committed_but_not_acked": len(unacked_committed),
                "errors_surfaced": len(errors),
                # run_transaction's on_retry calls (a lost COMMIT resolved through the idempotency key is not one).
                "on_retry_calls": getattr(writer, "retries", None),
                "error_kinds": error_kinds,
                "error_samples": samples,
                "timeline_per_100ms": _bins([t - t0 for t in ack_times], ev["setup_done"] - t0, end - t0),
            }
            if log.name.startswith("dbclient"):
                target = TARGET_EXTRA_S[self.fault]
                figures["target_extra_s"] = target
                figures["meets_target"] = bool(
                    extra is not None and not figures["capped"] and extra <= target
                    and not lost and not dups
                )
            clients[log.name] = figures
        return {
            "fault": self.fault,
            "topology": self.topology,
            "detection_delay_s": self.cfg.detection_delay,
            "cap_s": self.cfg.cap,
            "server_outage_s": _r(server_outage),
            "events_s": {k: _r(v - t0) for k, v in ev.items()},
            "timeline_start_s": _r(ev["setup_done"] - t0),
            "writer_reached_new_primary": first_write is not None,
            "clients": clients,
            "notes": self.notes,
        }

    def teardown(self) -> None:
        if isinstance(self.endpoint, HostsEndpoint):
            # A client thread still retrying must not follow the name to an address about to disappear.
            self.endpoint.point_to("127.0.0.1", 0)
        if self.bouncer is not None:
            with contextlib.suppress(Exception):
                self.bouncer.destroy()
        for site in (self.standby, self.primary):
            if site is not None:
                with contextlib.suppress(Exception):
                    site.cluster.destroy()
        if self.endpoint is not None:
            self.endpoint.close()
        if self.primary is not None:
            shutil.rmtree(self.primary.cluster.workdir, ignore_errors=True)
        if self.net is not None:
            self.net.destroy()


def netns_user() -> str:
    from bench.pgcluster import PG_USER

    return PG_USER


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _bins(times: Sequence[float], start: float, end: float) -> list[int]:
    first = int(start // BIN_S)
    counts = [0] * max(1, int(end // BIN_S) - first + 1)
    for t in times:
        index = int(t // BIN_S) - first
        if 0 <= index < len(counts):
            counts[index] += 1
    return counts


# --- picture --------------------------------------------------------------------------------------------

COLORS = {"seed": "#d62728", "dbclient-direct": "#1f77b4", "dbclient-pgbouncer": "#2ca02c", "dbclient-defaults": "#9467bd"}


def plot_failover(document: dict[str, Any], path: Path) -> None:
    """Acknowledged writes per 100 ms: one panel per client (rows) and fault (columns).

    Marked: the fault (t = 0), the start of the promotion, and the server-side outage (shaded).
    The x range of a column runs to a few seconds after the last client that
    recovered; a client that did not recover before the cap is labelled so.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in document["runs"] if "clients" in r]
    if not runs:
        return
    names = [c for c in CLIENTS if any(c in r["clients"] for r in runs)]
    fig, axes = plt.subplots(len(names), len(runs), figsize=(4.6 * len(runs) + 1, 2.3 * len(names) + 1.2),
                             squeeze=False, sharey=True)
    for col, run in enumerate(runs):
        start = run["timeline_start_s"]
        ev = run["events_s"]
        recovered = [c["first_ack_after_fault_s"] for c in run["clients"].values()
                     if not c["capped"] and c["first_ack_after_fault_s"] is not None]
        right = min(ev.get("stopped", run["cap_s"]), max([ev.get("first_write_new_primary") or 0, *recovered]) + 4)
        for row, name in enumerate(names):
            ax = axes[row, col]
            c = run["clients"].get(name)
            first = ev.get("first_write_new_primary")
            if first is not None:
                ax.axvspan(0, first, color="grey", alpha=0.15, lw=0)
            ax.axvline(0, color="black", linestyle="--", linewidth=1)
            if ev.get("promote_start") is not None:
                ax.axvline(ev["promote_start"], color="purple", linestyle=":", linewidth=1.3)
            if c is not None:
                counts = c["timeline_per_100ms"]
                xs = [start + (i + 0.5) * BIN_S for i in range(len(counts))]
                ax.fill_between(xs, counts, step="mid", color=COLORS.get(name), alpha=0.35, lw=0)
                ax.step(xs, counts, where="mid", color=COLORS.get(name), linewidth=0.9)
                if c["capped"]:
                    text = f"outage > {c['client_outage_s']:.0f} s:\nno write acknowledged\nbefore the {run['cap_s']:.0f} s cap"
                else:
                    text = (f"outage {c['client_outage_s']:.2f} s\n(server {c['server_outage_s']:.2f} s, "
                            f"{c['difference_s']:+.2f} s)")
                text += f"\nlost {c['lost_acked_writes']}, dup {c['duplicates']}, errors {c['errors_surfaced']}"
                ax.text(0.99, 0.97, text, transform=ax.transAxes, ha="right", va="top", fontsize=7.5,
                        bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none", "pad": 2})
            ax.set_xlim(-2.5, right)
            ax.set_ylim(0, 19)
            ax.grid(alpha=0.3)
            if row == 0:
                ax.set_title(f"{run['fault']}  (server-side outage {run['server_outage_s']:.1f} s)", fontsize=10)
            if col == 0:
                ax.set_ylabel(f"{name}\nacks / 100 ms", fontsize=9)
            if row == len(names) - 1:
                ax.set_xlabel("seconds since the fault")
    handles = [
        plt.Line2D([], [], color="black", linestyle="--", label="fault"),
        plt.Line2D([], [], color="purple", linestyle=":", label="promotion starts (after the detection delay)"),
        plt.Rectangle((0, 0), 1, 1, color="grey", alpha=0.15, label="server-side outage (fault to first write on new primary)"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8.5, frameon=False)
    fig.suptitle("Failover drill: acknowledged writes per 100 ms (PostgreSQL 15 primary + sync standby, "
                 f"promotion after {runs[0]['detection_delay_s']:.0f} s)", fontsize=11)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- driver ---------------------------------------------------------------------------------------------


def choose_topology(requested: str) -> str:
    if requested in ("netns", "loopback"):
        return requested
    return "netns" if netns.available() and os.environ.get(PRIVATE_MOUNTS_ENV) == "1" else "loopback"


def run_drill(cfg: DrillConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every fault in *cfg* (one fresh primary/standby pair each) and return the results document."""
    if pgbouncer_binary() is None and "dbclient-pgbouncer" in cfg.clients:
        raise SystemExit("pgbouncer is not installed: run `make system-deps`")
    topology = choose_topology(cfg.topology)
    runs = []
    started = time.monotonic()
    for fault in cfg.faults:
        if fault == "netloss" and topology != "netns":
            runs.append({"fault": fault, "topology": topology, "skipped": "network loss needs network namespaces"})
            log(f"[failover] {fault}: skipped (needs network namespaces)")
            continue
        log(f"[failover] {fault}: running (topology {topology}, cap {cfg.cap:.0f} s)")
        result = Drill(fault, cfg, topology).run()
        runs.append(result)
        log(f"[failover] {fault}: done in {result.get('wall_s')} s" + (f" ERROR {result['error']}" if "error" in result else ""))
        for name, fig in result.get("clients", {}).items():
            log(f"    {name:20s} outage {fig['client_outage_s']} s (server {fig['server_outage_s']} s)"
                f"{' CAPPED' if fig['capped'] else ''}  lost {fig['lost_acked_writes']}  dup {fig['duplicates']}"
                f"  errors {fig['errors_surfaced']}")
    return {
        "drill": "failover",
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release()},
        "config": asdict(cfg) | {"faults": list(cfg.faults), "clients": list(cfg.clients), "topology": topology},
        "wall_s": round(time.monotonic() - started, 1),
        "runs": runs,
    }


def reexec_with_private_mounts(module: str, argv: Sequence[str]) -> None:
    """Re-run ``python -m module argv`` in a private mount namespace (for the private /etc/hosts), if we can."""
    if os.environ.get(PRIVATE_MOUNTS_ENV) == "1" or os.geteuid() != 0 or not netns.available():
        return
    env = {**os.environ, PRIVATE_MOUNTS_ENV: "1"}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe("unshare", ["unshare", "--mount", "--propagation", "private", "--",
                           sys.executable, "-m", module, *argv], env)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.failover", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "failover.json")
    parser.add_argument("--plot", nargs="?", const=RESULTS_DIR / "failover.png", type=Path, default=None,
                        help="draw the timeline PNG (default path bench/results/failover.png)")
    parser.add_argument("--plot-only", action="store_true", help="re-draw the PNG from --out without running")
    return parser.parse_args(argv)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--faults", default=",".join(FAULTS), help="comma-separated: crash,netloss,hang")
    parser.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated: seed,dbclient-direct,dbclient-pgbouncer")
    parser.add_argument("--topology", choices=("auto", "netns", "loopback"), default="auto")
    parser.add_argument("--cap", type=float, default=180.0, help="seconds after the fault before a run is cut off")
    parser.add_argument("--detection-delay", type=float, default=3.0)
    parser.add_argument("--pre-fault", type=float, default=4.0)
    parser.add_argument("--tail", type=float, default=3.0)


def config_from_args(args: argparse.Namespace) -> DrillConfig:
    faults = [f for f in args.faults.split(",") if f]
    clients = [c for c in args.clients.split(",") if c]
    for value, allowed in ((faults, FAULTS), (clients, CLIENTS)):
        unknown = set(value) - set(allowed)
        if unknown:
            raise SystemExit(f"unknown: {', '.join(sorted(unknown))} (choose from {', '.join(allowed)})")
    return DrillConfig(faults=faults, clients=clients, topology=args.topology, cap=args.cap,
                       detection_delay=args.detection_delay, pre_fault=args.pre_fault, tail=args.tail)


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=1) + "\n")
    tmp.replace(path)


def exit_cleanly_on_sigterm() -> None:
    """SIGTERM raises SystemExit in the main thread, so servers, pgbouncer and namespaces are torn down."""

    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def quiet_client_loggers() -> None:
    """The drill counts errors and retries itself; keep the clients' warnings off the terminal."""
    for name in ("bench.seed_client", "dbclient", "psycopg", "psycopg.pool"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    quiet_client_loggers()
    args = parse_args(argv)
    if args.plot_only:
        plot_failover(json.loads(args.out.read_text()), args.plot or RESULTS_DIR / "failover.png")
        return 0
    if args.topology != "loopback":
        reexec_with_private_mounts("bench.failover", argv)
    document = run_drill(config_from_args(args))
    write_json(args.out, document)
    print(f"[failover] wrote {args.out}")
    if args.plot:
        plot_failover(document, args.plot)
        print(f"[failover] wrote {args.plot}")
    return 0 if all("error" not in run for run in document["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
