"""policies/rules/network.py: who can reach the database (through the proxy only), CIDR ingress, public access.

Network cases run in every shape the engine sends (``policy_harness.SHAPES``: checked inputs, a new
stack's planned outputs with unknown ids, a deployed stack's refreshed state with known ids).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi_aws as aws
import pytest
from cases import Case, assert_clean, assert_every_policy_has_a_case, assert_only, case_ids
from fast import UNKNOWN, Resource, resource_violations, stack_violations
from policy_harness import CLEAN, SHAPES, Ctx, check, clean_setup, env_config

from policies.rules import network
from policies.rules.network import RDS_INGRESS_ONLY_FROM_PROXY, RDS_NO_CIDR_INGRESS, RDS_NOT_PUBLICLY_ACCESSIBLE
from policies.rules.resource_types import INSTANCE, PROXY, SECURITY_GROUP, SG_INGRESS_RULE, SG_RULE


def _ingress_inline(source: str) -> Callable[[aws.ec2.SecurityGroup], list[Any]]:
    def ingress(app_sg: aws.ec2.SecurityGroup) -> list[Any]:
        if source == "app":
            return [aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=5432, to_port=5432, security_groups=[app_sg.id])]
        return [aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=5432, to_port=5432, cidr_blocks=[source])]

    return ingress


def _ingress_vpc_rule(source: str) -> Callable[[Ctx], None]:
    def add(ctx: Ctx) -> None:
        if source == "app":
            aws.vpc.SecurityGroupIngressRule("db-from-app", security_group_id=ctx.db_sg.id,
                                             referenced_security_group_id=ctx.app_sg.id, ip_protocol="tcp",
                                             from_port=5432, to_port=5432)
        elif source.startswith("sg-"):
            aws.vpc.SecurityGroupIngressRule("db-from-external", security_group_id=ctx.db_sg.id,
                                             referenced_security_group_id=source, ip_protocol="tcp",
                                             from_port=5432, to_port=5432)
        else:
            aws.vpc.SecurityGroupIngressRule("db-from-cidr", security_group_id=ctx.db_sg.id, cidr_ipv4=source,
                                             ip_protocol="tcp", from_port=5432, to_port=5432)

    return add


def _ingress_legacy_rule(source: str) -> Callable[[Ctx], None]:
    def add(ctx: Ctx) -> None:
        if source == "app":
            aws.ec2.SecurityGroupRule("db-from-app", type="ingress", security_group_id=ctx.db_sg.id,
                                      source_security_group_id=ctx.app_sg.id, protocol="tcp", from_port=5432, to_port=5432)
        else:
            aws.ec2.SecurityGroupRule("db-from-cidr", type="ingress", security_group_id=ctx.db_sg.id, cidr_blocks=[source],
                                      protocol="-1", from_port=0, to_port=0)

    return add


def _proxy_sg_extra_rule(ctx: Ctx) -> None:
    """Clean counterpart: more ingress from the proxy's group, in the legacy form."""
    aws.ec2.SecurityGroupRule("db-from-proxy-legacy", type="ingress", security_group_id=ctx.db_sg.id,
                              source_security_group_id=ctx.proxy_sg.id, protocol="tcp", from_port=5432, to_port=5432)


def _into_replica_sg(*sources: str) -> Callable[[Ctx], None]:
    """More ingress into the replica's own group: ``external`` (a group id outside the stack), ``app-legacy``
    (the app group, as an aws.ec2.SecurityGroupRule) or a CIDR."""

    def add(ctx: Ctx) -> None:
        assert ctx.replica_sg is not None, "use with clean_setup(replica_sg=...)"
        for n, source in enumerate(sources):
            if source == "external":
                aws.vpc.SecurityGroupIngressRule(f"replica-from-external-{n}", security_group_id=ctx.replica_sg.id,
                                                 referenced_security_group_id="sg-0123456789abcdef0", ip_protocol="tcp",
                                                 from_port=5432, to_port=5432)
            elif source == "app-legacy":
                aws.ec2.SecurityGroupRule(f"replica-from-app-legacy-{n}", type="ingress",
                                          security_group_id=ctx.replica_sg.id, source_security_group_id=ctx.app_sg.id,
                                          protocol="tcp", from_port=5432, to_port=5432)
            else:
                aws.vpc.SecurityGroupIngressRule(f"replica-from-cidr-{n}", security_group_id=ctx.replica_sg.id,
                                                 cidr_ipv4=source, ip_protocol="tcp", from_port=5432, to_port=5432)

    return add


#: The read path RDS leaves for instance replicas: the replica in a group of its own that admits the app group.
REPLICA_OWN_GROUP = clean_setup(replica_sg="own")

CASES: list[Case] = [
    ("rds-not-publicly-accessible", "public", clean_setup(primary={"publicly_accessible": True}), CLEAN),
]

