"""The order lookup Lambda (``dbclient.lambda_handler``), deployed next to the proxy.

* Code: the ``dbclient/`` package (Python sources and ``schema.sql``), as an
  ``AssetArchive`` whose paths keep the package name, so the handler is
  ``dbclient.lambda_handler.handler``.
* psycopg: a layer built for the Lambda runtime before ``pulumi up`` by
  ``make layer`` (``dbclient/layer.py``: manylinux2014 x86_64 wheels for
  CPython 3.11); the program only publishes the zip it is given, and never
  imports ``dbclient``.
* Network: the app security group and the private subnets (the proxy only
  accepts the app security group).
* Concurrency: ``reserved_concurrent_executions`` from the workload's
  ``lambdaConcurrency``, so the Lambda can never open more client connections
  than the budget counted.
* Role: Lambda trust, ``AWSLambdaVPCAccessExecutionRole`` (ENIs and logs), and
  the ``rds-db:connect`` policy for the proxy.
* Environment: ``DB_PROXY_ENDPOINT``, ``DB_READER_ENDPOINT`` and
  ``DB_READER_USER`` (if there is a reader), ``DB_USER``, ``DB_NAME``, ``DB_AUTH=iam``, ``DB_SSLMODE=require``.  ``AWS_REGION``
  is provided by Lambda itself (it is a reserved variable and cannot be set).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_aws as aws
from pulumi import ResourceOptions

#: The handler's sources, read as files (never imported): beside ``components`` in the repository and
#: in an installed distribution alike.
DBCLIENT_DIR = Path(__file__).resolve().parent.parent / "dbclient"
HANDLER = "dbclient.lambda_handler.handler"
RUNTIME = "python3.11"
VPC_ACCESS_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
#: Files shipped with the handler (sources only; not the layer builder, nor the ECS pool,
#: which imports components.sizing, nor the DBA's one-time reader-role script).
_CODE_SUFFIXES = (".py", ".sql")
_NOT_SHIPPED = {"layer.py", "pool.py", "reader_role.sql"}


@dataclass(frozen=True)
class OrderLookupFunctionArgs:
    subnet_ids: pulumi.Input[list[str]]
    security_group_ids: pulumi.Input[list[str]]
    connect_policy_arn: pulumi.Input[str]
    reserved_concurrency: int
    proxy_endpoint: pulumi.Input[str]
    db_user: str
    db_name: str
    reader_endpoint: pulumi.Input[str] | None = None
    #: The rds_iam user for the reader endpoint (tokens are per host and user); None means db_user.
    db_reader_user: str | None = None
    memory_mb: int = 256
    timeout_s: int = 10
    tags: dict[str, str] = field(default_factory=dict)
    #: The psycopg layer zip built by `make layer` (stack key lambdaFunction.layerArchive).
    layer_archive: str = "build/lambda-layer.zip"
    #: Physical-name prefix, e.g. ``orders-prod``; defaults to the component name.
    prefix: str | None = None

    def __post_init__(self) -> None:
        if self.reserved_concurrency < 1:
            raise ValueError(
                f"reserved_concurrency must be at least 1 (0 would disable the function), got {self.reserved_concurrency}"
            )
        if not 128 <= self.memory_mb <= 10240:
            raise ValueError(f"memory_mb must be 128..10240, got {self.memory_mb}")
        if not 1 <= self.timeout_s <= 900:
            raise ValueError(f"timeout_s must be 1..900, got {self.timeout_s}")


def code_archive(package_dir: Path = DBCLIENT_DIR) -> pulumi.AssetArchive:
    """The ``dbclient`` package as the function's code, with paths ``dbclient/<file>``."""
    assets: dict[str, pulumi.Asset | pulumi.Archive] = {}
    for path in sorted(package_dir.iterdir()):
        if path.is_file() and path.suffix in _CODE_SUFFIXES and path.name not in _NOT_SHIPPED:
            assets[f"dbclient/{path.name}"] = pulumi.FileAsset(str(path))
    if "dbclient/lambda_handler.py" not in assets:
        raise FileNotFoundError(f"{package_dir} has no lambda_handler.py")
    return pulumi.AssetArchive(assets)


def _assume_role_policy() -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
    )


class OrderLookupFunction(pulumi.ComponentResource):
    function_arn: pulumi.Output[str]
    function_name: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    layer_arn: pulumi.Output[str]

    def __init__(self, name: str, args: OrderLookupFunctionArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("resilient-rds:app:OrderLookupFunction", name, None, opts)
        prefix = args.prefix or name
        tags = {**args.tags, "Component": "order-lookup"}
        child = ResourceOptions(parent=self)

        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=_assume_role_policy(),
            description=f"Execution role of the {prefix} order lookup Lambda",
            tags={**tags, "Name": f"{prefix}-order-lookup"},
            opts=child,
        )
        attachments = [
            aws.iam.RolePolicyAttachment(f"{name}-vpc-access", role=role.name, policy_arn=VPC_ACCESS_POLICY_ARN, opts=child),
            aws.iam.RolePolicyAttachment(f"{name}-rds-connect", role=role.name, policy_arn=args.connect_policy_arn, opts=child),
        ]

        layer = aws.lambda_.LayerVersion(
            f"{name}-psycopg",
            layer_name=f"{prefix}-psycopg",
            description="psycopg 3 (binary) and psycopg_pool for python3.11 x86_64",
            code=pulumi.FileArchive(args.layer_archive),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=["x86_64"],
            opts=child,
        )

        variables: dict[str, pulumi.Input[str]] = {
            "DB_PROXY_ENDPOINT": args.proxy_endpoint,
            "DB_USER": args.db_user,
            "DB_NAME": args.db_name,
            "DB_AUTH": "iam",
            "DB_SSLMODE": "require",
            # Keep each database wait well inside the function's own timeout.
            "DB_OPERATION_TIMEOUT_S": str(max(1, min(5, args.timeout_s // 2))),
        }
        if args.reader_endpoint is not None:
            variables["DB_READER_ENDPOINT"] = args.reader_endpoint
            if args.db_reader_user is not None:
                variables["DB_READER_USER"] = args.db_reader_user

        function = aws.lambda_.Function(
            f"{name}-function",
            name=f"{prefix}-order-lookup",
            description="Order lookup through RDS Proxy (dbclient.lambda_handler)",
            runtime=RUNTIME,
            architectures=["x86_64"],
            handler=HANDLER,
            role=role.arn,
            code=code_archive(),
            layers=[layer.arn],
            memory_size=args.memory_mb,
            timeout=args.timeout_s,
            reserved_concurrent_executions=args.reserved_concurrency,
            vpc_config=aws.lambda_.FunctionVpcConfigArgs(
                subnet_ids=args.subnet_ids,
                security_group_ids=args.security_group_ids,
            ),
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=variables),
            tags={**tags, "Name": f"{prefix}-order-lookup"},
            # The role must be able to create ENIs (VPC access) before the function is created.
            opts=ResourceOptions(parent=self, depends_on=attachments),
        )

        self.function_arn = function.arn
        self.function_name = function.name
        self.role_arn = role.arn
        self.layer_arn = layer.arn
        self.register_outputs(
            {"functionArn": function.arn, "functionName": function.name, "roleArn": role.arn, "layerArn": layer.arn}
        )
