"""resilient-rds policy pack: judges any pulumi-aws program that uses RDS for PostgreSQL and RDS Proxy.

Run by the Pulumi CLI (``pulumi preview --policy-pack policies``) or by the offline
gate (``python -m gate check``); both start it with the pack's own virtualenv
(``python -m pulumi.policy``), read the port it prints and talk to it over the analyzer
gRPC protocol.  The pack needs nothing outside this directory (``pulumi policy publish``
uploads it alone): the AWS facts it judges with are ``rules/rds_facts.py``, which the
program imports from here.
"""

from __future__ import annotations

import gc

from analyzer_speed import share_stack_deserialization
from pulumi_policy import EnforcementLevel, PolicyPack
from rules.registry import all_policies

PACK_NAME = "resilient-rds"

if __name__ == "__main__":
    # A stack analysis builds one object graph of every resource per stack policy; with the default
    # collector thresholds the full collections over that growing heap make AnalyzeStack quadratic
    # (6.8 s instead of 1.9 s for 1,600 resources).  The pack is a short-lived process: collect rarely.
    gc.set_threshold(100_000, 50, 100)
    share_stack_deserialization()  # each resource deserialized once per AnalyzeStack, not once per policy
    PolicyPack(
        name=PACK_NAME,
        description="RDS for PostgreSQL + RDS Proxy: connection exhaustion, slow failover, deploy-time failures, exposed data.",
        enforcement_level=EnforcementLevel.MANDATORY,
        policies=all_policies(),
    )