NETWORK_CASES: list[Case] = [
    ("rds-ingress-only-from-proxy", "inline", clean_setup(db_sg_ingress=_ingress_inline("app")), CLEAN),
    ("rds-ingress-only-from-proxy", "vpc_ingress_rule", clean_setup(extra=_ingress_vpc_rule("app")),
     clean_setup(extra=_proxy_sg_extra_rule)),
    ("rds-ingress-only-from-proxy", "legacy_rule", clean_setup(extra=_ingress_legacy_rule("app")),
     clean_setup(extra=_proxy_sg_extra_rule)),
    ("rds-ingress-only-from-proxy", "external_group", clean_setup(extra=_ingress_vpc_rule("sg-0123456789abcdef0")),
     CLEAN),
    ("rds-no-cidr-ingress", "inline_world", clean_setup(db_sg_ingress=_ingress_inline("0.0.0.0/0")), CLEAN),
    ("rds-no-cidr-ingress", "vpc_rule_private", clean_setup(extra=_ingress_vpc_rule("10.0.0.0/8")), CLEAN),
    ("rds-no-cidr-ingress", "legacy_all_ports", clean_setup(extra=_ingress_legacy_rule("192.168.0.0/16")), CLEAN),
    # A replica-only group may admit security groups (stack or external, any rule form); once the primary
    # shares it, the app group reaches the primary around the proxy.
    ("rds-ingress-only-from-proxy", "replica_group_shared_with_primary", clean_setup(replica_sg="shared"),
     REPLICA_OWN_GROUP),
    ("rds-ingress-only-from-proxy", "replica_group_shared_other_sources",
     clean_setup(replica_sg="shared", extra=_into_replica_sg("external", "app-legacy")),
     clean_setup(replica_sg="own", extra=_into_replica_sg("external", "app-legacy"))),
    ("rds-no-cidr-ingress", "into_replica_group", clean_setup(replica_sg="own", extra=_into_replica_sg("10.0.0.0/8")),
     REPLICA_OWN_GROUP),
]


@pytest.mark.parametrize(("policy", "case", "bad", "good"), CASES, ids=case_ids(CASES))
def test_policy_fires_and_clean_counterpart_passes(policy, case, bad, good):
    assert_only(check(bad), policy)
    assert_clean(check(good))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("policy", "case", "bad", "good"), NETWORK_CASES, ids=case_ids(NETWORK_CASES))
def test_network_policies_in_every_shape(policy, case, bad, good, shape):
    assert_only(check(bad, shape=shape), policy)
    assert_clean(check(good, shape=shape))


def test_every_policy_of_the_module_has_a_case():
    assert_every_policy_has_a_case(network, CASES, NETWORK_CASES)


def test_violation_is_attributed_to_the_rule_resource():
    result = check(clean_setup(extra=_ingress_vpc_rule("app")))
    (violation,) = result.violations
    assert violation.resource_type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
    assert violation.resource_name == "db-from-app"
    assert 'aws.ec2.SecurityGroup "app"' in violation.message and 'aws.rds.Instance "primary"' in violation.message


def test_shared_proxy_and_database_group_with_app_ingress_is_direct_access():
    """A group attached to both the proxy and the instance: app ingress into it reaches the database."""

    def extra(ctx: Ctx) -> None:
        shared = aws.ec2.SecurityGroup("shared", vpc_id="vpc-0a1b2c3d4e5f67890", description="shared")
        aws.vpc.SecurityGroupIngressRule("shared-from-app", security_group_id=shared.id,
                                         referenced_security_group_id=ctx.app_sg.id, ip_protocol="tcp",
                                         from_port=5432, to_port=5432)
        aws.vpc.SecurityGroupIngressRule("shared-self", security_group_id=shared.id,
                                         referenced_security_group_id=shared.id, ip_protocol="tcp",
                                         from_port=5432, to_port=5432)
        aws.rds.ProxyEndpoint("shared-endpoint", db_proxy_name=ctx.proxy.name, db_proxy_endpoint_name="shared",
                              vpc_subnet_ids=["subnet-0a1b2c3d4e5f60001"], vpc_security_group_ids=[shared.id])
        aws.rds.Instance("other", instance_class="db.t4g.medium", engine="postgres", username="postgres", password="x" * 16,
                         allocated_storage=20, storage_encrypted=True, multi_az=True, vpc_security_group_ids=[shared.id],
                         backup_retention_period=7, deletion_protection=True, skip_final_snapshot=False)

    result = check(clean_setup(extra=extra))
    assert result.fired() == {"rds-ingress-only-from-proxy"}
    assert [v.resource_name for v in result.violations] == ["shared-from-app"]


