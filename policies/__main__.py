"""resilient-rds policy pack: judges any pulumi-aws program that uses RDS for PostgreSQL and RDS Proxy.

Run by the Pulumi CLI (``pulumi preview --policy-pack policies``) or by the offline
gate (``python -m gate check``); both start this file, read the port it prints and
talk to it over the analyzer gRPC protocol.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

# The pack shares its memory and connection arithmetic with the program (components/sizing.py,
# a pure-Python module with no dependencies) instead of keeping a copy that could drift.  The CLI
# starts the pack from its own directory with its own virtualenv, where the repository root is not
# importable, so put it on sys.path before importing the rules.
_REPO_ROOT = Path(__file__).resolve().parent.parent
if str(_REPO_ROOT) not in sys.path:
    sys.path.insert(1, str(_REPO_ROOT))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402
from rules.registry import all_policies  # noqa: E402

PACK_NAME = "resilient-rds"

if __name__ == "__main__":
    # A stack analysis builds one object graph of every resource per stack policy; with the default
    # collector thresholds the full collections over that growing heap make AnalyzeStack quadratic
    # (6.8 s instead of 1.9 s for 1,600 resources).  The pack is a short-lived process: collect rarely.
    gc.set_threshold(100_000, 50, 100)
    PolicyPack(
        name=PACK_NAME,
        description="RDS for PostgreSQL + RDS Proxy: connection exhaustion, slow failover, deploy-time failures, exposed data.",
        enforcement_level=EnforcementLevel.MANDATORY,
        policies=all_policies(),
    )
