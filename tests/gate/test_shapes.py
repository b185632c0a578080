"""The shapes the engine sends (inputs, planned outputs with unknowns, deployed state) and the CLI's call order.

A small recording pack (written below, run from the real pack's virtualenv) shows what reaches a pack:
ConfigureStack's tags, remediated inputs in Analyze, unknown or known outputs in AnalyzeStack, and the
``up`` skip.  The real pack must give the same verdict in every shape.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import pulumi
import pulumi_aws as aws
import pytest
from policy_harness import ROOT, SEED, env_config

from gate.analyzer import PolicyGate, analyze_stack_request
from gate.program import ProgramRun, run_program
from gate.shapes import DEFAULT_VPC_SECURITY_GROUP_ID, SHAPES, computed_outputs, shape_needs_unknown_values
from gate.synthetic import synthetic_program

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
RECORDING_PACK = '''
from pulumi_policy import (EnforcementLevel, PolicyPack, ResourceValidationPolicy, StackValidationPolicy)
from pulumi_policy.proxy import UnknownValueError

def add_owner(args):
    if args.resource_type == "aws:sns/topic:Topic":
        return {**args.props, "tags": {"owner": "gate"}}

def sees_stack(args, report):
    if args.resource_type == "aws:sns/topic:Topic":
        report(f"project={args.stack_tags.get('pulumi:project')} tags={dict(args.props.get('tags') or {})}")

def forbidden(args, report):
    if args.name == "forbidden":
        report("this topic is forbidden")

def sees_outputs(args, report):
    for r in args.resources:
        if r.resource_type == "aws:sns/topic:Topic":
            try:
                report(f"{r.name} arn={r.props.get('arn')}")
            except UnknownValueError:
                report(f"{r.name} arn=<unknown>")

PolicyPack(name="recording", enforcement_level=EnforcementLevel.ADVISORY, policies=[
    ResourceValidationPolicy(name="add-owner", description="Tags topics.", remediate=add_owner,
                             enforcement_level=EnforcementLevel.REMEDIATE),
    ResourceValidationPolicy(name="sees-stack", description="Reports tags.", validate=sees_stack),
    ResourceValidationPolicy(name="forbidden", description="Forbids a name.", validate=forbidden,
                             enforcement_level=EnforcementLevel.MANDATORY),
    StackValidationPolicy(name="sees-outputs", description="Reports outputs.", validate=sees_outputs),
])
'''


@pytest.fixture(scope="module")
def recording_gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PolicyGate]:
    pack = tmp_path_factory.mktemp("recording-pack")
    (pack / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (pack / "__main__.py").write_text(textwrap.dedent(RECORDING_PACK))
    gate = PolicyGate(pack_dir=pack, python=str(ROOT / "policies" / "venv" / "bin" / "python")).start()
    yield gate
    gate.stop()


def _topics(*names: str) -> ProgramRun:
    def program() -> None:
        for name in names:
            aws.sns.Topic(name)

    return program  # type: ignore[return-value]


def _run(program, shape: str) -> ProgramRun:
    return run_program(SEED, "seed", program=program, unknown_computed=shape_needs_unknown_values(shape))


@pytest.mark.parametrize("shape", SHAPES)
def test_calls_in_the_cli_order_carry_each_shape(recording_gate: PolicyGate, shape: str):
    result = recording_gate.check(_run(_topics("alerts"), shape), {}, shape=shape)
    messages = {v.policy: v.message for v in result.violations}
    # ConfigureStack reached the pack; Remediate ran first and Analyze saw the remediated inputs
    assert messages["sees-stack"] == "project=seed-orders-db tags={'owner': 'gate'}"
    assert [(r.policy, r.properties.get("tags")) for r in result.remediations] == [("add-owner", {"owner": "gate"})]
    # AnalyzeStack: outputs unknown in a preview of a new stack, known in deployed state, absent as inputs
    expected_arn = {"inputs": "None", "planned": "<unknown>"}.get(shape, "arn:aws:sns:us-east-1:123456789012:alerts-")
    assert messages["sees-outputs"].startswith(f"alerts arn={expected_arn}")
    assert result.stack_analyzed and result.passed


def test_up_skips_the_stack_policies_after_a_mandatory_violation(recording_gate: PolicyGate):
    run = _run(_topics("alerts", "forbidden"), "deployed")
    preview = recording_gate.check(run, {}, shape="deployed")
    assert preview.stack_analyzed and "sees-outputs" in preview.fired()
    up = recording_gate.check(run, {}, shape="deployed", operation="up")
    assert not up.stack_analyzed and not up.passed
    assert up.fired() == {"sees-stack", "forbidden"}
    clean_up = recording_gate.check(_run(_topics("alerts"), "deployed"), {}, shape="deployed", operation="up")
    assert clean_up.stack_analyzed and "sees-outputs" in clean_up.fired()


def test_planned_outputs_mark_what_the_provider_computes_unknown():
    run = run_program(ROOT, "prod")
    stack = {r.name: r for r in analyze_stack_request(run, "planned").resources}
    db = stack["database-primary"].properties
    assert db["arn"] == db["endpoint"] == db["resourceId"] == db["caCertIdentifier"] == UNKNOWN
    assert db["instanceClass"] == "db.r6g.large" and db["multiAz"] is True  # set by the program: as set
    assert {"arn", "endpoint", "storageType", "caCertIdentifier"} <= computed_outputs("aws:rds/instance:Instance")
    assert "storageEncrypted" not in computed_outputs("aws:rds/instance:Instance")  # optional, not computed
    assert computed_outputs("resilient-rds:index:Database") == frozenset()


def test_deployed_state_has_known_ids_and_refreshed_rule_lists():
    run = run_program(ROOT, "prod", unknown_computed=False)
    stack = {r.name: r for r in analyze_stack_request(run, "deployed").resources}
    by_name = run.by_urn()
    proxy_group = next(r for r in by_name.values() if r.name == "network-proxy-security-group")
    db_group = stack["network-database-security-group"].properties
    assert db_group["id"].startswith("sg-") and db_group["arn"].startswith("arn:aws:ec2:")
    ingress = [dict(rule) for rule in db_group["ingress"]]
    assert {"protocol": "tcp", "fromPort": 5432.0, "toPort": 5432.0, "securityGroups": [proxy_group.id]}.items() <= {
        k: (list(v) if k == "securityGroups" else v) for k, v in ingress[0].items()
    }.items()
    with pytest.raises(ValueError, match="deployed shape needs known values"):
        analyze_stack_request(run_program(ROOT, "prod"), "deployed")


def test_an_instance_without_groups_lands_in_the_default_group_once_deployed():
    def program() -> None:
        aws.rds.Instance("bare", engine="postgres", instance_class="db.t4g.medium", allocated_storage=20,
                         username="postgres", password=pulumi.Output.secret("x" * 16))

    run = run_program(SEED, "seed", program=program, unknown_computed=False)
    (item,) = analyze_stack_request(run, "deployed").resources
    assert list(item.properties["vpcSecurityGroupIds"]) == [DEFAULT_VPC_SECURITY_GROUP_ID]
    (planned,) = analyze_stack_request(run_program(SEED, "seed", program=program), "planned").resources
    assert planned.properties["vpcSecurityGroupIds"] == UNKNOWN


def _verdict(result) -> set[tuple[str, str, str]]:
    return {(v.policy, v.level, v.resource_name) for v in result.violations}


@pytest.mark.parametrize(
    ("name", "project", "stack", "config", "program"),
    [
        ("seed", SEED, "seed", "prod", None),
        ("dev", ROOT, "dev", "dev", None),
        ("prod", ROOT, "prod", "prod", None),
        ("synthetic", SEED, "seed", "prod", synthetic_program(2)),
    ],
)
def test_the_real_pack_gives_the_same_verdict_in_every_shape(policy_gate: PolicyGate, name, project, stack, config,
                                                            program):
    verdicts = {}
    for shape in SHAPES:
        run = run_program(project, stack, program=program, unknown_computed=shape_needs_unknown_values(shape))
        verdicts[shape] = _verdict(policy_gate.check(run, env_config(config), shape=shape))
    assert verdicts["planned"] == verdicts["inputs"] == verdicts["deployed"], name
