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
from policy_harness import CLEAN, SHAPES, SUBNETS, Ctx, check, clean_setup, env_config

from policies.rules import network
from policies.rules.network import (
    RDS_ADMITS_PROXY,
    RDS_INGRESS_DATABASE_PORT_ONLY,
    RDS_INGRESS_ONLY_FROM_PROXY,
    RDS_NO_CIDR_INGRESS,
    RDS_NOT_IN_DEFAULT_SECURITY_GROUP,
    RDS_NOT_PUBLICLY_ACCESSIBLE,
    RDS_SECURITY_GROUPS_SET,
    RDS_SUBNET_GROUP_TWO_AZS,
    Ingress,
)
from policies.rules.resource_types import (
    CLUSTER,
    DEFAULT_SECURITY_GROUP,
    INSTANCE,
    PROXY,
    PROXY_TARGET,
    SECURITY_GROUP,
    SG_INGRESS_RULE,
    SG_RULE,
    SUBNET,
    SUBNET_GROUP,
)


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


def _from_proxy_on(port: int, protocol: str = "tcp") -> Callable[[Ctx], None]:
    """More ingress into the database group from the proxy's group."""

    def add(ctx: Ctx) -> None:
        ports = {} if protocol == "-1" else {"from_port": port, "to_port": port}
        aws.vpc.SecurityGroupIngressRule(f"db-from-proxy-{protocol}-{port}", security_group_id=ctx.db_sg.id,
                                         referenced_security_group_id=ctx.proxy_sg.id, ip_protocol=protocol, **ports)

    return add


def _subnet_group(*zones: str) -> Callable[[Ctx], None]:
    def add(ctx: Ctx) -> None:
        subnets = [aws.ec2.Subnet(f"private-{n}", vpc_id="vpc-0a1b2c3d4e5f67890", cidr_block=f"10.0.{n}.0/24",
                                  availability_zone=zone) for n, zone in enumerate(zones)]
        aws.rds.SubnetGroup("db-subnets", subnet_ids=[s.id for s in subnets])

    return add

def _replica_in_adopted_default_group(listed: bool) -> Callable[[], None]:
    """The VPC's default group adopted with aws.ec2.DefaultSecurityGroup; the replica lists it, or keeps its own."""

    def program() -> None:
        default = aws.ec2.DefaultSecurityGroup("default", vpc_id="vpc-0a1b2c3d4e5f67890")
        clean_setup(replica={"vpc_security_group_ids": [default.id]} if listed else None)()

    return program


def _replica_in_vpc_default_group(listed: bool) -> Callable[[], None]:
    """A VPC of the stack; the replica lists its defaultSecurityGroupId, or keeps the database's own group."""

    def program() -> None:
        vpc = aws.ec2.Vpc("main", cidr_block="10.0.0.0/16")
        clean_setup(replica={"vpc_security_group_ids": [vpc.default_security_group_id]} if listed else None)()

    return program


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
    # Omission is judged on the inputs (a resource policy): a deployed stack's state lists the default group
    # RDS chose, which reads like a group of another stack when the VPC is not in the stack.
    ("rds-security-groups-set", "omitted", clean_setup(primary={"vpc_security_group_ids": None}), CLEAN),
    ("rds-security-groups-set", "replica_empty", clean_setup(replica={"vpc_security_group_ids": []}), CLEAN),
    # Listing the default group explicitly is the stack policy's, in every shape.
    ("rds-not-in-default-security-group", "adopted_default_group", _replica_in_adopted_default_group(True),
     _replica_in_adopted_default_group(False)),
    ("rds-not-in-default-security-group", "vpc_default_group_id", _replica_in_vpc_default_group(True),
     _replica_in_vpc_default_group(False)),
    ("rds-admits-proxy", "other_port", clean_setup(primary={"port": 6432}),
     clean_setup(primary={"port": 6432}, extra=_from_proxy_on(6432))),
    ("rds-subnet-group-two-azs", "one_zone", clean_setup(extra=_subnet_group("us-east-1a", "us-east-1a")),
     clean_setup(extra=_subnet_group("us-east-1a", "us-east-1b"))),
]

