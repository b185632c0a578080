"""Security groups: app -> proxy -> primary, app -> read replicas, and nothing else; the VPC for dev."""

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


PROXY = "network-proxy-security-group"
DATABASE = "network-database-security-group"
REPLICA = "network-replica-security-group"


def _graph(run: ProgramRun) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for src, dst in _traffic_edges(run):
        graph[src].add(dst)
    return graph


def _reachable(graph: dict[str, set[str]], start: str, avoid: set[str]) -> set[str]:
    """Groups reachable from *start* on 5432 without passing through *avoid*."""
    seen = {start}
    todo = [start]
    while todo:
        for nxt in graph[todo.pop()] - avoid:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _instance_groups(run: ProgramRun) -> dict[str, list[str]]:
    """Instance name -> names of the stack's groups it is attached to."""
    return {
        i.name: [urn.rsplit("::", 1)[1] for urn in i.property_dependencies["vpcSecurityGroupIds"]]
        for i in run.by_type("aws:rds/instance:Instance")
    }


def test_rules_are_standalone_and_postgres_only(run: ProgramRun) -> None:
    for group in run.by_type(GROUP):
        assert "ingress" not in group.inputs and "egress" not in group.inputs, group.name
    for rule in run.by_type(INGRESS) + run.by_type(EGRESS):
        i = rule.inputs
        assert (i["ipProtocol"], i["fromPort"], i["toPort"]) == ("tcp", 5432, 5432), rule.name
        assert "referencedSecurityGroupId" in i, rule.name
        for cidr_key in ("cidrIpv4", "cidrIpv6", "prefixListId"):
            assert cidr_key not in i, f"{rule.name} opens {cidr_key}"


def _ingress(run: ProgramRun) -> set[tuple[str, str]]:
    return {(_group_ref(r, "referencedSecurityGroupId"), _group_ref(r, "securityGroupId")) for r in run.by_type(INGRESS)}


def _egress(run: ProgramRun) -> set[tuple[str, str]]:
    return {(_group_ref(r, "securityGroupId"), _group_ref(r, "referencedSecurityGroupId")) for r in run.by_type(EGRESS)}


def test_exact_rule_set(run: ProgramRun, stack: str) -> None:
    app = _app_groups(run, stack)[0]
    expected_ingress = {(app, PROXY), (PROXY, DATABASE)}
    if stack == "prod":  # prod has a replica: its group admits the app tier
        expected_ingress.add((app, REPLICA))
    assert _ingress(run) == expected_ingress
    expected_egress = {(PROXY, DATABASE)}
    if stack == "dev":  # the app group created here gets its single egress rule (dev has no replica)
        expected_egress.add((app, PROXY))
    assert _egress(run) == expected_egress


def test_no_path_from_app_to_database_skips_the_proxy(run: ProgramRun, stack: str) -> None:
    graph = _graph(run)
    for app in _app_groups(run, stack):
        assert DATABASE not in graph[app], "the app tier reaches the database directly"
        # Every path app -> database passes through the proxy group (replica group included).
        assert DATABASE not in _reachable(graph, app, avoid={PROXY}), f"a path {app} -> database avoids the proxy"
    # The only way into the database group is from the proxy group.
    assert {src for src, dst in _traffic_edges(run) if dst == DATABASE} == {PROXY}


def test_app_reaches_replicas_directly_and_nothing_else(run: ProgramRun, stack: str) -> None:
    graph = _graph(run)
    edges = _traffic_edges(run)
    for app in _app_groups(run, stack):
        if stack == "prod":
            assert graph[app] == {PROXY, REPLICA}
        else:
            assert graph[app] == {PROXY}
    if stack == "prod":
        # Only the app tier gets into the replica group, and the replica group leads nowhere.
        assert {src for src, dst in edges if dst == REPLICA} == set(_app_groups(run, stack))
        assert graph[REPLICA] == set()


def test_instances_and_proxy_use_their_groups(run: ProgramRun, stack: str) -> None:
    groups = _instance_groups(run)
    # The primary stays in the database group alone; replicas only in theirs; the replica group
    # holds replicas only (the policy pack would reject a primary in it).
    assert groups.pop("database-primary") == [DATABASE]
    assert sorted(groups) == ({"dev": [], "prod": ["replica-1"]}[stack])
    for name, attached in groups.items():
        assert attached == [REPLICA], name
    proxy = named(run, "proxy-proxy")
    assert proxy.property_dependencies["vpcSecurityGroupIds"] == [named(run, PROXY).urn]


def test_replica_group_exists_only_with_replicas(run: ProgramRun, stack: str) -> None:
    names = {g.name for g in run.by_type(GROUP)}
    if stack == "dev":
        assert REPLICA not in names
        assert "replicaSecurityGroupId" not in run.outputs or run.outputs["replicaSecurityGroupId"] is None
        return
    group = named(run, REPLICA)
    assert group.inputs["vpcId"] == "vpc-0a1b2c3d4e5f67890"
    assert group.inputs["tags"]["Name"] == "orders-prod-replica"
    assert "ingress" not in group.inputs and "egress" not in group.inputs


def test_replica_security_group_id_export(known_run: ProgramRun, stack: str) -> None:
    if stack == "prod":
        assert known_run.outputs["replicaSecurityGroupId"] == named(known_run, REPLICA).id
        assert known_run.outputs["replicaSecurityGroupId"].startswith("sg-")
    else:
        assert known_run.outputs.get("replicaSecurityGroupId") is None


def test_created_app_group_gets_egress_to_the_replicas() -> None:
    """dev with a replica: the app group created here may talk to the proxy and the replicas, nothing else."""
    run = run_changed("dev", {f"{NS}:replicas.count": 2})
    app = "network-app-security-group"
    assert _ingress(run) == {(app, PROXY), (PROXY, DATABASE), (app, REPLICA)}
    assert _egress(run) == {(app, PROXY), (app, REPLICA), (PROXY, DATABASE)}
    groups = _instance_groups(run)
    assert groups == {"database-primary": [DATABASE], "replica-1": [REPLICA], "replica-2": [REPLICA]}
    assert DATABASE not in _reachable(_graph(run), app, avoid={PROXY})
    for rule in run.by_type(INGRESS) + run.by_type(EGRESS):
        assert (rule.inputs["ipProtocol"], rule.inputs["fromPort"], rule.inputs["toPort"]) == ("tcp", 5432, 5432)
        assert not {"cidrIpv4", "cidrIpv6", "prefixListId"} & set(rule.inputs), rule.name


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
    for prefix in ("network-proxy", "network-replica"):  # one rule per app group into the proxy and the replicas
        sources = sorted(str(r.inputs["referencedSecurityGroupId"]) for r in run.by_type(INGRESS) if r.name.startswith(prefix))
        assert sources == groups, prefix
    assert run.outputs["appSecurityGroupIds"] == groups
    assert run.outputs["appSecurityGroupId"] == groups[0]
