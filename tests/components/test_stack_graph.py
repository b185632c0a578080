"""The whole resource graph of dev and prod: types, counts, parents."""

from __future__ import annotations

from collections import Counter

from stack_helpers import PROJECT_DIR

from gate.program import ProgramRun

COMPONENTS = {
    "resilient-rds:network:Network": "network",
    "resilient-rds:credentials:Credentials": "credentials",
    "resilient-rds:database:Database": "database",
    "resilient-rds:replica:Replica": "replica",
    "resilient-rds:proxy:Proxy": "proxy",
    "resilient-rds:alarms:Alarms": "alarms",
    "resilient-rds:events:DatabaseEvents": "events",
    "resilient-rds:dashboard:Dashboard": "dashboard",
    "resilient-rds:access:Access": "access",
}

COMPONENT = "resilient-rds:index:ResilientPostgres"

COMMON = {
    COMPONENT: 1,
    **{t: 1 for t in COMPONENTS},
    "aws:kms/key:Key": 3,  # database storage + PI, credentials secret, alarm topic
    "aws:kms/alias:Alias": 3,
    "random:index/randomPassword:RandomPassword": 1,
    "aws:secretsmanager/secret:Secret": 1,
    "aws:secretsmanager/secretVersion:SecretVersion": 1,
    "aws:rds/subnetGroup:SubnetGroup": 1,
    "aws:iam/role:Role": 2,  # enhanced monitoring, proxy
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": 1,
    "aws:iam/rolePolicy:RolePolicy": 1,
    "aws:rds/proxy:Proxy": 1,
    "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup": 1,
    "aws:rds/proxyTarget:ProxyTarget": 1,
    "aws:sns/topic:Topic": 1,
    "aws:iam/policy:Policy": 1,
    "aws:rds/eventSubscription:EventSubscription": 1,
    "aws:cloudwatch/dashboard:Dashboard": 1,
}

EXPECTED = {
    "dev": {
        **COMMON,
        "aws:ec2/vpc:Vpc": 1,
        "aws:ec2/subnet:Subnet": 2,
        "aws:ec2/securityGroup:SecurityGroup": 3,  # app (created), proxy, database
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": 2,
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": 2,
        "aws:rds/parameterGroup:ParameterGroup": 1,
        "aws:rds/instance:Instance": 1,
        "aws:cloudwatch/metricAlarm:MetricAlarm": 6,
    },
    "prod": {
        **COMMON,
        "aws:ec2/securityGroup:SecurityGroup": 3,  # proxy, database, replica (the app group exists already)
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": 3,  # app -> proxy, proxy -> db, app -> replica
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": 1,
        "aws:rds/parameterGroup:ParameterGroup": 2,
        "aws:rds/instance:Instance": 2,
        "aws:cloudwatch/metricAlarm:MetricAlarm": 7,
        "aws:sns/topicSubscription:TopicSubscription": 1,
    },
}


def test_resource_types_and_counts(run: ProgramRun, stack: str) -> None:
    assert Counter(r.type for r in run.resources) == EXPECTED[stack]
    assert len(run.resources) == {"dev": 49, "prod": 50}[stack]


def test_components_hang_off_resilient_postgres_and_every_resource_off_a_component(run: ProgramRun) -> None:
    by_urn = run.by_urn()
    (top,) = run.by_type(COMPONENT)
    assert top.parent == run.stack_urn() and not top.custom
    for resource in run.resources:
        if resource.type == COMPONENT:
            continue
        if resource.type in COMPONENTS:
            assert not resource.custom
            assert resource.parent == top.urn, resource.name
            assert resource.name == COMPONENTS[resource.type]
        else:
            assert resource.custom, resource.name
            parent = by_urn.get(resource.parent)
            assert parent is not None and parent.type in COMPONENTS, f"{resource.name} is not parented to a component"
            # Child names carry their component's name: one glance tells where a resource comes from.
            assert resource.name.startswith(parent.name + "-"), resource.name


def test_resource_names_are_unique(run: ProgramRun) -> None:
    names = Counter((r.type, r.name) for r in run.resources)
    assert [n for n, c in names.items() if c > 1] == []


def test_every_taggable_cloud_resource_is_tagged(run: ProgramRun, stack: str) -> None:
    untaggable = {
        "aws:kms/alias:Alias",
        "random:index/randomPassword:RandomPassword",
        "aws:secretsmanager/secretVersion:SecretVersion",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup",
        "aws:rds/proxyTarget:ProxyTarget",
        "aws:sns/topicSubscription:TopicSubscription",
        "aws:cloudwatch/dashboard:Dashboard",  # PutDashboard takes no tags
    }
    for resource in run.resources:
        if resource.custom and resource.type not in untaggable:
            tags = resource.inputs.get("tags") or {}
            assert tags.get("Environment") == stack, resource.name
            assert tags.get("Project") == "resilient-rds", resource.name
            assert tags.get("Name"), resource.name


def test_stack_files_exist_for_both_stacks() -> None:
    for stack in ("dev", "prod"):
        assert (PROJECT_DIR / f"Pulumi.{stack}.yaml").is_file()