#: Advisory policies: (policy, case, program with the finding, counterpart without it).
ADVISORY_CASES: list[Case] = [
    ("rds-ingress-database-port-only", "all_protocols_from_proxy", clean_setup(extra=_from_proxy_on(0, "-1")),
     clean_setup(extra=_from_proxy_on(5432))),
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


@pytest.mark.parametrize(("policy", "case", "bad", "good"), ADVISORY_CASES, ids=case_ids(ADVISORY_CASES))
def test_advisory_policies_report_without_failing_the_gate(policy, case, bad, good):
    result = check(bad)
    assert result.fired() == {policy} and all(v.level == "advisory" for v in result.violations)
    assert result.passed
    assert_clean(check(good))


def test_every_policy_of_the_module_has_a_case():
    assert_every_policy_has_a_case(network, CASES, NETWORK_CASES, ADVISORY_CASES)


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
                              vpc_subnet_ids=SUBNETS, vpc_security_group_ids=[shared.id])
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


# --- Fast layer: reachability forms, default group, proxy path, subnet groups -------------------------


@pytest.mark.parametrize(
    ("protocol", "from_port", "to_port", "covers"),
    [
        ("tcp", 5432, 5432, True),
        ("TCP", 5000, 6000, True),
        ("6", 0, 65535, True),
        (6, 5432, 5432, True),
        ("-1", 0, 0, True),
        ("all", None, None, True),
        ("-1", None, None, True),
        ("tcp", 5433, 5440, False),
        ("tcp", 22, 22, False),
        ("udp", 5432, 5432, False),
        ("17", 0, 65535, False),
        ("icmp", -1, -1, False),
        ("icmpv6", None, None, False),
        ("50", None, None, False),  # ESP: all ports of another protocol, never TCP 5432
        (UNKNOWN, 5432, 5432, True),  # unknown: assume the worst
        ("tcp", UNKNOWN, UNKNOWN, True),
    ],
)
def test_which_rules_reach_the_database_port(protocol, from_port, to_port, covers):
    from policies.rules.property_values import plain

    rule = Ingress(target=None, declared_by=None, protocol=plain(protocol), from_port=plain(from_port),  # type: ignore[arg-type]
                   to_port=plain(to_port), source_groups=[], external_groups=[], cidrs=[], prefix_lists=[])
    assert rule.covers_port(5432) is covers


def _proxied_db(db_props: dict[str, Any], *rules: Resource) -> list[Resource]:
    """A database and a proxy in groups of their own (unknown ids, by dependency), a target, and *rules*."""
    return [
        Resource(SECURITY_GROUP, "db-sg", {"id": UNKNOWN}),
        Resource(SECURITY_GROUP, "proxy-sg", {"id": UNKNOWN}),
        Resource(INSTANCE, "db", {"engine": "postgres", "identifier": "orders-db", "vpcSecurityGroupIds": [UNKNOWN],
                                  **db_props}, {"vpcSecurityGroupIds": ["db-sg"]}),
        Resource(PROXY, "proxy", {"name": "orders-proxy", "vpcSecurityGroupIds": [UNKNOWN]},
                 {"vpcSecurityGroupIds": ["proxy-sg"]}),
        Resource(PROXY_TARGET, "target", {"dbProxyName": UNKNOWN, "dbInstanceIdentifier": UNKNOWN},
                 {"dbProxyName": ["proxy"], "dbInstanceIdentifier": ["db"]}),
        *rules,
    ]


def _rule(name: str, source: str | None = "proxy-sg", **props: Any) -> Resource:
    deps = {"securityGroupId": ["db-sg"]}
    if source is not None:
        deps["referencedSecurityGroupId"] = [source]
        props = {"referencedSecurityGroupId": UNKNOWN, **props}
    return Resource(SG_INGRESS_RULE, name, {"securityGroupId": UNKNOWN, **props}, deps)


