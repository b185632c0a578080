"""The order lookup Lambda wired into the stack behind lambdaFunction.enabled."""

from __future__ import annotations

from pathlib import Path

import pytest
from stack_helpers import NS, named, run_changed

from components.config import ConfigError
from gate.program import ProgramRun

APP = "resilient-rds:app:OrderLookupFunction"


def _layer(tmp_path: Path) -> dict[str, str]:
    """A stand-in for `make layer`'s zip: the program only checks that it exists (mocks never read it)."""
    archive = tmp_path / "lambda-layer.zip"
    archive.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip
    return {f"{NS}:lambdaFunction.layerArchive": str(archive)}


def test_disabled_by_default(run: ProgramRun) -> None:
    assert run.by_type(APP) == []
    assert run.by_type("aws:lambda/function:Function") == []
    assert "orderLookupFunctionArn" not in run.outputs


def test_enabled_function_uses_the_stack(tmp_path: Path) -> None:
    # The real layer build (pip, manylinux wheels) is tested in test_app_lambda.py; mocks never read the zip.
    run = run_changed("prod", {**_layer(tmp_path), f"{NS}:lambdaFunction.enabled": True, f"{NS}:lambdaFunction.memoryMb": 1024})
    (component,) = run.by_type(APP)
    (top,) = run.by_type("resilient-rds:index:ResilientPostgres")
    assert component.parent == top.urn
    function = named(run, "order-lookup-function")
    assert function.parent == component.urn
    i = function.inputs
    assert i["reservedConcurrentExecutions"] == 50  # workload.lambdaConcurrency: what the budget counted
    assert i["memorySize"] == 1024 and i["timeout"] == 10
    assert i["vpcConfig"]["securityGroupIds"] == ["sg-0a1b2c3d4e5f6a001"]
    assert i["vpcConfig"]["subnetIds"][0] == "subnet-0a1b2c3d4e5f60001"
    variables = i["environment"]["variables"]
    assert variables["DB_USER"] == "orders_admin" and variables["DB_NAME"] == "orders"
    # Reads go to the replica as the rds_iam reader user, never as the master user the proxy uses.
    assert variables["DB_READER_USER"] == "orders_reader"
    deps = function.property_dependencies["environment"]
    assert named(run, "proxy-proxy").urn in deps and named(run, "replica-1").urn in deps
    attachment = named(run, "order-lookup-rds-connect")
    assert attachment.property_dependencies["policyArn"] == [named(run, "access-connect-policy").urn]
    assert "orderLookupFunctionArn" in run.outputs


def test_enabled_function_reader_user_follows_the_config(tmp_path: Path) -> None:
    run = run_changed(
        "prod",
        {**_layer(tmp_path), f"{NS}:lambdaFunction.enabled": True, f"{NS}:database.readerUsername": "lookup_ro"},
        unknown_computed=False,
    )
    variables = named(run, "order-lookup-function").inputs["environment"]["variables"]
    assert variables["DB_READER_ENDPOINT"] == named(run, "replica-1").outputs["address"]
    assert variables["DB_READER_USER"] == "lookup_ro" == run.outputs["dbReaderUser"]
    assert variables["DB_USER"] == "orders_admin" == run.outputs["dbUser"]


def test_enabled_function_without_replicas_has_no_reader(tmp_path: Path) -> None:
    run = run_changed("dev", {**_layer(tmp_path), f"{NS}:lambdaFunction.enabled": True})
    variables = named(run, "order-lookup-function").inputs["environment"]["variables"]
    assert "DB_READER_ENDPOINT" not in variables and "DB_READER_USER" not in variables


def test_enabled_function_needs_lambda_concurrency(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        run_changed("dev", {**_layer(tmp_path), f"{NS}:lambdaFunction.enabled": True, f"{NS}:workload.lambdaConcurrency": 0})
    (problem,) = caught.value.problems
    assert problem.startswith(f"{NS}:lambdaFunction.enabled = true is not accepted")


def test_a_missing_layer_archive_names_the_key_and_the_make_target(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "lambda-layer.zip"
    with pytest.raises(ConfigError) as caught:
        run_changed("prod", {f"{NS}:lambdaFunction.enabled": True, f"{NS}:lambdaFunction.layerArchive": str(missing)})
    (problem,) = caught.value.problems
    assert problem.startswith(f"{NS}:lambdaFunction.layerArchive = ") and "`make layer`" in problem


def test_the_program_never_imports_dbclient() -> None:
    """The layer is built by `make layer` before `pulumi up`; no component imports the client library."""
    import ast

    root = Path(__file__).resolve().parents[2]
    for path in [root / "__main__.py", *sorted((root / "components").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not [n for n in names if n.split(".")[0] == "dbclient"], path.name
