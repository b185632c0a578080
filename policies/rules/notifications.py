"""Notifications: the alarm topic can be published to, RDS events reach it, the dashboard deploys.

Alarms (``monitoring.py``) decide WHEN to page; this module checks that the page arrives:
an encrypted topic whose key the publishing service may not use swallows every message
without an error anywhere, an RDS event subscription with a category RDS does not have
fails the deploy, and so does a dashboard CloudWatch cannot parse.

Sources: https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services,
https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateEventSubscription.html,
https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_Events.Messages.html,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutDashboard.html,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html.
"""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any

from pulumi_policy import ReportViolation, Severity

from .config_schemas import string_list_schema
from .event_catalog import EVENT_CATEGORIES, SOURCE_TYPES
from .policy_factory import Config, Props, resource_policy, stack_policy
from .property_values import as_bool, as_list, as_str, is_unknown, policy_json
from .resource_types import KMS_KEY, METRIC_ALARM, label
from .stack_index import Res, StackIndex

SNS_TOPIC = "aws:sns/topic:Topic"
KMS_ALIAS = "aws:kms/alias:Alias"
KMS_KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
EVENT_SUBSCRIPTION = "aws:rds/eventSubscription:EventSubscription"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"

CLOUDWATCH = "cloudwatch.amazonaws.com"
RDS_EVENTS = "events.rds.amazonaws.com"
#: The AWS managed key for SNS: its policy cannot be changed and admits no service principal.
_AWS_MANAGED_SNS_KEY = re.compile(r"(^|:)alias/aws/sns$")
_ACTION_LISTS = ("alarmActions", "okActions", "insufficientDataActions")


# --- which topics receive what --------------------------------------------------------------------


def _topics_for(index: StackIndex, res: Res, prop: str) -> list[Res]:
    """The stack's topics a property (an ARN, or a list of ARNs) points to: by dependency or by a known ARN."""
    found = {urn: index.by_urn[urn] for urn in res.deps(prop) if urn in index.by_urn and index.by_urn[urn].type == SNS_TOPIC}
    value = res.props.get(prop)
    for arn in [value] if isinstance(value, str) else as_list(value):
        if isinstance(arn, str):
            for topic in index.of_type(SNS_TOPIC):
                if arn in (topic.props.get("arn"), topic.props.get("id")):
                    found[topic.urn] = topic
    return list(found.values())


def _publishers(index: StackIndex) -> dict[str, tuple[Res, dict[str, Res]]]:
    """Topic URN -> (topic, {service principal: one resource that makes that service publish to it})."""
    found: dict[str, tuple[Res, dict[str, Res]]] = {}

    def add(topics: list[Res], service: str, source: Res) -> None:
        for topic in topics:
            found.setdefault(topic.urn, (topic, {}))[1].setdefault(service, source)

    for alarm in index.of_type(METRIC_ALARM):
        for prop in _ACTION_LISTS:
            add(_topics_for(index, alarm, prop), CLOUDWATCH, alarm)
    for subscription in index.of_type(EVENT_SUBSCRIPTION):
        add(_topics_for(index, subscription, "snsTopic"), RDS_EVENTS, subscription)
    return found


# --- alarm-topic-key-usable --------------------------------------------------------------------------


def _key_of(index: StackIndex, topic: Res) -> Res | None:
    """The stack's KMS key a topic is encrypted with: referenced directly, through an alias, or by value."""
    ref = topic.props.get("kmsMasterKeyId")
    key = index.resolve(topic, "kmsMasterKeyId", KMS_KEY, ref, ("arn", "keyId", "id"))
    if key is not None:
        return key
    alias = index.resolve(topic, "kmsMasterKeyId", KMS_ALIAS, ref, ("arn", "name", "id"))
    if alias is not None:
        return index.resolve(alias, "targetKeyId", KMS_KEY, alias.props.get("targetKeyId"), ("arn", "keyId", "id"))
    return None


def _key_policy(index: StackIndex, key: Res) -> Any:
    """The key's policy document: from an ``aws.kms.KeyPolicy`` on it if there is one, else its own."""
    for attached in index.of_type(KMS_KEY_POLICY):
        target = index.resolve(attached, "keyId", KMS_KEY, attached.props.get("keyId"), ("arn", "keyId", "id"))
        if target is key:
            return attached.props.get("policy")
    return key.props.get("policy")