def test_the_proxy_must_be_admitted_on_the_database_port():
    on_5432 = _rule("from-proxy", ipProtocol="tcp", fromPort=5432, toPort=5432)
    assert stack_violations(RDS_ADMITS_PROXY, _proxied_db({}, on_5432)) == []
    (finding,) = stack_violations(RDS_ADMITS_PROXY, _proxied_db({"port": 6432}, on_5432))
    assert finding.urn is not None and finding.urn.endswith("::db") and "6432" in finding.message
    assert stack_violations(RDS_ADMITS_PROXY, _proxied_db({})), "no ingress at all"
    all_traffic = _rule("from-proxy-all", ipProtocol="-1")
    assert stack_violations(RDS_ADMITS_PROXY, _proxied_db({"port": 6432}, all_traffic)) == []
    # An address range may be how the proxy gets in (rds-no-cidr-ingress judges it): not an outage.
    cidr = _rule("from-cidr", source=None, ipProtocol="tcp", fromPort=5432, toPort=5432, cidrIpv4="10.0.0.0/16")
    assert stack_violations(RDS_ADMITS_PROXY, _proxied_db({}, cidr)) == []


def test_a_database_group_outside_the_stack_is_not_judged_for_the_proxy_path():
    stack = _proxied_db({})
    stack[2] = Resource(INSTANCE, "db", {"engine": "postgres", "vpcSecurityGroupIds": ["sg-0abcdef0123456789"]})
    assert stack_violations(RDS_ADMITS_PROXY, stack) == []


@pytest.mark.parametrize(
    ("props", "deps", "default"),
    [
        # Omitted or empty is rds-security-groups-set's (judged on the inputs), not this stack policy's.
        ({}, {}, False),
        ({"vpcSecurityGroupIds": []}, {}, False),
        ({"vpcSecurityGroupIds": UNKNOWN}, {}, False),  # omitted, filled in by the provider as unknown
        ({"vpcSecurityGroupIds": [UNKNOWN]}, {"vpcSecurityGroupIds": ["default"]}, True),
        # An id alone is not judged: in a deployed state the default group RDS attached for an omitted list
        # carries it too (omission is rds-security-groups-set's, on the inputs).
        ({"vpcSecurityGroupIds": ["sg-0123456789abcdef0"]}, {}, False),
        ({"vpcSecurityGroupIds": [UNKNOWN]}, {"vpcSecurityGroupIds": ["db-sg"]}, False),
        ({"vpcSecurityGroupIds": ["sg-0fedcba9876543210"]}, {}, False),  # a group of another stack
    ],
)
def test_the_vpc_default_group_in_every_spelling(props, deps, default):
    stack = [
        Resource(DEFAULT_SECURITY_GROUP, "default", {"id": "sg-0123456789abcdef0"}),
        Resource(SECURITY_GROUP, "db-sg", {"id": UNKNOWN}),
        Resource(INSTANCE, "db", {"engine": "postgres", **props}, deps),
    ]
    assert bool(stack_violations(RDS_NOT_IN_DEFAULT_SECURITY_GROUP, stack)) is default


@pytest.mark.parametrize(
    ("type_", "props", "fires"),
    [
        (INSTANCE, {"engine": "postgres"}, True),  # omitted: RDS attaches the VPC's default group
        (INSTANCE, {"engine": "postgres", "vpcSecurityGroupIds": None}, True),
        (INSTANCE, {"replicateSourceDb": "orders-db", "vpcSecurityGroupIds": []}, True),  # a replica too
        (CLUSTER, {"engine": "aurora-postgresql"}, True),
        (CLUSTER, {"engine": "aurora-postgresql", "vpcSecurityGroupIds": ["sg-0fedcba9876543210"]}, False),
        (INSTANCE, {"engine": "postgres", "vpcSecurityGroupIds": [UNKNOWN]}, False),  # a group of the stack
        (INSTANCE, {"engine": "postgres", "vpcSecurityGroupIds": UNKNOWN}, False),  # computed: not judged
    ],
)
def test_security_groups_set_on_the_inputs(type_, props, fires):
    findings = resource_violations(RDS_SECURITY_GROUPS_SET, type_, props, name="db")
    assert bool(findings) is fires
    if fires:
        assert "vpcSecurityGroupIds" in findings[0].message and "default security group" in findings[0].message


