"""RDS event notification facts: source types and the event categories each one has.

Pure data, no Pulumi: the monitoring rules judge ``aws.rds.EventSubscription`` with it and the
repository's own subscription is tested against it.  Sources:
https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_Events.Messages.html (categories per source type),
https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateEventSubscription.html (source types).
"""

from __future__ import annotations

#: Every ``SourceType`` CreateEventSubscription accepts (the provider's list).
SOURCE_TYPES = frozenset(
    {
        "db-instance", "db-cluster", "db-parameter-group", "db-security-group", "db-snapshot", "db-cluster-snapshot",
        "db-proxy", "custom-engine-version", "blue-green-deployment", "db-shard-group", "zero-etl",
    }
)

#: Categories per source type, for the source types whose lists the RDS User Guide documents in full.
#: Source types missing here (db-cluster, db-shard-group, zero-etl) are not judged: no false block.
EVENT_CATEGORIES: dict[str, frozenset[str]] = {
    "db-instance": frozenset(
        {
            "availability", "backup", "configuration change", "creation", "deletion", "failover", "failure",
            "low storage", "maintenance", "notification", "read replica", "recovery", "restoration", "security",
            "security patching",
        }
    ),
    "db-parameter-group": frozenset({"configuration change"}),
    "db-security-group": frozenset({"configuration change", "failure"}),
    "db-snapshot": frozenset({"creation", "deletion", "notification", "restoration"}),
    "db-cluster-snapshot": frozenset({"backup"}),
    "db-proxy": frozenset({"configuration change", "creation", "deletion", "failure"}),
    "blue-green-deployment": frozenset({"creation", "deletion", "failure", "notification"}),
    "custom-engine-version": frozenset({"failure"}),
}
