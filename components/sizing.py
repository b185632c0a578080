"""The program's connection budget, alarm thresholds and client pool sizes, as pure functions.

Every number the program and the client pool use about the connection budget and alarm thresholds is
computed here, once.  The AWS facts they rest on (instance memory, RDS's default ``max_connections``
and ``shared_buffers`` formulas and their evaluator, the reserved connections, the memory check) live
in the policy pack, ``policies/rules/rds_facts.py``, because the pack must run from ``policies/``
alone; this module imports them from there and re-exports them, so each number has one source.
Nothing here touches Pulumi or the network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from policies.rules.rds_facts import (
    DEFAULT_HASH_MEM_MULTIPLIER,
    DEFAULT_PROXY_MAX_CONNECTIONS_PERCENT,
    DEFAULT_WORK_MEM_KB,
    DESIGN_ACTIVE_RATIO,
    GIB,
    INSTANCE_MEMORY_GIB,
    MAX_CONNECTIONS_CAP,
    MAX_CONNECTIONS_DIVISOR,
    MIB,
    PAGE_BYTES,
    REPLICATION_RESERVED_PER_REPLICA,
    SUPERUSER_RESERVED_CONNECTIONS,
    FormulaError,
    MemoryCheck,
    UnknownInstanceClass,
    default_max_connections,
    default_shared_buffers_pages,
    evaluate_parameter_value,
    instance_memory_bytes,
    known_instance_classes,
    memory_check,
    proxy_connection_limit,
    recommended_proxy_max_connections_percent,
    reserved_connections,
)

# --- The connection budget ----------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """Who connects, and how busy their connections are."""

    lambda_concurrency: int
    ecs_tasks: int
    ecs_pool_size: int
    other_clients: int = 0
    #: Share of time a client connection is inside a transaction.  Through RDS Proxy
    #: (transaction-level multiplexing) only that share needs a database connection.
    active_ratio: float = DESIGN_ACTIVE_RATIO

    @property
    def client_connections(self) -> int:
        """Connections the clients open: what a database without a pooler must accept."""
        return self.lambda_concurrency + self.ecs_tasks * self.ecs_pool_size + self.other_clients


@dataclass(frozen=True)
class ConnectionBudget:
    """The scenario's Step 1, computed for one instance class, workload and proxy setting."""

    instance_class: str
    max_connections: int
    max_connections_is_default: bool
    reserved_connections: int
    client_connections: int
    direct_exhausted: bool
    proxy_max_connections_percent: int
    proxy_db_connections: int
    proxy_db_connections_needed: int
    proxy_sufficient: bool

    @property
    def direct_shortfall(self) -> int:
        return max(0, self.client_connections - (self.max_connections - self.reserved_connections))

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) rows for the preview's budget table."""
        source = "RDS default for the class" if self.max_connections_is_default else "set in the parameter group"
        return [
            ("instance class", self.instance_class),
            ("max_connections", f"{self.max_connections} ({source})"),
            ("reserved (superuser, replication)", str(self.reserved_connections)),
            ("client connections (direct demand)", str(self.client_connections)),
            (
                "direct to the database",
                f"EXHAUSTED: {self.client_connections} needed vs {self.max_connections} available"
                if self.direct_exhausted
                else f"fits: {self.client_connections} of {self.max_connections}",
            ),
            ("proxy may open (max_connections_percent)", f"{self.proxy_db_connections} ({self.proxy_max_connections_percent} %)"),
            ("DB connections needed through the proxy", str(self.proxy_db_connections_needed)),
            ("through RDS Proxy", "enough" if self.proxy_sufficient else "NOT ENOUGH: raise the class or the percent"),
        ]

    def summary(self) -> dict[str, object]:
        """Plain, JSON-friendly summary (a stack output)."""
        return {
            "instanceClass": self.instance_class,
            "maxConnections": self.max_connections,
            "reservedConnections": self.reserved_connections,
            "clientConnections": self.client_connections,
            "directExhausted": self.direct_exhausted,
            "proxyDbConnections": self.proxy_db_connections,
            "proxyDbConnectionsNeeded": self.proxy_db_connections_needed,
            "proxySufficient": self.proxy_sufficient,
        }


