"""Network: optional private VPC, and the security groups app -> proxy -> database, app -> replicas.

The only allowed path to the primary is app -> proxy (5432) -> database (5432):
no CIDR ingress anywhere, and no rule lets the app group reach the database
group directly.  Read replicas are the exception the platform forces on us: RDS
Proxy cannot target a read replica of an RDS instance, so readers connect to the
replicas themselves.  Replicas therefore sit in a group of their own that admits
the app groups; the primary never joins it.

Rules are standalone ``aws.vpc.SecurityGroup*Rule`` resources (not inline
blocks) so that groups referencing each other do not form a cycle and a changed
rule is replaced alone.  The AWS provider removes the default
allow-all egress rule of a new group, so each group has exactly the rules
declared here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
from pulumi import ResourceOptions


def _nth(index: int) -> Callable[[list[str]], str]:
    return lambda names: names[index]


@dataclass(frozen=True)
class NetworkArgs:
    prefix: str
    port: int
    create_vpc: bool
    vpc_cidr: str | None = None
    availability_zone_count: int = 2
    vpc_id: pulumi.Input[str] | None = None
    subnet_ids: Sequence[pulumi.Input[str]] = ()
    #: Existing application groups; when empty an app group is created.
    app_security_group_ids: Sequence[pulumi.Input[str]] = ()
    #: Read replicas the stack declares; with none, no replica group is created.
    replica_count: int = 0
    tags: dict[str, str] = field(default_factory=dict)


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    subnet_ids: pulumi.Output[list[str]]
    app_security_group_ids: pulumi.Output[list[str]]
    proxy_security_group_id: pulumi.Output[str]
    database_security_group_id: pulumi.Output[str]
    #: The read replicas' group (app -> replica 5432); None when the stack has no replica.
    replica_security_group_id: pulumi.Output[str] | None

    def __init__(self, name: str, args: NetworkArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("resilient-rds:network:Network", name, None, opts)
        child = ResourceOptions(parent=self)

        def tags(resource_name: str) -> dict[str, str]:
            return {**args.tags, "Name": resource_name}

        def port_rule(
            rule_type: type[aws.vpc.SecurityGroupIngressRule] | type[aws.vpc.SecurityGroupEgressRule],
            resource_name: str,
            group_id: pulumi.Input[str],
            peer_group_id: pulumi.Input[str],
            description: str,
            tag_name: str,
        ) -> None:
            """One TCP rule on the database port between two security groups (never a CIDR)."""
            rule_type(
                resource_name,
                security_group_id=group_id,
                referenced_security_group_id=peer_group_id,
                ip_protocol="tcp",
                from_port=args.port,
                to_port=args.port,
                description=description,
                tags=tags(tag_name),
                opts=child,
            )

        if args.create_vpc:
            if not args.vpc_cidr:
                raise ValueError("NetworkArgs.vpc_cidr is required with create_vpc")
            vpc = aws.ec2.Vpc(
                f"{name}-vpc",
                cidr_block=args.vpc_cidr,
                # RDS endpoints are DNS names; both are needed to resolve them inside the VPC.
                enable_dns_support=True,
                enable_dns_hostnames=True,
                tags=tags(f"{args.prefix}-vpc"),
                opts=child,
            )
            zones = aws.get_availability_zones_output(state="available", opts=pulumi.InvokeOptions(parent=self))
            # Private subnets only: no internet gateway, no public IPs.  IAM auth tokens are signed
            # locally, so clients need no route to the internet to connect.
            blocks = list(ipaddress.IPv4Network(args.vpc_cidr).subnets(prefixlen_diff=2))
            subnets = [
                aws.ec2.Subnet(
                    f"{name}-private-subnet-{index + 1}",
                    vpc_id=vpc.id,
                    cidr_block=str(blocks[index]),
                    availability_zone=zones.names.apply(_nth(index)),
                    map_public_ip_on_launch=False,
                    tags=tags(f"{args.prefix}-private-{index + 1}"),
                    opts=child,
                )
                for index in range(args.availability_zone_count)
            ]
            vpc_id: pulumi.Output[str] = vpc.id
            subnet_ids: pulumi.Output[list[str]] = pulumi.Output.all(*[s.id for s in subnets])
        else:
            if not args.vpc_id or len(args.subnet_ids) < 2:
                raise ValueError("NetworkArgs needs vpc_id and at least two subnet_ids without create_vpc")
            vpc_id = pulumi.Output.from_input(args.vpc_id)
            subnet_ids = pulumi.Output.all(*args.subnet_ids)

        created_app_group: aws.ec2.SecurityGroup | None = None
        if args.app_security_group_ids:
            app_group_ids: list[pulumi.Input[str]] = list(args.app_security_group_ids)
        else:
            created_app_group = aws.ec2.SecurityGroup(
                f"{name}-app-security-group",
                vpc_id=vpc_id,
                description=f"{args.prefix} application tier (Lambda, ECS): may reach the RDS Proxy only",
                tags=tags(f"{args.prefix}-app"),
                opts=child,
            )
            app_group_ids = [created_app_group.id]

        proxy_security_group = aws.ec2.SecurityGroup(
            f"{name}-proxy-security-group",
            vpc_id=vpc_id,
            description=f"{args.prefix} RDS Proxy: from the app tier, to the database",
            tags=tags(f"{args.prefix}-proxy"),
            opts=child,
        )
        database_security_group = aws.ec2.SecurityGroup(
            f"{name}-database-security-group",
            vpc_id=vpc_id,
            description=f"{args.prefix} RDS for PostgreSQL: from the RDS Proxy only",
            tags=tags(f"{args.prefix}-database"),
            opts=child,
        )

        for index, app_group_id in enumerate(app_group_ids):
            port_rule(
                aws.vpc.SecurityGroupIngressRule,
                f"{name}-proxy-ingress-from-app-{index + 1}",
                proxy_security_group.id,
                app_group_id,
                "PostgreSQL from the application tier",
                f"{args.prefix}-proxy-from-app",
            )
        if created_app_group is not None:
            # Existing app groups keep the egress their owners gave them; a group created here
            # gets exactly one egress rule: to the proxy.
            port_rule(
                aws.vpc.SecurityGroupEgressRule,
                f"{name}-app-egress-to-proxy",
                created_app_group.id,
                proxy_security_group.id,
                "PostgreSQL to the RDS Proxy",
                f"{args.prefix}-app-to-proxy",
            )
        port_rule(
            aws.vpc.SecurityGroupEgressRule,
            f"{name}-proxy-egress-to-database",
            proxy_security_group.id,
            database_security_group.id,
            "PostgreSQL to the database",
            f"{args.prefix}-proxy-to-database",
        )
        port_rule(
            aws.vpc.SecurityGroupIngressRule,
            f"{name}-database-ingress-from-proxy",
            database_security_group.id,
            proxy_security_group.id,
            "PostgreSQL from the RDS Proxy only",
            f"{args.prefix}-database-from-proxy",
        )

        # The replica group exists only with replicas: an empty group would still admit the app tier
        # (and, when we create the app group, give it an egress rule) for no reader at all, and every
        # rule in this component should correspond to a path some client uses.  Going from 0 to N
        # replicas creates it together with them.
        replica_security_group: aws.ec2.SecurityGroup | None = None
        if args.replica_count > 0:
            replica_security_group = aws.ec2.SecurityGroup(
                f"{name}-replica-security-group",
                vpc_id=vpc_id,
                description=f"{args.prefix} RDS read replicas: from the app tier (RDS Proxy cannot target them)",
                tags=tags(f"{args.prefix}-replica"),
                opts=child,
            )
            for index, app_group_id in enumerate(app_group_ids):
                port_rule(
                    aws.vpc.SecurityGroupIngressRule,
                    f"{name}-replica-ingress-from-app-{index + 1}",
                    replica_security_group.id,
                    app_group_id,
                    "PostgreSQL reads from the application tier",
                    f"{args.prefix}-replica-from-app",
                )
            if created_app_group is not None:
                # Same rule as for the proxy: a group created here has egress only where it may connect.
                port_rule(
                    aws.vpc.SecurityGroupEgressRule,
                    f"{name}-app-egress-to-replica",
                    created_app_group.id,
                    replica_security_group.id,
                    "PostgreSQL to the read replicas",
                    f"{args.prefix}-app-to-replica",
                )

        self.vpc_id = vpc_id
        self.subnet_ids = subnet_ids
        self.app_security_group_ids = pulumi.Output.all(*app_group_ids)
        self.proxy_security_group_id = proxy_security_group.id
        self.database_security_group_id = database_security_group.id
        self.replica_security_group_id = replica_security_group.id if replica_security_group is not None else None
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "subnetIds": self.subnet_ids,
                "appSecurityGroupIds": self.app_security_group_ids,
                "proxySecurityGroupId": self.proxy_security_group_id,
                "databaseSecurityGroupId": self.database_security_group_id,
                "replicaSecurityGroupId": self.replica_security_group_id,
            }
        )
