"""The order lookup Lambda component under Pulumi mocks, and the psycopg layer it ships."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pulumi
import pytest

from components.app_lambda import HANDLER, VPC_ACCESS_POLICY_ARN, OrderLookupFunction, OrderLookupFunctionArgs, code_archive
from dbclient.layer import build_layer
from gate.program import ProgramRun, run_program

PROJECT_DIR = Path(__file__).resolve().parents[2]
TYPE = "resilient-rds:app:OrderLookupFunction"
CONNECT_POLICY = "arn:aws:iam::123456789012:policy/orders-dev-rds-proxy-connect"
FAKE_LAYER = "/nonexistent/lambda-layer.zip"  # mocks never read it; the real build is tested below


def _args(**changes: object) -> OrderLookupFunctionArgs:
    values: dict[str, object] = {
        "subnet_ids": ["subnet-a", "subnet-b"],
        "security_group_ids": ["sg-app"],
        "connect_policy_arn": CONNECT_POLICY,
        "reserved_concurrency": 50,
        "proxy_endpoint": "orders-dev.proxy-abc.us-east-1.rds.amazonaws.com",
        "db_user": "orders_app",
        "db_name": "orders",
        "tags": {"Project": "resilient-rds"},
        "layer_archive": FAKE_LAYER,
        "prefix": "orders-dev",
    }
    values.update(changes)
    return OrderLookupFunctionArgs(**values)  # type: ignore[arg-type]


def _run(args: OrderLookupFunctionArgs) -> ProgramRun:
    def program() -> None:
        OrderLookupFunction("orders", args)

    return run_program(PROJECT_DIR, "dev", config={"aws:region": "us-east-1"}, program=program, unknown_computed=False)


def test_function_wiring() -> None:
    run = _run(_args(reader_endpoint="orders-dev-ro.proxy-abc.us-east-1.rds.amazonaws.com", db_reader_user="orders_reader"))
    (component,) = run.by_type(TYPE)
    (function,) = run.by_type("aws:lambda/function:Function")
    (layer,) = run.by_type("aws:lambda/layerVersion:LayerVersion")
    (role,) = run.by_type("aws:iam/role:Role")
    attachments = run.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")

    for child in (function, layer, role, *attachments):
        assert child.parent == component.urn, child.name
    inputs = function.inputs
    assert inputs["runtime"] == "python3.11" and inputs["handler"] == HANDLER == "dbclient.lambda_handler.handler"
    assert inputs["reservedConcurrentExecutions"] == 50
    assert inputs["memorySize"] == 256 and inputs["timeout"] == 10
    assert inputs["vpcConfig"]["subnetIds"] == ["subnet-a", "subnet-b"]
    assert inputs["vpcConfig"]["securityGroupIds"] == ["sg-app"]
    assert inputs["role"] == role.outputs["arn"]
    assert inputs["layers"] == [layer.outputs["arn"]]
    env = inputs["environment"]["variables"]
    assert env["DB_PROXY_ENDPOINT"] == "orders-dev.proxy-abc.us-east-1.rds.amazonaws.com"
    assert env["DB_READER_ENDPOINT"] == "orders-dev-ro.proxy-abc.us-east-1.rds.amazonaws.com"
    assert env["DB_READER_USER"] == "orders_reader"  # the rds_iam user; the proxy keeps DB_USER
    assert (env["DB_USER"], env["DB_NAME"], env["DB_AUTH"], env["DB_SSLMODE"]) == ("orders_app", "orders", "iam", "require")
    assert "AWS_REGION" not in env  # reserved by Lambda: setting it fails the deployment
    assert not any("PASSWORD" in key for key in env)
    # the function waits for its role's policies (ENI creation needs the VPC access policy)
    assert {a.urn for a in attachments} <= set(function.dependencies)

    trust = json.loads(role.inputs["assumeRolePolicy"])
    lambda_trust = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    assert trust["Statement"] == [lambda_trust]
    assert sorted(a.inputs["policyArn"] for a in attachments) == sorted([VPC_ACCESS_POLICY_ARN, CONNECT_POLICY])
    assert layer.inputs["compatibleRuntimes"] == ["python3.11"]
    assert layer.inputs["compatibleArchitectures"] == ["x86_64"]


def test_without_reader_endpoint_the_variable_is_absent() -> None:
    run = _run(_args())
    (function,) = run.by_type("aws:lambda/function:Function")
    assert "DB_READER_ENDPOINT" not in function.inputs["environment"]["variables"]


def test_reader_user_is_set_only_with_a_reader_endpoint() -> None:
    # No reader: a reader user would be read by nothing, so it is not set.
    (function,) = _run(_args(db_reader_user="orders_reader")).by_type("aws:lambda/function:Function")
    assert "DB_READER_USER" not in function.inputs["environment"]["variables"]
    # A reader without a reader user: the handler falls back to DB_USER.
    (function,) = _run(_args(reader_endpoint="orders-dev-ro.example")).by_type("aws:lambda/function:Function")
    variables = function.inputs["environment"]["variables"]
    assert variables["DB_READER_ENDPOINT"] == "orders-dev-ro.example" and "DB_READER_USER" not in variables


def test_code_archive_is_the_dbclient_package() -> None:
    archive = code_archive()
    names = set(archive.assets)
    assert "dbclient/lambda_handler.py" in names and "dbclient/__init__.py" in names
    assert "dbclient/schema.sql" in names and "dbclient/connect.py" in names and "dbclient/retry.py" in names
    assert "dbclient/layer.py" not in names and "dbclient/pool.py" not in names
    assert "dbclient/reader_role.sql" not in names  # run once by a DBA, never by the function
    assert all(name.startswith("dbclient/") and "__pycache__" not in name for name in names)


@pytest.mark.parametrize("changes", [{"reserved_concurrency": 0}, {"memory_mb": 64}, {"timeout_s": 0}])
def test_args_are_validated(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        _args(**changes)


def test_layer_builds_and_psycopg_imports_from_it() -> None:
    """Builds the real layer (pip from PyPI, cached under build/): a failed download fails the test."""
    started = time.monotonic()
    zip_path = build_layer()
    again = build_layer()  # cached: no second pip run
    assert again == zip_path and time.monotonic() - started < 120
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
    assert any(n.startswith("python/psycopg/") for n in names)
    assert any(n.startswith("python/psycopg_binary/") for n in names)
    assert any(n.startswith("python/psycopg_pool/") for n in names)
    layer_python = zip_path.parent / "layer" / "python"
    probe = (
        "import psycopg, psycopg_pool, psycopg_binary, json;"
        "print(json.dumps({'psycopg': psycopg.__file__, 'pool': psycopg_pool.__file__,"
        " 'binary': psycopg_binary.__file__, 'impl': psycopg.pq.__impl__, 'libpq': psycopg.pq.version()}))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PYTHONPATH=str(layer_python), PSYCOPG_IMPL="binary")
    # -S: no site-packages, so nothing can come from this virtualenv
    result = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    for key in ("psycopg", "pool", "binary"):
        assert Path(found[key]).resolve().is_relative_to(layer_python.resolve()), found
    assert found["impl"] == "binary" and found["libpq"] >= 150000


def test_shipped_code_runs_on_the_layer_alone(tmp_path: Path) -> None:
    """The function's code archive plus the layer, and nothing else, import and answer a bad request."""
    layer_python = build_layer().parent / "layer" / "python"
    task = tmp_path / "task"  # stands in for /var/task
    for name, asset in code_archive().assets.items():
        assert isinstance(asset, pulumi.FileAsset)
        target = task / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(Path(asset.path).read_bytes())
    probe = (
        "import json, sys; import dbclient.lambda_handler as h;"
        "assert not any(m.startswith('components') for m in sys.modules), 'imports project code not shipped';"
        "print(json.dumps(h.handler({'order_id': 'x'}, None)))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "DB_", "AWS_LAMBDA"))}
    env.update(PYTHONPATH=f"{task}:{layer_python}", PSYCOPG_IMPL="binary")
    result = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True, env=env, timeout=60,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert response["statusCode"] == 400 and "order_id" in json.loads(response["body"])["message"]