def _covers(patterns: Any, wanted: str) -> bool:
    values = [patterns] if isinstance(patterns, str) else patterns if isinstance(patterns, list) else []
    return any(isinstance(p, str) and fnmatch.fnmatchcase(wanted.lower(), p.lower()) for p in values)


def _service_may_use(document: dict[str, Any], service: str) -> bool:
    """Whether an Allow statement lets *service* encrypt and decrypt with the key (conditions are trusted)."""
    statements = document.get("Statement")
    statements = [statements] if isinstance(statements, dict) else as_list(statements)
    decrypt = generate = False
    for statement in statements:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        services = principal.get("Service") if isinstance(principal, dict) else None
        anyone = principal == "*" or (isinstance(principal, dict) and principal.get("AWS") == "*")
        if not (anyone or _covers(services, service)):
            continue
        actions = statement.get("Action")
        decrypt = decrypt or _covers(actions, "kms:Decrypt")
        generate = generate or _covers(actions, "kms:GenerateDataKey")
    return decrypt and generate


_WHO = {CLOUDWATCH: "CloudWatch alarms", RDS_EVENTS: "RDS event notifications"}


def _check_topic_keys(index: StackIndex, config: Config, report: ReportViolation) -> None:
    for topic, services in _publishers(index).values():
        key_ref = topic.props.get("kmsMasterKeyId")
        if key_ref is None or key_ref == "":
            continue
        who = " and ".join(_WHO[s] for s in sorted(services))
        if isinstance(key_ref, str) and _AWS_MANAGED_SNS_KEY.search(key_ref):
            report(
                f"{label(topic.type, topic.name)} is encrypted with the AWS managed key alias/aws/sns, whose policy "
                f"no AWS service may use: {who} cannot publish to it and nobody is notified. Encrypt it with a "
                f"customer managed key whose policy allows {', '.join(sorted(services))} kms:GenerateDataKey* and "
                "kms:Decrypt.",
                topic.urn,
            )
            continue
        key = _key_of(index, topic)
        if key is None:
            continue  # a key outside the stack: its policy is not ours to judge
        document_value = _key_policy(index, key)
        if is_unknown(document_value):
            continue
        document = policy_json(document_value) if document_value is not None else {}
        if document is None:
            continue
        missing = sorted(s for s in services if not _service_may_use(document, s))
        if not missing:
            continue
        source = services[missing[0]]
        report(
            f"{label(topic.type, topic.name)} is encrypted with {label(key.type, key.name)}, whose key policy does not "
            f"let {', '.join(missing)} use it (kms:GenerateDataKey* and kms:Decrypt), yet "
            f"{label(source.type, source.name)} publishes to the topic: every such message is dropped and nobody is "
            "notified. Add an Allow statement for that service principal to the key policy.",
            topic.urn,
        )


# --- rds-event-subscription-valid ----------------------------------------------------------------------


def _check_event_subscriptions(index: StackIndex, config: Config, report: ReportViolation) -> None:
    extra = {c.lower() for c in config.get("extraEventCategories") or []}
    for sub in index.of_type(EVENT_SUBSCRIPTION):
        props = sub.props
        where = label(sub.type, sub.name)
        source_type = props.get("sourceType")
        if isinstance(source_type, str) and source_type not in SOURCE_TYPES:
            report(
                f"{where} has sourceType {source_type!r}, which RDS does not have: CreateEventSubscription fails. "
                f"Use one of {', '.join(sorted(SOURCE_TYPES))}.",
                sub.urn,
            )
            continue
        if source_type is None and as_list(props.get("sourceIds")):
            report(
                f"{where} lists sourceIds without a sourceType: RDS rejects the subscription. Set sourceType "
                "(db-instance for DB instance identifiers).",
                sub.urn,
            )
        known = EVENT_CATEGORIES.get(source_type) if isinstance(source_type, str) else None
        if known is not None:
            wrong = [c for c in as_list(props.get("eventCategories")) if isinstance(c, str) and c.lower() not in known | extra]
            if wrong:
                report(
                    f"{where} subscribes to {', '.join(repr(c) for c in wrong)}, not an event category of {source_type} "
                    f"(RDS: {', '.join(sorted(known))}): CreateEventSubscription fails with SubscriptionCategoryNotFound. "
                    "Use RDS's category names (lower case, with spaces, e.g. 'low storage').",
                    sub.urn,
                )
        name = as_str(props.get("name"))
        if name is not None and len(name) >= 255:
            report(f"{where} has a {len(name)}-character name; RDS accepts fewer than 255. Shorten it.", sub.urn)
        topic_ref = props.get("snsTopic")
        fifo = (isinstance(topic_ref, str) and topic_ref.endswith(".fifo")) or any(
            as_bool(topic.props.get("fifoTopic")) is True for topic in _topics_for(index, sub, "snsTopic")
        )
        if fifo:
            report(
                f"{where} sends to a FIFO topic; RDS event notifications support standard topics only, so the "
                "subscription fails. Send them to a standard topic (the alarm topic).",
                sub.urn,
            )


