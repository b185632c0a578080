"""Type tokens of the resources the pack judges (pulumi-aws v6/v7), and how messages name a resource."""

from __future__ import annotations

INSTANCE = "aws:rds/instance:Instance"
CLUSTER = "aws:rds/cluster:Cluster"
PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
PROXY = "aws:rds/proxy:Proxy"
PROXY_TARGET_GROUP = "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup"
PROXY_TARGET = "aws:rds/proxyTarget:ProxyTarget"
PROXY_ENDPOINT = "aws:rds/proxyEndpoint:ProxyEndpoint"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SG_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
IAM_ROLE = "aws:iam/role:Role"
IAM_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_POLICY = "aws:iam/policy:Policy"
IAM_ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
IAM_POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"
SECRET = "aws:secretsmanager/secret:Secret"
KMS_KEY = "aws:kms/key:Key"
#: The VPC's default group, when a stack manages it (the provider adopts it, it never creates one).
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SUBNET_GROUP = "aws:rds/subnetGroup:SubnetGroup"
SUBNET = "aws:ec2/subnet:Subnet"
VPC = "aws:ec2/vpc:Vpc"
DEFAULT_VPC = "aws:ec2/defaultVpc:DefaultVpc"
LAMBDA_FUNCTION = "aws:lambda/function:Function"
ECS_TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"

#: Short, readable names for messages.
_SHORT = {
    INSTANCE: "aws.rds.Instance",
    CLUSTER: "aws.rds.Cluster",
    PARAMETER_GROUP: "aws.rds.ParameterGroup",
    PROXY: "aws.rds.Proxy",
    PROXY_TARGET_GROUP: "aws.rds.ProxyDefaultTargetGroup",
    PROXY_TARGET: "aws.rds.ProxyTarget",
    PROXY_ENDPOINT: "aws.rds.ProxyEndpoint",
    SECURITY_GROUP: "aws.ec2.SecurityGroup",
    SG_INGRESS_RULE: "aws.vpc.SecurityGroupIngressRule",
    SG_RULE: "aws.ec2.SecurityGroupRule",
    METRIC_ALARM: "aws.cloudwatch.MetricAlarm",
    IAM_ROLE: "aws.iam.Role",
    IAM_ROLE_POLICY: "aws.iam.RolePolicy",
    IAM_POLICY: "aws.iam.Policy",
    SECRET: "aws.secretsmanager.Secret",
    DEFAULT_SECURITY_GROUP: "aws.ec2.DefaultSecurityGroup",
    SUBNET_GROUP: "aws.rds.SubnetGroup",
    SUBNET: "aws.ec2.Subnet",
    VPC: "aws.ec2.Vpc",
    DEFAULT_VPC: "aws.ec2.DefaultVpc",
    LAMBDA_FUNCTION: "aws.lambda.Function",
    ECS_TASK_DEFINITION: "aws.ecs.TaskDefinition",
}

POSTGRES_ENGINES = ("postgres", "aurora-postgresql")


def short_type(type_: str) -> str:
    """``aws:kms/key:Key`` -> ``aws.kms.Key`` (the SDK spelling), also for tokens not listed above."""
    if type_ in _SHORT:
        return _SHORT[type_]
    package, _, rest = type_.partition(":")
    module, _, class_name = rest.rpartition(":")
    module = module.split("/")[0]
    if not (package and module and class_name):
        return type_
    return f"{package}.{class_name}" if module == "index" else f"{package}.{module}.{class_name}"


def label(type_: str, name: str) -> str:
    """``aws.rds.Instance "orders-db"``: how messages name a resource."""
    return f'{short_type(type_)} "{name}"'
