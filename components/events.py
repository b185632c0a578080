"""Event subscription: RDS announces a failover, a failure or low storage to the alarm topic.

Alarms see what metrics show; a Multi-AZ failover, a storage-full shutdown or a replica whose
replication broke are RDS events, and without a subscription on-call discovers them from
the clients.  Categories are RDS's names for source type ``db-instance``
(https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_Events.Messages.html); an unknown
category fails CreateEventSubscription.  The topic's key must let ``events.rds.amazonaws.com``
use it (the alarm topic's key does, see :mod:`components.alarms`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
from pulumi import ResourceOptions

SOURCE_TYPE = "db-instance"

#: What on-call must hear about, by RDS category for db-instance sources:
#: failover (RDS-EVENT-0013/0015/0049...), failure (0031, 0035 invalid parameters...), low storage
#: (0007, 0089), maintenance (0026 offline maintenance...), availability (0004 shutdown, 0006 restart,
#: 0221 storage-full shutdown) and read replica (0045 replication error, 0057 replication terminated).
EVENT_CATEGORIES: tuple[str, ...] = ("availability", "failover", "failure", "low storage", "maintenance", "read replica")


@dataclass(frozen=True)
class DatabaseEventsArgs:
    prefix: str
    sns_topic_arn: pulumi.Input[str]
    primary_identifier: pulumi.Input[str]
    replica_identifiers: Sequence[pulumi.Input[str]] = ()
    event_categories: Sequence[str] = EVENT_CATEGORIES
    tags: dict[str, str] = field(default_factory=dict)


def subscription_name(prefix: str) -> str:
    """``<prefix>-database-events``; CreateEventSubscription wants fewer than 255 characters."""
    name = f"{prefix}-database-events"
    if len(name) >= 255:
        raise ValueError(f"event subscription name {name!r} is {len(name)} characters; RDS accepts fewer than 255")
    return name


class DatabaseEvents(pulumi.ComponentResource):
    subscription_id: pulumi.Output[str]
    subscription_arn: pulumi.Output[str]

    def __init__(self, name: str, args: DatabaseEventsArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("resilient-rds:events:DatabaseEvents", name, None, opts)
        unknown = sorted(set(args.event_categories) - set(EVENT_CATEGORIES))
        if unknown or not args.event_categories:
            raise ValueError(
                f"event_categories {list(args.event_categories)!r}: choose one or more of {list(EVENT_CATEGORIES)!r}"
            )
        sub_name = subscription_name(args.prefix)
        subscription = aws.rds.EventSubscription(
            f"{name}-subscription",
            name=sub_name,
            sns_topic=args.sns_topic_arn,
            source_type=SOURCE_TYPE,
            source_ids=[args.primary_identifier, *args.replica_identifiers],
            event_categories=list(args.event_categories),
            enabled=True,
            tags={**args.tags, "Name": sub_name},
            opts=ResourceOptions(parent=self),
        )
        self.subscription_id = subscription.id
        self.subscription_arn = subscription.arn
        self.register_outputs({"eventSubscriptionId": self.subscription_id, "eventSubscriptionArn": self.subscription_arn})
