"""One fault run: a primary and a synchronous standby, a fault, a promotion, and clients writing through it.

Topology (``netns``, the default when we may create network namespaces): the
primary runs in namespace "a", its synchronous standby in namespace "b"
(:mod:`bench.netns`); clients, pgbouncer and the controller run in the root
namespace.  The *writer endpoint* (:mod:`bench.endpoints`) is a host name, as the
RDS endpoint is, pointed at the new primary after the promotion.  Like a DNS
change, that moves only *new* connections: established ones stay with the old
host, which is what makes the three faults differ:

* ``crash``   SIGKILL of every server process: the host's kernel resets connections.
* ``netloss`` every link of namespace "a" goes down: packets vanish, nothing resets.
* ``hang``    SIGSTOP of every server process: TCP stays up, nothing answers.

The controller waits ``detection_delay_s`` after the fault, promotes the standby,
moves the endpoint and re-points pgbouncer (RELOAD + RECONNECT), while a probe
records when the new primary first accepts a write.

Clients (:mod:`bench.writers`), concurrently, each writing one row per write with a unique (client, seq):

* ``seed``               the seed's Step 4 ``DatabaseConnection.execute`` (psycopg2), verbatim;
* ``dbclient-direct``    :func:`dbclient.retry.run_transaction` with an idempotency key, to the endpoint,
  with the drill's tighter timeouts;
* ``dbclient-pgbouncer`` the same through pgbouncer (transaction pooling, the RDS Proxy stand-in);
* ``dbclient-defaults``  dbclient direct with its shipped defaults (only ``sslmode`` changed: the
  local servers have no TLS);
* ``dbclient-budget-long`` / ``dbclient-budget-short``  the long-outage drill's clients: shipped
  defaults, an operation budget (``deadline_s``) longer / shorter than the outage, and
  ``max_attempts`` high enough that the budget alone ends retrying;
* ``dbclient-budget-long-default-attempts``  the long budget with dbclient's default ``max_attempts``.

Afterwards the new primary is queried; :class:`DrillRecord` carries the events,
the clients' logs and the rows stored, and the caller's *summarize* function
turns it into figures (:mod:`bench.failover_figures`, :mod:`bench.long_outage_figures`).

``loopback`` topology (used when network namespaces are unavailable) puts both
servers on 127.0.0.1 behind a small TCP forwarder acting as the moving endpoint;
the network-loss fault needs namespaces and is not run there.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from bench import netns
from bench.endpoints import ForwarderEndpoint, HostsEndpoint
from bench.pgcluster import APP_PASSWORD, APP_USER, Pgbouncer, PgCluster
from bench.process import in_private_mounts
from bench.writers import ClientLog, ClientThread, DbclientWriter

FAULTS = ("crash", "netloss", "hang")
CLIENTS = ("seed", "dbclient-direct", "dbclient-pgbouncer", "dbclient-defaults")
BUDGET_CLIENTS = ("dbclient-budget-long", "dbclient-budget-long-default-attempts", "dbclient-budget-short")

SCHEMA = """
CREATE TABLE IF NOT EXISTS writes (
    client text NOT NULL,
    seq integer NOT NULL,
    client_ts double precision NOT NULL,
    server_ts timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE IF NOT EXISTS failover_probe (t double precision NOT NULL);
"""


@dataclass
class DrillConfig:
    faults: Sequence[str] = FAULTS
    clients: Sequence[str] = CLIENTS
    topology: str = "auto"
    #: Between the fault and the controller's promotion (RDS detection time, shortened).
    detection_delay_s: float = 3.0
    #: Steady writing before the fault.
    pre_fault_s: float = 4.0
    #: Keep the run going this long after every client has recovered.
    tail_s: float = 3.0
    #: Stop a run this long after the fault even if a client has not recovered.
    cap_s: float = 180.0
    #: Target pause between two writes of one client (about 100 writes/s each).
    write_interval_s: float = 0.01
    #: dbclient settings of dbclient-direct and dbclient-pgbouncer (tighter than the defaults; see the README).
    operation_timeout_s: float = 2.0
    connect_timeout_s: int = 2
    tcp_user_timeout_ms: int = 2000
    keepalives_idle_s: int = 1
    keepalives_interval_s: int = 1
    keepalives_count: int = 2
    txn_deadline_s: float = 60.0
    txn_max_attempts: int = 1000
    #: dbclient's Backoff cap for the tuned drill clients (the same as its default since the long-outage fixes).
    backoff_cap_s: float = 0.5
    #: Operation budgets (run_transaction's deadline_s) of the long-outage drill's clients.
    long_budget_s: float = 60.0
    short_budget_s: float = 20.0


@dataclass
class Site:
    cluster: PgCluster
    address: str  # where clients in the root namespace reach it
    zone: str | None = None


@dataclass
class DrillRecord:
    """What one run observed, for the summarize functions."""

    fault: str
    topology: str
    cfg: DrillConfig
    events: dict[str, float]  # monotonic times: setup_done, fault, promote_start, first_write_new_primary, stopped, ...
    logs: list[tuple[ClientLog, Any]]  # each client's log (a snapshot) and its writer
    stored: dict[tuple[str, int], int]  # (client, seq) -> rows on the new primary
    capped: dict[str, bool]  # client -> not recovered before the cap
    notes: list[str] = field(default_factory=list)


Summarize = Callable[[DrillRecord], dict[str, Any]]


def choose_topology(requested: str) -> str:
    if requested in ("netns", "loopback"):
        return requested
    return "netns" if netns.available() and in_private_mounts() else "loopback"


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

        cfg, run_id = self.cfg, self.run_id

        def dbclient(name: str, host: str, port: int, *, tuned: bool, **options: Any) -> Callable[[], Any]:
            from dbclient.connect import ConnectionSettings

            common: dict[str, Any] = {"host": host, "port": port, "dbname": APP_USER, "user": APP_USER,
                                      "password": APP_PASSWORD, "sslmode": "disable", "application_name": f"drill-{name}"}
            if tuned:
                common |= {"connect_timeout_s": cfg.connect_timeout_s, "operation_timeout_s": cfg.operation_timeout_s,
                           "tcp_user_timeout_ms": cfg.tcp_user_timeout_ms, "keepalives_idle_s": cfg.keepalives_idle_s,
                           "keepalives_interval_s": cfg.keepalives_interval_s, "keepalives_count": cfg.keepalives_count}
            settings = ConnectionSettings(**common)
            return lambda: DbclientWriter(name, settings, run_id, **options)

        tuned_options = {"deadline_s": cfg.txn_deadline_s, "max_attempts": cfg.txn_max_attempts,
                         "backoff_cap_s": cfg.backoff_cap_s}
        host = endpoint.host
        factories: dict[str, Callable[[], Any]] = {
            "seed": seed,
            "dbclient-direct": dbclient("dbclient-direct", host, port, tuned=True, **tuned_options),
            "dbclient-defaults": dbclient("dbclient-defaults", host, port, tuned=False),
            "dbclient-budget-long": dbclient("dbclient-budget-long", host, port, tuned=False,
                                             deadline_s=cfg.long_budget_s, max_attempts=cfg.txn_max_attempts),
            "dbclient-budget-long-default-attempts": dbclient("dbclient-budget-long-default-attempts", host, port,
                                                              tuned=False, deadline_s=cfg.long_budget_s),
            "dbclient-budget-short": dbclient("dbclient-budget-short", host, port, tuned=False,
                                              deadline_s=cfg.short_budget_s, max_attempts=cfg.txn_max_attempts),
        }
        if self.bouncer is not None:
            factories["dbclient-pgbouncer"] = dbclient("dbclient-pgbouncer", "127.0.0.1", self.bouncer.port, tuned=True,
                                                       **tuned_options)
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
        time.sleep(self.cfg.detection_delay_s)
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

    def run(self, summarize: Summarize) -> dict[str, Any]:
        """Set up, write, inject the fault, promote, verify and tear down; *summarize* turns the record into figures."""
        started = time.monotonic()
        stop = threading.Event()
        threads: list[ClientThread] = []
        try:
            self.setup()
            self.events["setup_done"] = time.monotonic()
            for name, factory in self._client_factories().items():
                thread = ClientThread(name, factory, self.cfg.write_interval_s, stop)
                threads.append(thread)
                thread.start()
            time.sleep(self.cfg.pre_fault_s)
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
            logs = [(t.log.snapshot(), t.writer) for t in threads]
            stored = self._stored_writes()
            record = DrillRecord(self.fault, self.topology, self.cfg, dict(self.events), logs, stored, capped,
                                 self.notes)
            result = summarize(record)
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
        cap_at = self.events["fault"] + self.cfg.cap_s
        recovered_at: dict[str, float] = {}
        while time.monotonic() < cap_at:
            for thread in threads:
                promote_start = self.events.get("promote_start")
                if (thread.log.name not in recovered_at and promote_start is not None
                        and any(t >= promote_start for _, t in thread.log.acks[-5:])):
                    recovered_at[thread.log.name] = time.monotonic()
            if (len(recovered_at) == len(threads) and "first_write_new_primary" in self.events
                    and time.monotonic() >= max(recovered_at.values()) + self.cfg.tail_s):
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
