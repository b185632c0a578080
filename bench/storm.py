"""Connection storm: the seed's Step 1 on a real PostgreSQL 15 with max_connections = 100.

Clients (threads, as on the seed's numbers): 50 Lambda-like workers, each holding
its own connection, and 20 ECS-like tasks, each with a connection pool of 10
(``psycopg_pool``, fixed size as "pool size 10" in Step 1) shared by 10 request
threads.  Every worker runs a short OLTP mix (70 % read by primary key, 20 %
update, 10 % insert; one transaction each) with a think time between requests,
for a fixed time, twice:

* ``direct``     everyone connects to PostgreSQL: 250 connections wanted, 97 allowed;
* ``pgbouncer``  everyone connects to pgbouncer in transaction mode, whose pool
  is sized by :func:`components.sizing.connection_budget` (the DB connections the
  proxy needs for this workload, capped by what the proxy may open).

Figures per mode: requests completed and failed, throughput, p50/p99 latency of
successful requests (including the wait for a connection), connection attempts
refused with SQLSTATE 53300 (``too many clients`` / ``remaining connection slots
are reserved``), other errors, and the peak number of client backends on the
server (sampled every 100 ms through a superuser slot).

Usage: ``python -m bench.storm [--duration-s 20]``; writes bench/results/storm.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import random
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from bench.pgcluster import APP_USER, PG_USER, Pgbouncer, PgCluster, pgbouncer_binary
from components.sizing import Workload, connection_budget, ecs_pool_bounds

RESULTS_DIR = Path(__file__).resolve().parent / "results"
INSTANCE_CLASS = "db.t3.medium"
MAX_CONNECTIONS = 100
WORKLOAD = Workload(lambda_concurrency=50, ecs_tasks=20, ecs_pool_size=10)
ORDERS = 10_000
TOO_MANY = ("too many clients", "remaining connection slots are reserved", "53300")

log = logging.getLogger(__name__)


def is_too_many(exc: BaseException) -> bool:
    text = f"{getattr(exc, 'sqlstate', '') or ''} {exc}".lower()
    return any(marker in text for marker in TOO_MANY)


@dataclass
class Stats:
    """Shared counters (one lock; contention is negligible next to a round trip)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: list[tuple[float, float]] = field(default_factory=list)  # (start, seconds)
    ok: int = 0
    failed: int = 0
    connect_attempts: int = 0
    connect_too_many: int = 0
    connect_other: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)

    def success(self, started: float) -> None:
        latency = time.monotonic() - started
        with self.lock:
            self.ok += 1
            self.latencies.append((started, latency))

    def failure(self, exc: BaseException) -> None:
        kind = "53300 too many connections" if is_too_many(exc) else type(exc).__name__
        with self.lock:
            self.failed += 1
            self.errors[kind] = self.errors.get(kind, 0) + 1
            message = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''}"
            if message not in self.samples and len(self.samples) < 6:
                self.samples.append(message)

    def connect_result(self, exc: BaseException | None) -> None:
        with self.lock:
            self.connect_attempts += 1
            if exc is None:
                return
            if is_too_many(exc):
                self.connect_too_many += 1
            else:
                self.connect_other += 1


