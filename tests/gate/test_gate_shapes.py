"""gate/shapes.py and gate/provider_check.py: the three shapes the CLI sends a stack in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi_aws as aws
import pytest
from google.protobuf import json_format
from pulumi.runtime import rpc

from gate.program import ProgramRun, run_program
from gate.provider_check import auto_name, checked_inputs
from gate.shapes import SHAPES, analyze_requests, analyze_stack_request, shape_needs_unknown_values

PROJECT = Path(__file__).resolve().parents[1] / "policies" / "project"


def _program() -> None:
    sg = aws.ec2.SecurityGroup("db", vpc_id="vpc-0a1b2c3d4e5f67890",
                               ingress=[{"protocol": "tcp", "from_port": 5432, "to_port": 5432, "cidr_blocks": ["10.0.0.0/8"]}])
    app = aws.ec2.SecurityGroup("app", vpc_id="vpc-0a1b2c3d4e5f67890", description="application tier")
    aws.vpc.SecurityGroupIngressRule("db-from-app", security_group_id=sg.id, referenced_security_group_id=app.id,
                                     ip_protocol="tcp", from_port=5432, to_port=5432)
    aws.ec2.SecurityGroupRule("db-all-v6", type="ingress", security_group_id=sg.id, protocol="-1", from_port=0, to_port=0,
                              ipv6_cidr_blocks=["::/0"])
    params = aws.rds.ParameterGroup("params", family="postgres16", parameters=[{"name": "work_mem", "value": "4096"}])
    aws.rds.Instance("db", engine="postgres", instance_class="db.t4g.medium", allocated_storage=20,
                     parameter_group_name=params.name, vpc_security_group_ids=[sg.id], publicly_accessible=True)


_runs: dict[bool, ProgramRun] = {}


def _run(known: bool) -> ProgramRun:
    if known not in _runs:
        _runs[known] = run_program(PROJECT, "test", config={"aws:region": "us-east-1"}, unknown_computed=not known,
                                   program=_program, provider_check=True)
    return _runs[known]


def _props(requests: Any, type_suffix: str, name: str) -> dict[str, Any]:
    (resource,) = [r for r in requests if r.name == name and r.type.endswith(type_suffix)]
    return json_format.MessageToDict(resource.properties)


def _analyze(run: ProgramRun) -> list[Any]:
    return analyze_requests(run)


def _stack(run: ProgramRun, shape: str) -> list[Any]:
    return list(analyze_stack_request(run, shape).resources)


def test_check_fills_auto_names_and_schema_defaults_but_keeps_what_the_program_set():
    checked = checked_inputs("aws:rds/instance:Instance", "db", {"publiclyAccessible": True})
    assert checked["identifier"] == auto_name("db") and checked["publiclyAccessible"] is True
    assert checked["skipFinalSnapshot"] is False
    assert "identifier" not in checked_inputs("aws:rds/instance:Instance", "db", {"identifierPrefix": "orders-"})
    group = checked_inputs("aws:rds/parameterGroup:ParameterGroup", "pg", {"parameters": [
        {"name": "work_mem", "value": "4096"}, {"name": "max_connections", "value": "100", "applyMethod": "pending-reboot"}]})
    assert [p["applyMethod"] for p in group["parameters"]] == ["immediate", "pending-reboot"]


def test_inputs_shape_sends_checked_inputs_with_references_known_by_auto_name():
    run = _run(False)
    db = _props(_analyze(run), "Instance", "db")
    assert _props(_stack(run, "inputs"), "Instance", "db") == db
    # The auto-name of the group is planned before the instance is, so the reference is known in a preview ...
    assert db["parameterGroupName"] == auto_name("params") and db["identifier"] == auto_name("db")
    # ... while ids the provider computes are not.
    assert db["vpcSecurityGroupIds"] == [rpc.UNKNOWN]
    assert "arn" not in db and db["skipFinalSnapshot"] is False


def test_planned_shape_marks_every_computed_output_unknown():
    run = _run(False)
    db = _props(_stack(run, "planned"), "Instance", "db")
    assert db["arn"] == rpc.UNKNOWN and db["endpoint"] == rpc.UNKNOWN and db["resourceId"] == rpc.UNKNOWN
    assert db["identifier"] == auto_name("db")  # checked inputs are not computed
    assert "arn" not in _props(_analyze(run), "Instance", "db")


def test_deployed_shape_has_known_ids_and_refreshed_rule_lists():
    run = _run(True)
    sg = _props(_stack(run, "deployed"), "SecurityGroup", "db")
    app = _props(_stack(run, "deployed"), "SecurityGroup", "app")
    assert sg["id"].startswith("sg-") and app["id"].startswith("sg-")
    inline, *rules = sg["ingress"]
    assert inline["cidrBlocks"] == ["10.0.0.0/8"]  # the inline block stays first
    by_source = {b["securityGroups"][0] if b["securityGroups"] else b["ipv6CidrBlocks"][0]: b for b in rules}
    assert set(by_source) == {app["id"], "::/0"}
    assert by_source[app["id"]]["protocol"] == "tcp" and by_source[app["id"]]["fromPort"] == 5432
    assert by_source["::/0"]["protocol"] == "-1" and by_source["::/0"]["fromPort"] == 0 and not by_source["::/0"]["self"]
    # Analyze still gets the inputs, with the references to the deployed resources known
    assert _props(_analyze(run), "Instance", "db")["vpcSecurityGroupIds"] == [sg["id"]]
    assert "ingress" not in _props(_analyze(run), "SecurityGroup", "app")


def test_shape_names_are_checked():
    assert SHAPES == ("inputs", "planned", "deployed")
    assert [shape_needs_unknown_values(s) for s in SHAPES] == [True, True, False]
    with pytest.raises(ValueError, match="shape must be one of inputs, planned, deployed; got 'applied'"):
        analyze_stack_request(_run(False), "applied")