def connection_budget(
    instance_class: str,
    workload: Workload,
    *,
    max_connections: int | None = None,
    proxy_max_connections_percent: int = 100,
    replica_count: int = 0,
) -> ConnectionBudget:
    """Compare the workload's connections with what the database and the proxy provide.

    *max_connections* is the value set in the parameter group, or None for the
    RDS default of the class.
    """
    if not 1 <= proxy_max_connections_percent <= 100:
        raise ValueError(f"proxy_max_connections_percent must be 1..100, got {proxy_max_connections_percent}")
    effective_max = max_connections if max_connections is not None else default_max_connections(instance_class)
    reserved = reserved_connections(replica_count)
    clients = workload.client_connections
    proxy_limit = proxy_connection_limit(effective_max, proxy_max_connections_percent)
    proxy_db = max(0, min(proxy_limit, effective_max - reserved))
    needed = math.ceil(clients * workload.active_ratio)
    return ConnectionBudget(
        instance_class=instance_class,
        max_connections=effective_max,
        max_connections_is_default=max_connections is None,
        reserved_connections=reserved,
        client_connections=clients,
        direct_exhausted=clients > effective_max - reserved,
        proxy_max_connections_percent=proxy_max_connections_percent,
        proxy_db_connections=proxy_db,
        proxy_db_connections_needed=needed,
        proxy_sufficient=needed <= proxy_db,
    )


# --- Alarm thresholds ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlarmThresholds:
    database_connections: int
    proxy_client_connections: int
    freeable_memory_bytes: int
    free_storage_bytes: int
    cpu_percent: float


def alarm_thresholds(
    budget: ConnectionBudget,
    *,
    allocated_storage_gib: int,
    connections_percent: int = 80,
    client_headroom_percent: int = 120,
    freeable_memory_percent: int = 10,
    free_storage_percent: int = 10,
    cpu_percent: float = 80.0,
) -> AlarmThresholds:
    """Thresholds derived from the budget and the instance, never typed in by hand.

    * DatabaseConnections: *connections_percent* of max_connections.
    * Proxy ClientConnections: the expected client connections plus headroom, so a
      runaway deployment (a Lambda concurrency bump, a pool misconfiguration) pages.
    * FreeableMemory / FreeStorageSpace: a share of the class memory / allocated storage.
    """
    if not 1 <= connections_percent < 100:
        raise ValueError(f"connections_percent must be 1..99, got {connections_percent}")
    return AlarmThresholds(
        database_connections=budget.max_connections * connections_percent // 100,
        proxy_client_connections=math.ceil(budget.client_connections * client_headroom_percent / 100),
        freeable_memory_bytes=instance_memory_bytes(budget.instance_class) * freeable_memory_percent // 100,
        free_storage_bytes=allocated_storage_gib * GIB * free_storage_percent // 100,
        cpu_percent=cpu_percent,
    )


# --- Client pool sizing ------------------------------------------------------------------------------


def ecs_pool_bounds(workload: Workload) -> tuple[int, int]:
    """(min_size, max_size) for one ECS task's client pool.

    max is the configured pool size; min keeps the share that is usually busy
    warm, so a burst does not open connections all at once (a storm).
    """
    max_size = workload.ecs_pool_size
    min_size = max(1, math.ceil(max_size * workload.active_ratio))
    return min(min_size, max_size), max_size


# --- RDS Proxy alarm threshold ---------------------------------------------------------------------


def borrow_latency_threshold_us(borrow_latency_ms: int, connection_borrow_timeout_s: int) -> int:
    """Threshold for the proxy's ``DatabaseConnectionsBorrowLatency`` metric, in microseconds (its unit).

    A borrow that waits means the pool is saturated (too small a percent, or pinning);
    the alarm must fire well before clients hit ``connection_borrow_timeout`` and fail.
    """
    if borrow_latency_ms <= 0:
        raise ValueError(f"borrow_latency_ms must be positive, got {borrow_latency_ms}")
    if borrow_latency_ms >= connection_borrow_timeout_s * 1000:
        raise ValueError(
            f"borrow latency threshold {borrow_latency_ms} ms must be below the borrow timeout {connection_borrow_timeout_s} s"
        )
    return borrow_latency_ms * 1000


__all__ = [
    "DEFAULT_HASH_MEM_MULTIPLIER",
    "DEFAULT_PROXY_MAX_CONNECTIONS_PERCENT",
    "DEFAULT_WORK_MEM_KB",
    "DESIGN_ACTIVE_RATIO",
    "GIB",
    "INSTANCE_MEMORY_GIB",
    "MAX_CONNECTIONS_CAP",
    "MAX_CONNECTIONS_DIVISOR",
    "MIB",
    "PAGE_BYTES",
    "REPLICATION_RESERVED_PER_REPLICA",
    "SUPERUSER_RESERVED_CONNECTIONS",
    "AlarmThresholds",
    "ConnectionBudget",
    "FormulaError",
    "MemoryCheck",
    "UnknownInstanceClass",
    "Workload",
    "alarm_thresholds",
    "borrow_latency_threshold_us",
    "connection_budget",
    "default_max_connections",
    "default_shared_buffers_pages",
    "ecs_pool_bounds",
    "evaluate_parameter_value",
    "instance_memory_bytes",
    "known_instance_classes",
    "memory_check",
    "proxy_connection_limit",
    "recommended_proxy_max_connections_percent",
    "reserved_connections",
]