def counting_connection_class(stats: Stats) -> type[psycopg.Connection[Any]]:
    """A Connection class that records every connection attempt (the pools' too)."""

    class CountingConnection(psycopg.Connection[Any]):
        @classmethod
        def connect(cls, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            try:
                conn = super().connect(*args, **kwargs)
            except Exception as exc:
                stats.connect_result(exc)
                raise
            stats.connect_result(None)
            return conn

    return CountingConnection


def one_request(conn: psycopg.Connection[Any], rng: random.Random) -> None:
    """One short transaction of the mix."""
    roll = rng.random()
    order = rng.randint(1, ORDERS)
    with conn.transaction():
        if roll < 0.7:
            conn.execute("SELECT id, customer, amount, status FROM orders WHERE id = %s", (order,)).fetchone()
        elif roll < 0.9:
            conn.execute("UPDATE orders SET status = %s, updated_at = now() WHERE id = %s",
                         (rng.choice(("paid", "shipped", "delivered")), order))
        else:
            conn.execute("INSERT INTO orders (customer, amount, status) VALUES (%s, %s, 'new')",
                         (rng.randint(1, 1000), rng.randint(100, 100_000) / 100))


@dataclass
class StormConfig:
    duration_s: float = 20.0
    #: Mean think time between two requests of one worker (exponential), seconds.
    think_s: float = 0.5
    #: Seconds a request waits for a pooled connection before failing (PoolTimeout).
    pool_timeout_s: float = 5.0
    connect_timeout_s: int = 5
    #: Seconds at the start (connection set-up) left out of the steady-state figures.
    warmup_s: float = 3.0


class Storm:
    def __init__(self, mode: str, conninfo: str, cfg: StormConfig) -> None:
        self.mode = mode
        self.conninfo = conninfo
        self.cfg = cfg
        self.stats = Stats()
        self.stop = threading.Event()
        self.conn_class = counting_connection_class(self.stats)
        self.connect_kwargs: dict[str, Any] = {"connect_timeout": cfg.connect_timeout_s, "prepare_threshold": None}

    def _think(self, rng: random.Random) -> None:
        self.stop.wait(rng.expovariate(1 / self.cfg.think_s))

    def lambda_worker(self, index: int) -> None:
        """One Lambda execution environment: one connection, kept between invocations."""
        rng = random.Random(index)
        conn: psycopg.Connection[Any] | None = None
        self.stop.wait(rng.uniform(0, 1))  # cold starts spread over the first second
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                if conn is None or conn.closed or conn.broken:
                    conn = self.conn_class.connect(self.conninfo, **self.connect_kwargs)
                one_request(conn, rng)
                self.stats.success(started)
            except Exception as exc:
                self.stats.failure(exc)
                if conn is not None and (conn.closed or conn.broken):
                    conn = None
            self._think(rng)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def ecs_worker(self, pool: ConnectionPool[Any], seed: int) -> None:
        """One request thread of an ECS task: borrow from the task's pool for each request."""
        rng = random.Random(seed)
        self.stop.wait(rng.uniform(0, 1))
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                with pool.connection(timeout=self.cfg.pool_timeout_s) as conn:
                    one_request(conn, rng)
                self.stats.success(started)
            except PoolTimeout as exc:
                self.stats.failure(exc)
            except Exception as exc:
                self.stats.failure(exc)
            self._think(rng)

    def run(self, monitor: PgCluster) -> dict[str, Any]:
        _, pool_max = ecs_pool_bounds(WORKLOAD)
        pools = [
            ConnectionPool(self.conninfo, min_size=pool_max, max_size=pool_max, kwargs=self.connect_kwargs,
                           connection_class=self.conn_class, open=False, name=f"ecs-{task}", timeout=self.cfg.pool_timeout_s,
                           reconnect_timeout=self.cfg.duration_s * 2)
            for task in range(WORKLOAD.ecs_tasks)
        ]
        threads = [threading.Thread(target=self.lambda_worker, args=(i,), daemon=True, name=f"lambda-{i}")
                   for i in range(WORKLOAD.lambda_concurrency)]
        for task, pool in enumerate(pools):
            threads += [threading.Thread(target=self.ecs_worker, args=(pool, 1000 * task + i), daemon=True,
                                         name=f"ecs-{task}-{i}") for i in range(pool_max)]
        peak = 0
        samples: list[int] = []
        with psycopg.connect(monitor.conninfo(host=str(monitor.socket_dir)), autocommit=True) as mon:
            started = time.monotonic()
            for pool in pools:
                pool.open(wait=False)
            for thread in threads:
                thread.start()
            end = started + self.cfg.duration_s
            while time.monotonic() < end:
                row = mon.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                                  "AND pid <> pg_backend_pid()").fetchone()
                count = int(row[0]) if row else 0
                samples.append(count)
                peak = max(peak, count)
                time.sleep(0.1)
            self.stop.set()
            elapsed = time.monotonic() - started
            for thread in threads:
                thread.join(timeout=15)
            for pool in pools:
                with contextlib.suppress(Exception):
                    pool.close(timeout=5)
        lat = sorted(latency for _, latency in self.stats.latencies)
        steady_from = started + self.cfg.warmup_s
        steady = sorted(latency for t, latency in self.stats.latencies if t >= steady_from)
        steady_s = max(1e-9, started + elapsed - steady_from)
        return {
            "mode": self.mode,
            "client_connections_wanted": WORKLOAD.client_connections,
            "duration_s": round(elapsed, 1),
            "requests_ok": self.stats.ok,
            "requests_failed": self.stats.failed,
            "throughput_rps": round(self.stats.ok / elapsed, 1),
            "latency_p50_ms": _ms(_pct(lat, 50)),
            "latency_p99_ms": _ms(_pct(lat, 99)),
            "steady_after_s": self.cfg.warmup_s,
            "steady_throughput_rps": round(len(steady) / steady_s, 1),
            "steady_latency_p50_ms": _ms(_pct(steady, 50)),
            "steady_latency_p99_ms": _ms(_pct(steady, 99)),
            "connect_attempts": self.stats.connect_attempts,
            "connect_refused_53300": self.stats.connect_too_many,
            "connect_failed_other": self.stats.connect_other,
            "request_errors": self.stats.errors,
            "error_samples": self.stats.samples,
            "peak_server_connections": peak,
            "mean_server_connections": round(statistics.fmean(samples), 1) if samples else 0,
        }