def test_replica_group_messages_say_what_to_do_instead():
    shared = check(clean_setup(replica_sg="shared"))
    (violation,) = shared.violations
    assert violation.resource_name == "replica-from-app"
    assert 'aws.rds.Instance "primary"' in violation.message and 'aws.rds.Instance "replica"' in violation.message
    assert "separate group" in violation.message
    # Into a group of the primary alone, the message has no word about replicas.
    (direct,) = check(clean_setup(replica_sg="own", extra=_ingress_vpc_rule("app"))).violations
    assert direct.resource_name == "db-from-app" and "replica" not in direct.message
    cidr = check(clean_setup(replica_sg="own", extra=_into_replica_sg("0.0.0.0/0")))
    (violation,) = cidr.violations
    assert violation.policy == "rds-no-cidr-ingress" and violation.resource_name == "replica-from-cidr-0"
    assert "(the whole internet)" in violation.message
    assert "application tier's security group" in violation.message and "RDS Proxy" not in violation.message


def test_replica_own_group_passes_in_both_environments():
    for env in ("dev", "prod"):
        assert_clean(check(REPLICA_OWN_GROUP, env))


def test_cidr_allow_list_and_port_range_from_config():
    bad = clean_setup(extra=_ingress_vpc_rule("10.1.0.0/16"))
    config = env_config("prod")
    config["rds-no-cidr-ingress"] = {"enforcementLevel": "mandatory", "allowedCidrs": ["10.0.0.0/8"]}
    assert check(bad, config).violations == []

    def ssh(ctx: Ctx) -> None:
        aws.vpc.SecurityGroupIngressRule("db-ssh", security_group_id=ctx.db_sg.id, cidr_ipv4="10.0.0.0/8",
                                         ip_protocol="tcp", from_port=22, to_port=22)

    assert check(clean_setup(extra=ssh)).violations == []  # not the database port


# --- Fast layer: the policies alone, on resource dicts ------------------------------------------------


def test_publicly_accessible_in_string_form_and_unknown():
    assert resource_violations(RDS_NOT_PUBLICLY_ACCESSIBLE, INSTANCE, {"publiclyAccessible": "true"})
    assert resource_violations(RDS_NOT_PUBLICLY_ACCESSIBLE, INSTANCE, {}) == []  # the provider default is false
    assert resource_violations(RDS_NOT_PUBLICLY_ACCESSIBLE, INSTANCE, {"publiclyAccessible": UNKNOWN}) == []


def _db_behind(group_id: str) -> list[Resource]:
    """A database in a security group with a known id (a deployed stack), the group referenced by value."""
    return [
        Resource(SECURITY_GROUP, "db-sg", {"id": group_id}),
        Resource(INSTANCE, "db", {"engine": "postgres", "vpcSecurityGroupIds": [group_id]}),
    ]


def test_ipv6_world_ingress_by_known_group_id():
    rule = Resource(SG_INGRESS_RULE, "v6", {"securityGroupId": "sg-0db", "cidrIpv6": "::/0", "ipProtocol": "tcp",
                                             "fromPort": 5432, "toPort": 5432})
    (finding,) = stack_violations(RDS_NO_CIDR_INGRESS, [*_db_behind("sg-0db"), rule])
    assert finding.urn == rule.urn
    other_port = Resource(SG_INGRESS_RULE, "https", {**rule.props, "fromPort": 443, "toPort": 443})
    assert stack_violations(RDS_NO_CIDR_INGRESS, [*_db_behind("sg-0db"), other_port]) == []


def test_all_protocol_rule_from_a_non_proxy_group_by_dependency():
    app = Resource(SECURITY_GROUP, "app", {"id": UNKNOWN})
    proxy_sg = Resource(SECURITY_GROUP, "proxy-sg", {"id": UNKNOWN})
    db_sg = Resource(SECURITY_GROUP, "db-sg", {"id": UNKNOWN})
    db = Resource(INSTANCE, "db", {"engine": "postgres", "vpcSecurityGroupIds": [UNKNOWN]}, {"vpcSecurityGroupIds": ["db-sg"]})
    proxy = Resource(PROXY, "proxy", {"vpcSecurityGroupIds": [UNKNOWN]}, {"vpcSecurityGroupIds": ["proxy-sg"]})

    def rule(source: str) -> Resource:
        return Resource(SG_RULE, f"from-{source}", {"type": "ingress", "protocol": "-1", "fromPort": 0, "toPort": 0,
                                                    "securityGroupId": UNKNOWN, "sourceSecurityGroupId": UNKNOWN},
                        {"securityGroupId": ["db-sg"], "sourceSecurityGroupId": [source]})

    stack = [app, proxy_sg, db_sg, db, proxy]
    (finding,) = stack_violations(RDS_INGRESS_ONLY_FROM_PROXY, [*stack, rule("app")])
    assert finding.urn is not None and finding.urn.endswith("::from-app")
    assert stack_violations(RDS_INGRESS_ONLY_FROM_PROXY, [*stack, rule("proxy-sg")]) == []
