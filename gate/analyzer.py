"""The client side of Pulumi's analyzer protocol, offline: the names tests, bench and tools import.

The gate is split by job; this module re-exports the public names so ``from gate.analyzer import ...``
keeps working:

=============================  ==========================================================================
``gate/pack_process.py``       start and stop the pack as the CLI does (its virtualenv, ``-m pulumi.policy``)
``gate/pack_info.py``          what the pack says about itself (policies, levels, schemas)
``gate/policy_config.py``      read and validate a ``--policy-pack-config`` file, resolve levels
``gate/analyzer_client.py``    the gRPC client: one method per analyzer call, with deadlines
``gate/shapes.py``             what the engine sends in each shape (inputs, planned, deployed)
``gate/provider_check.py``     what the provider's Check adds to inputs (auto-names, schema defaults)
``gate/policy_gate.py``        one gate run in the CLI's call order; ``PolicyGate``
``gate/results.py``            violations, remediations, the verdict and its text / JSON
``gate/stack_policy.py``       which policy config a stack gets (file, ``environment``, override)
=============================  ==========================================================================
"""

from __future__ import annotations

from gate.analyzer_client import MAX_MESSAGE, AnalyzerClient
from gate.pack_info import LEVELS, SEVERITIES, PackInfo, PolicyMeta, pack_info
from gate.pack_process import DEFAULT_PACK_DIR, REPO_ROOT, PackProject, PolicyPackProcess, PolicyPackStartFailure
from gate.policy_config import PolicyConfigInvalid, load_config_file, resolve_config
from gate.policy_gate import PolicyGate, StackContext, run_gate
from gate.results import GateResult, Remediation, Violation
from gate.shapes import DEFAULT_SHAPE, SHAPES, analyze_requests, analyze_stack_request, shape_needs_unknown_values

__all__ = [
    "DEFAULT_PACK_DIR",
    "DEFAULT_SHAPE",
    "LEVELS",
    "MAX_MESSAGE",
    "REPO_ROOT",
    "SEVERITIES",
    "SHAPES",
    "AnalyzerClient",
    "GateResult",
    "PackInfo",
    "PackProject",
    "PolicyConfigInvalid",
    "PolicyGate",
    "PolicyMeta",
    "PolicyPackProcess",
    "PolicyPackStartFailure",
    "Remediation",
    "StackContext",
    "Violation",
    "analyze_requests",
    "analyze_stack_request",
    "load_config_file",
    "pack_info",
    "resolve_config",
    "run_gate",
    "shape_needs_unknown_values",
]