def _pct(values: Sequence[float], pct: float) -> float | None:
    if not values:
        return None
    index = min(len(values) - 1, max(0, round(pct / 100 * len(values) + 0.5) - 1))
    return values[index]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


def prepare_schema(cluster: PgCluster) -> None:
    with psycopg.connect(cluster.conninfo(dbname=APP_USER, user=APP_USER), autocommit=True) as conn:
        conn.execute("""
            CREATE TABLE orders (
                id bigserial PRIMARY KEY,
                customer integer NOT NULL,
                amount numeric(12, 2) NOT NULL,
                status text NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now()
            )""")
        conn.execute(
            "INSERT INTO orders (customer, amount, status) "
            "SELECT 1 + g %% 1000, (g %% 977) + 0.99, 'paid' FROM generate_series(1, %s) g", (ORDERS,))
        conn.execute("ANALYZE orders")


def run_storm(cfg: StormConfig, say: Any = print) -> dict[str, Any]:
    if pgbouncer_binary() is None:
        raise SystemExit("pgbouncer is not installed: run `make system-deps`")
    budget = connection_budget(INSTANCE_CLASS, WORKLOAD, max_connections=MAX_CONNECTIONS)
    pool_size = min(budget.proxy_db_connections_needed, budget.proxy_db_connections)
    cluster = PgCluster.create(settings={"max_connections": str(MAX_CONNECTIONS), "superuser_reserved_connections": "3"})
    bouncer: Pgbouncer | None = None
    results: dict[str, Any] = {}
    started = time.monotonic()
    try:
        prepare_schema(cluster)
        say(f"[storm] direct: {WORKLOAD.client_connections} client connections to max_connections={MAX_CONNECTIONS}, "
            f"{cfg.duration_s:.0f} s")
        results["direct"] = Storm("direct", cluster.conninfo(dbname=APP_USER, user=APP_USER), cfg).run(cluster)
        _wait_for_backends_gone(cluster)
        bouncer = Pgbouncer.start_new(
            cluster.workdir, backend_host="127.0.0.1", backend_port=cluster.port,
            settings={
                "default_pool_size": str(pool_size),
                "max_db_connections": str(budget.proxy_db_connections),
                "max_client_conn": str(WORKLOAD.client_connections + 50),
                "reserve_pool_size": "0",
            },
        )
        say(f"[storm] pgbouncer: {WORKLOAD.client_connections} client connections -> pool of {pool_size} "
            f"(sizing.connection_budget), {cfg.duration_s:.0f} s")
        results["pgbouncer"] = Storm("pgbouncer", bouncer.conninfo(), cfg).run(cluster)
    finally:
        if bouncer is not None:
            bouncer.destroy()
        cluster.destroy()
    for mode, fig in results.items():
        say(f"    {mode:10s} {fig['throughput_rps']:7.1f} req/s  p50 {fig['latency_p50_ms']} ms  p99 {fig['latency_p99_ms']} ms"
            f"  failed {fig['requests_failed']}  53300 {fig['connect_refused_53300']}  peak {fig['peak_server_connections']}")
    return {
        "drill": "storm",
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release()},
        "workload": {"lambda_concurrency": WORKLOAD.lambda_concurrency, "ecs_tasks": WORKLOAD.ecs_tasks,
                     "ecs_pool_size": WORKLOAD.ecs_pool_size, "client_connections": WORKLOAD.client_connections,
                     "mix": "70% read by id, 20% update, 10% insert; one transaction each",
                     "think_time_mean_s": cfg.think_s},
        "server": {"max_connections": MAX_CONNECTIONS, "superuser_reserved_connections": 3, "instance_class": INSTANCE_CLASS},
        "budget": budget.summary(),
        "pgbouncer_pool_size": pool_size,
        "duration_s": cfg.duration_s,
        "wall_s": round(time.monotonic() - started, 1),
        "modes": results,
    }


def _wait_for_backends_gone(cluster: PgCluster, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out = cluster.sql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                          f"AND usename <> '{PG_USER}'")
        if out.strip() == "0":
            return
        time.sleep(0.2)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.storm", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration-s", type=float, default=20.0)
    parser.add_argument("--think-s", type=float, default=0.5, help="mean think time between requests (s)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "storm.json")
    args = parser.parse_args(argv)
    logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)
    document = run_storm(StormConfig(duration_s=args.duration_s, think_s=args.think_s))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=1) + "\n")
    tmp.replace(args.out)
    print(f"[storm] wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