@pytest.mark.parametrize(
    ("subnet_ids", "zones", "refused"),
    [
        (["subnet-0a1b2c3d4e5f60001"], {}, True),
        (["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"], {}, False),  # outside the stack: unknown zones
        ([UNKNOWN, UNKNOWN], {"a": "us-east-1a", "b": "us-east-1a"}, True),
        ([UNKNOWN, UNKNOWN], {"a": "us-east-1a", "b": "us-east-1b"}, False),
        ([UNKNOWN, UNKNOWN], {"a": "use1-az1", "b": UNKNOWN}, False),
        (UNKNOWN, {}, False),
    ],
)
def test_subnet_groups_need_two_zones(subnet_ids, zones, refused):
    subnets = [Resource(SUBNET, n, {"availabilityZone": z}) for n, z in zones.items()]
    group = Resource(SUBNET_GROUP, "db-subnets", {"subnetIds": subnet_ids}, {"subnetIds": list(zones)})
    assert bool(stack_violations(RDS_SUBNET_GROUP_TWO_AZS, [*subnets, group])) is refused


def test_a_refreshed_group_lists_its_rule_resources_once():
    """Deployed: the database group's ingress lists the rule resource's rule too; it is reported once."""
    stack = [
        Resource(SECURITY_GROUP, "app", {"id": "sg-0aaaaaaaaaaaaaaa1"}),
        Resource(SECURITY_GROUP, "db-sg", {"id": "sg-0aaaaaaaaaaaaaaa2", "ingress": [
            {"protocol": "-1", "fromPort": 0, "toPort": 0, "securityGroups": ["sg-0aaaaaaaaaaaaaaa1"], "cidrBlocks": [],
             "ipv6CidrBlocks": [], "prefixListIds": [], "self": False}]}),
        Resource(INSTANCE, "db", {"engine": "postgres", "vpcSecurityGroupIds": ["sg-0aaaaaaaaaaaaaaa2"]}),
        Resource(SG_INGRESS_RULE, "from-app", {"securityGroupId": "sg-0aaaaaaaaaaaaaaa2", "ipProtocol": "all",
                                               "referencedSecurityGroupId": "sg-0aaaaaaaaaaaaaaa1"}),
    ]
    (finding,) = stack_violations(RDS_INGRESS_ONLY_FROM_PROXY, stack)
    assert finding.urn is not None and finding.urn.endswith("::from-app")


def test_port_only_advisory_leaves_refused_rules_to_the_mandatory_policies():
    app_all = Resource(SG_INGRESS_RULE, "from-app", {"securityGroupId": UNKNOWN, "ipProtocol": "-1",
                                                     "referencedSecurityGroupId": UNKNOWN},
                       {"securityGroupId": ["db-sg"], "referencedSecurityGroupId": ["app"]})
    stack = [Resource(SECURITY_GROUP, "app", {"id": UNKNOWN}), *_proxied_db({}, app_all)]
    assert stack_violations(RDS_INGRESS_DATABASE_PORT_ONLY, stack) == []
    proxy_range = _rule("from-proxy", ipProtocol="tcp", fromPort=1024, toPort=65535)
    (finding,) = stack_violations(RDS_INGRESS_DATABASE_PORT_ONLY, _proxied_db({}, proxy_range))
    assert "TCP 1024-65535" in finding.message
