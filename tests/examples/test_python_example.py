"""examples/python: a consumer project with its own VPC and app group, using ResilientPostgres, under mocks."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest

from components.args import DatabaseArgs, NetworkArgs, ProxyArgs, ReplicasArgs, ResilientPostgresArgs
from components.config import ConfigError
from components.resilient_postgres import TYPE_TOKEN, ResilientPostgres
from gate.program import STACK_TYPE, run_program

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "python"


def test_the_example_declares_the_component_on_its_own_network() -> None:
    run = run_program(EXAMPLE, "dev")
    (component,) = run.by_type(TYPE_TOKEN)
    assert component.parent == run.stack_urn()
    by_name = {r.name: r for r in run.resources}
    vpc, app = by_name["app-vpc"], by_name["app"]
    # No VPC of its own: the component's groups live in the consumer's VPC, and the app group it was given
    # (not a created one) is what the proxy admits.
    assert run.by_type("aws:ec2/vpc:Vpc") == [vpc]
    proxy_group = by_name["network-proxy-security-group"]
    assert vpc.urn in proxy_group.property_dependencies["vpcId"]
    ingress = by_name["network-proxy-ingress-from-app-1"]
    assert app.urn in ingress.property_dependencies["referencedSecurityGroupId"]
    subnet_group = by_name["database-subnet-group"]
    assert {by_name["app-private-a"].urn, by_name["app-private-b"].urn} <= set(subnet_group.property_dependencies["subnetIds"])
    instance = by_name["database-primary"]
    assert instance.inputs["instanceClass"] == "db.t4g.medium" and instance.inputs["multiAz"] is False
    assert set(run.outputs) == {"proxyEndpoint", "secretArn", "connectPolicyArn", "connectionBudget"}
    assert run.outputs["connectionBudget"]["clientConnections"] == 10 + 2 * 5


def test_bad_args_raise_one_error_listing_every_problem_before_anything_is_registered() -> None:
    registered: list[str] = []

    def program() -> None:
        ResilientPostgres(
            "orders",
            ResilientPostgresArgs(
                environment="prod",
                network=NetworkArgs(create_vpc=True, app_security_group_ids=["sg-0a1b2c3d4e5f6a001"]),
                database=DatabaseArgs(instance_class="db.x9.huge", engine_version=15.1, skip_final_snapshot=True),  # type: ignore[arg-type]
                replicas=ReplicasArgs(count=9),
                proxy=ProxyArgs(connection_borrow_timeout_s=900),
            ),
        )

    with pytest.raises(ConfigError) as caught:
        run = run_program(EXAMPLE, "dev", program=program)
        registered = [r.type for r in run.resources]
    error = caught.value
    assert str(error).startswith(f"{len(error.problems)} problems in ResilientPostgresArgs:")
    for key in ("network.appSecurityGroupIds", "database.instanceClass", "database.engineVersion", "replicas.count",
                "proxy.connectionBorrowTimeoutS", "database.skipFinalSnapshot"):
        assert any(f"resilient-rds:{key}" in p for p in error.problems), key
    assert [t for t in registered if t != STACK_TYPE] == []


def test_a_computed_vpc_id_is_accepted_and_a_plain_bad_one_is_not() -> None:
    def program() -> None:
        ResilientPostgres(
            "orders",
            ResilientPostgresArgs(
                network=NetworkArgs(vpc_id="vpc-nope", subnet_ids=[pulumi.Output.from_input("subnet-0a1b2c3d4e5f60001")]),
                database=DatabaseArgs(instance_class="db.t4g.medium", multi_az=False),
            ),
        )

    with pytest.raises(ConfigError) as caught:
        run_program(EXAMPLE, "dev", program=program)
    problems = caught.value.problems
    assert any(p.startswith("resilient-rds:network.vpcId = 'vpc-nope'") for p in problems)
    assert any(p.startswith("resilient-rds:network.subnetIds") and "at least 2" in p for p in problems)