# --- dashboard-valid ------------------------------------------------------------------------------------

_DASHBOARD_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_MAX_WIDGETS = 500


def _body_problem(body: Any) -> str | None:
    if not isinstance(body, str):
        return None if body is None or is_unknown(body) else "is not a JSON string"
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError as error:
        return f"is not valid JSON ({error.msg} at character {error.pos})"
    if not isinstance(parsed, dict) or not isinstance(parsed.get("widgets"), list):
        return 'has no "widgets" array (it may be empty, but it must be there)'
    widgets = parsed["widgets"]
    if len(widgets) > _MAX_WIDGETS:
        return f"has {len(widgets)} widgets; a dashboard holds at most {_MAX_WIDGETS}"
    for number, widget in enumerate(widgets, 1):
        if not isinstance(widget, dict) or not isinstance(widget.get("type"), str):
            return f'widget {number} has no "type"'
        width, height = widget.get("width"), widget.get("height")
        if width is not None and (not isinstance(width, int) or not 1 <= width <= 24):
            return f"widget {number} has width {width!r}; the grid is 1-24 units wide"
        if height is not None and (not isinstance(height, int) or not 1 <= height <= 1000):
            return f"widget {number} has height {height!r}; allowed: 1-1000"
    return None


def _check_dashboard(type_: str, name: str, props: Props, config: Config, report: ReportViolation) -> None:
    board_name = props.get("dashboardName")
    if isinstance(board_name, str) and not _DASHBOARD_NAME.match(board_name):
        report(
            f"{label(type_, name)} is named {board_name!r}; CloudWatch accepts 1-255 characters of A-Z, a-z, 0-9, "
            "'-' and '_', so PutDashboard fails. Rename it.",
            None,
        )
    problem = _body_problem(props.get("dashboardBody"))
    if problem is not None:
        report(
            f"{label(type_, name)}: dashboardBody {problem}, so PutDashboard fails and on-call has no dashboard. "
            "Fix the body (see CloudWatch's dashboard body structure).",
            None,
        )


ALARM_TOPIC_KEY_USABLE = stack_policy(
    "alarm-topic-key-usable",
    "An encrypted SNS topic that CloudWatch alarms or RDS events publish to uses a key those services may use "
    "(keys outside the stack are not judged).",
    (SNS_TOPIC,),
    _check_topic_keys,
    severity=Severity.HIGH,
    remediation="Allow cloudwatch.amazonaws.com / events.rds.amazonaws.com kms:GenerateDataKey* and kms:Decrypt in the key "
    "policy, or use a customer managed key instead of alias/aws/sns.",
)

RDS_EVENT_SUBSCRIPTION_VALID = stack_policy(
    "rds-event-subscription-valid",
    "RDS event subscriptions use a source type and event categories RDS has, and a standard (not FIFO) topic.",
    (EVENT_SUBSCRIPTION,),
    _check_event_subscriptions,
    severity=Severity.HIGH,
    schema=string_list_schema("extraEventCategories", "More event categories to accept (categories AWS added)."),
    remediation="Use RDS's event categories for the source type (aws rds describe-event-categories).",
)

DASHBOARD_VALID = resource_policy(
    "dashboard-valid",
    "CloudWatch dashboards have a name and a body PutDashboard accepts.",
    (DASHBOARD,),
    _check_dashboard,
    severity=Severity.MEDIUM,
    remediation="Name: 1-255 of A-Z a-z 0-9 - _; body: a JSON object with a widgets array.",
)
