"""What RDS and RDS Proxy publish to CloudWatch: metric names, the dimension sets each exists in, ranges.

Pure data and one lookup, no Pulumi: the monitoring rules judge alarms with it, and the repository's
own dashboard is tested against it (a widget on a series that does not exist draws an empty graph).

A CloudWatch metric is identified by namespace, name and its WHOLE dimension set: a series published
with ``{ProxyName}`` is not found by a query with ``{ProxyName, Target}``.  Sources:

* instance metrics and dimensions: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-metrics.html,
  https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/dimensions.html (Aurora cluster metrics:
  https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.AuroraMonitoring.Metrics.html)
* RDS Proxy metrics and their dimension sets:
  https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.monitoring.html
"""

from __future__ import annotations

from collections.abc import Iterable

RDS_NAMESPACE = "AWS/RDS"

#: Metrics RDS publishes per DB instance / cluster (RDS for PostgreSQL, MySQL, Aurora) in AWS/RDS.
INSTANCE_METRICS = frozenset(
    {
        "ACUUtilization", "AuroraBinlogReplicaLag", "AuroraReplicaLag", "AuroraReplicaLagMaximum",
        "AuroraReplicaLagMinimum", "BinLogDiskUsage", "BufferCacheHitRatio", "BurstBalance", "CheckpointLag",
        "CommitLatency", "CommitThroughput", "ConnectionAttempts", "CPUCreditBalance", "CPUCreditUsage",
        "CPUSurplusCreditBalance", "CPUSurplusCreditsCharged", "CPUUtilization", "DatabaseConnections", "DBLoad",
        "DBLoadCPU", "DBLoadNonCPU", "DBLoadRelativeToNumVCPUs", "Deadlocks", "DiskQueueDepth",
        "DiskQueueDepthLogVolume", "EBSByteBalance%", "EBSIOBalance%", "EngineUptime", "FreeableMemory",
        "FreeLocalStorage", "FreeStorageSpace", "FreeStorageSpaceLogVolume", "MaximumUsedTransactionIDs",
        "NetworkReceiveThroughput", "NetworkThroughput", "NetworkTransmitThroughput", "OldestLogicalReplicationSlotLag",
        "OldestReplicationSlotLag", "ReadIOPS", "ReadIOPSLocalStorage", "ReadIOPSLogVolume", "ReadLatency",
        "ReadLatencyLocalStorage", "ReadLatencyLogVolume", "ReadThroughput", "ReadThroughputLogVolume", "ReplicaLag",
        "ReplicationChannelLag", "ReplicationSlotDiskUsage", "ServerlessDatabaseCapacity", "SwapUsage",
        "TransactionLogsDiskUsage", "TransactionLogsGeneration", "VolumeBytesUsed", "VolumeReadIOPs",
        "VolumeWriteIOPs", "WriteIOPS", "WriteIOPSLocalStorage", "WriteIOPSLogVolume", "WriteLatency",
        "WriteLatencyLocalStorage", "WriteLatencyLogVolume", "WriteThroughput", "WriteThroughputLogVolume",
    }
)

#: The dimension sets RDS publishes instance-level metrics with: one instance, or an aggregate over a
#: class, an engine, a Region (cross-Region replicas), an Aurora cluster or one role in it.
INSTANCE_DIMENSION_SETS: tuple[frozenset[str], ...] = (
    frozenset({"DBInstanceIdentifier"}),
    frozenset({"DatabaseClass"}),
    frozenset({"EngineName"}),
    frozenset({"SourceRegion"}),
    frozenset({"DBClusterIdentifier"}),
    frozenset({"DBClusterIdentifier", "Role"}),
)
#: Sets that name ONE database (instance or cluster): what an alarm on a database means.
SINGLE_DATABASE_SETS: tuple[frozenset[str], ...] = (
    frozenset({"DBInstanceIdentifier"}),
    frozenset({"DBClusterIdentifier"}),
    frozenset({"DBClusterIdentifier", "Role"}),
)

PROXY = frozenset({"ProxyName"})
PROXY_ENDPOINT = frozenset({"ProxyName", "EndpointName"})
PROXY_TARGET = frozenset({"ProxyName", "TargetGroup", "Target"})
PROXY_TARGET_ROLE = frozenset({"ProxyName", "TargetGroup", "TargetRole"})

_CLIENT_SIDE = (PROXY, PROXY_ENDPOINT)
_DATABASE_SIDE = (PROXY, PROXY_TARGET, PROXY_TARGET_ROLE)

