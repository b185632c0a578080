"""Security groups: app -> proxy -> database and nothing else; the VPC for dev."""

from __future__ import annotations

import ipaddress
from collections import defaultdict

from stack_helpers import NS, named, run_changed

from gate.program import UNKNOWN, ProgramRun, RegisteredResource

INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
GROUP = "aws:ec2/securityGroup:SecurityGroup"


def _group_ref(rule: RegisteredResource, key: str) -> str:
    """The group a rule names: the resource name for groups in the stack, else the literal id."""
    deps = rule.property_dependencies.get(key) or []
    if deps:
        return deps[0].rsplit("::", 1)[1]
    value = rule.inputs[key]
    assert value is not UNKNOWN, f"{rule.name}.{key} is unknown without a dependency"
    return str(value)


def _traffic_edges(run: ProgramRun) -> set[tuple[str, str]]:
    """(source group, destination group) pairs that both sides allow on 5432."""
    ingress = set()
    egress = set()
    for rule in run.by_type(INGRESS):
        ingress.add((_group_ref(rule, "referencedSecurityGroupId"), _group_ref(rule, "securityGroupId")))
    for rule in run.by_type(EGRESS):
        egress.add((_group_ref(rule, "securityGroupId"), _group_ref(rule, "referencedSecurityGroupId")))
    return ingress | egress


def _app_groups(run: ProgramRun, stack: str) -> list[str]:
    return ["network-app-security-group"] if stack == "dev" else ["sg-0a1b2c3d4e5f6a001"]


def test_rules_are_standalone_and_postgres_only(run: ProgramRun) -> None:
    for group in run.by_type(GROUP):
        assert "ingress" not in group.inputs and "egress" not in group.inputs, group.name
    for rule in run.by_type(INGRESS) + run.by_type(EGRESS):
        i = rule.inputs
        assert (i["ipProtocol"], i["fromPort"], i["toPort"]) == ("tcp", 5432, 5432), rule.name
        assert "referencedSecurityGroupId" in i, rule.name
        for cidr_key in ("cidrIpv4", "cidrIpv6", "prefixListId"):
            assert cidr_key not in i, f"{rule.name} opens {cidr_key}"


def test_exact_rule_set(run: ProgramRun, stack: str) -> None:
    app = _app_groups(run, stack)[0]
    ingress = {(_group_ref(r, "referencedSecurityGroupId"), _group_ref(r, "securityGroupId")) for r in run.by_type(INGRESS)}
    egress = {(_group_ref(r, "securityGroupId"), _group_ref(r, "referencedSecurityGroupId")) for r in run.by_type(EGRESS)}
    assert ingress == {
        (app, "network-proxy-security-group"),
        ("network-proxy-security-group", "network-database-security-group"),
    }
    expected_egress = {("network-proxy-security-group", "network-database-security-group")}
    if stack == "dev":  # the app group created here gets its single egress rule
        expected_egress.add((app, "network-proxy-security-group"))
    assert egress == expected_egress


def test_no_path_from_app_to_database_skips_the_proxy(run: ProgramRun, stack: str) -> None:
    edges = _traffic_edges(run)
    graph: dict[str, set[str]] = defaultdict(set)
    for src, dst in edges:
        graph[src].add(dst)
    database = "network-database-security-group"
    proxy = "network-proxy-security-group"
    for app in _app_groups(run, stack):
        assert database not in graph[app], "the app tier reaches the database directly"
        # Every path app -> database passes through the proxy group.
        stack_ = [app]
        seen = {app}
        while stack_:
            node = stack_.pop()
            for nxt in graph[node] - {proxy}:
                assert nxt != database, f"path {app} -> database avoids the proxy"
                if nxt not in seen:
                    seen.add(nxt)
                    stack_.append(nxt)
    # The only way into the database group is from the proxy group.
    assert {src for src, dst in edges if dst == database} == {proxy}


def test_instances_and_proxy_use_their_groups(run: ProgramRun) -> None:
    database_group = named(run, "network-database-security-group").urn
    proxy_group = named(run, "network-proxy-security-group").urn
    for instance in run.by_type("aws:rds/instance:Instance"):
        assert instance.property_dependencies["vpcSecurityGroupIds"] == [database_group]
    proxy = named(run, "proxy-proxy")
    assert proxy.property_dependencies["vpcSecurityGroupIds"] == [proxy_group]


def test_dev_creates_a_private_vpc_in_two_zones(run: ProgramRun, stack: str) -> None:
    subnets = run.by_type("aws:ec2/subnet:Subnet")
    if stack == "prod":
        assert run.by_type("aws:ec2/vpc:Vpc") == [] and subnets == []
        assert named(run, "database-subnet-group").inputs["subnetIds"] == [
            "subnet-0a1b2c3d4e5f60001",
            "subnet-0a1b2c3d4e5f60002",
            "subnet-0a1b2c3d4e5f60003",
        ]
        assert named(run, "network-proxy-security-group").inputs["vpcId"] == "vpc-0a1b2c3d4e5f67890"
        return
    vpc = named(run, "network-vpc")
    assert vpc.inputs["enableDnsHostnames"] is True and vpc.inputs["enableDnsSupport"] is True
    assert len(subnets) == 2
    network = ipaddress.IPv4Network(vpc.inputs["cidrBlock"])
    blocks = [ipaddress.IPv4Network(s.inputs["cidrBlock"]) for s in subnets]
    assert all(b.subnet_of(network) for b in blocks) and not blocks[0].overlaps(blocks[1])
    for subnet in subnets:
        assert subnet.inputs["mapPublicIpOnLaunch"] is False
    assert run.by_type("aws:ec2/internetGateway:InternetGateway") == []


def test_dev_subnets_land_in_distinct_zones_when_known() -> None:
    run = run_changed("dev", {}, unknown_computed=False)
    subnets = sorted(run.by_type("aws:ec2/subnet:Subnet"), key=lambda s: s.name)  # registration order is async
    zones = [s.inputs["availabilityZone"] for s in subnets]
    assert zones == ["us-east-1a", "us-east-1b"]


def test_several_existing_app_groups_each_get_one_proxy_ingress() -> None:
    groups = ["sg-0a1b2c3d4e5f6a001", "sg-0a1b2c3d4e5f6a002"]
    run = run_changed("prod", {f"{NS}:network.appSecurityGroupIds": groups})
    sources = sorted(
        str(r.inputs["referencedSecurityGroupId"]) for r in run.by_type(INGRESS) if r.name.startswith("network-proxy")
    )
    assert sources == groups
    assert run.outputs["appSecurityGroupIds"] == groups
    assert run.outputs["appSecurityGroupId"] == groups[0]