#: RDS Proxy metric -> the dimension sets it is published with (the "CloudWatch dimension set" column).
PROXY_METRIC_DIMENSION_SETS: dict[str, tuple[frozenset[str], ...]] = {
    "AvailabilityPercentage": (PROXY_TARGET_ROLE,),
    "ClientConnections": _CLIENT_SIDE,
    "ClientConnectionsClosed": _CLIENT_SIDE,
    "ClientConnectionsNoTLS": _CLIENT_SIDE,
    "ClientConnectionsReceived": _CLIENT_SIDE,
    "ClientConnectionsSetupFailedAuth": _CLIENT_SIDE,
    "ClientConnectionsSetupSucceeded": _CLIENT_SIDE,
    "ClientConnectionsTLS": _CLIENT_SIDE,
    "DatabaseConnectionRequests": _DATABASE_SIDE,
    "DatabaseConnectionRequestsWithTLS": _DATABASE_SIDE,
    "DatabaseConnections": _DATABASE_SIDE,
    "DatabaseConnectionsBorrowLatency": _CLIENT_SIDE,
    "DatabaseConnectionsCurrentlyBorrowed": _DATABASE_SIDE,
    "DatabaseConnectionsCurrentlyInTransaction": _DATABASE_SIDE,
    "DatabaseConnectionsCurrentlySessionPinned": _DATABASE_SIDE,
    "DatabaseConnectionsSetupFailed": _DATABASE_SIDE,
    "DatabaseConnectionsSetupSucceeded": _DATABASE_SIDE,
    "DatabaseConnectionsWithTLS": _DATABASE_SIDE,
    "MaxDatabaseConnectionsAllowed": _DATABASE_SIDE,
    "QueryDatabaseResponseLatency": (PROXY, PROXY_ENDPOINT, PROXY_TARGET, PROXY_TARGET_ROLE),
    "QueryRequests": _CLIENT_SIDE,
    "QueryRequestsNoTLS": _CLIENT_SIDE,
    "QueryRequestsTLS": _CLIENT_SIDE,
    "QueryResponseLatency": _CLIENT_SIDE,
}
PROXY_METRICS = frozenset(PROXY_METRIC_DIMENSION_SETS)
PROXY_DIMENSIONS = frozenset().union(*PROXY_METRIC_DIMENSION_SETS.values())
INSTANCE_DIMENSIONS = frozenset().union(*INSTANCE_DIMENSION_SETS)

#: Metrics whose values are percentages (0-100).
PERCENT_METRICS = frozenset(
    {"CPUUtilization", "BurstBalance", "EBSByteBalance%", "EBSIOBalance%", "ACUUtilization", "BufferCacheHitRatio",
     "AvailabilityPercentage"}
)

#: RDS and RDS Proxy metrics have one-minute resolution: a shorter period gets no data for most evaluations.
METRIC_RESOLUTION_S = 60


def is_known_metric(name: str) -> bool:
    return name in INSTANCE_METRICS or name in PROXY_METRICS


def dimension_sets(name: str) -> tuple[frozenset[str], ...]:
    """Every dimension set *name* is published with in AWS/RDS (empty for an unknown name)."""
    sets: list[frozenset[str]] = []
    if name in INSTANCE_METRICS:
        sets.extend(INSTANCE_DIMENSION_SETS)
    sets.extend(PROXY_METRIC_DIMENSION_SETS.get(name, ()))
    return tuple(sets)


def _show(sets: Iterable[frozenset[str]]) -> str:
    return " or ".join("{" + ", ".join(sorted(s)) + "}" for s in sets)


def dimension_problem(name: str, keys: Iterable[str], *, single_database: bool = True) -> str | None:
    """None when AWS/RDS publishes *name* with exactly the dimension *keys*; otherwise what it needs.

    With *single_database* (alarms, dashboards about one database), instance metrics must name one
    instance or cluster: a class- or engine-wide aggregate mixes in every other database of the Region.
    Unknown metric names give None (the metric-name check reports those).
    """
    if not is_known_metric(name):
        return None
    have = frozenset(keys)
    instance_sets = SINGLE_DATABASE_SETS if single_database else INSTANCE_DIMENSION_SETS
    allowed = (instance_sets if name in INSTANCE_METRICS else ()) + PROXY_METRIC_DIMENSION_SETS.get(name, ())
    if have in allowed:
        return None
    return f"one of the dimension sets {_show(allowed)}"
