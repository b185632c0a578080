"""The offline policy gate: ``pulumi preview --policy-pack policies`` without the CLI or a cloud account.

    python -m gate preview --stack dev [--json] [--policy-config PATH] [--project-dir DIR]
                           [--shape inputs|planned|deployed] [--operation preview|up]
    python -m gate check   --stack prod [...the same options]

``preview`` runs the program under mocks, prints the plan (``gate.plan.render_plan``)
and then the policy verdict; ``check`` prints only the verdict.  The policy config is
``--policy-config``, else ``$POLICY_CONFIG``, else ``policies/config/<stack>.json``, else the
levels of the stack's ``environment`` (:mod:`gate.stack_policy`).  ``--shape`` is what the
engine sends the pack (:mod:`gate.shapes`; default ``planned``, what ``pulumi preview`` of a new
stack sends); ``--operation up`` models ``pulumi up``, which skips the stack policies after a
mandatory per-resource violation.

Exit codes: 0 no mandatory violation, 1 at least one mandatory violation, 2 bad
usage, bad stack or policy configuration, or a pack that does not start; 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gate.pack_process import DEFAULT_PACK_DIR, REPO_ROOT, PolicyPackStartFailure
from gate.policy_config import PolicyConfigInvalid, load_config_file
from gate.policy_gate import PolicyGate, StackContext
from gate.shapes import DEFAULT_SHAPE, OPERATIONS, SHAPES, shape_needs_unknown_values
from gate.stack_policy import POLICY_CONFIG_ENV, NoPolicyConfig, PolicyConfigChoice, choose_policy_config

EXIT_OK, EXIT_VIOLATIONS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m gate", description="Offline Pulumi preview with the CrossGuard policy pack.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, help_ in (
        ("preview", "run the program under mocks, print the plan, then gate it"),
        ("check", "run the program under mocks and gate it (no plan)"),
    ):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--stack", required=True, help="stack name: Pulumi.<stack>.yaml in the project directory")
        p.add_argument("--json", action="store_true", help="print one machine-readable JSON document")
        p.add_argument(
            "--policy-config",
            type=Path,
            help=f"policy pack config (default ${POLICY_CONFIG_ENV}, else policies/config/<stack>.json, "
            "else the levels of the stack's environment)",
        )
        p.add_argument("--project-dir", type=Path, default=REPO_ROOT, help="Pulumi project to gate (default: this repo)")
        p.add_argument("--policy-pack", type=Path, default=DEFAULT_PACK_DIR, help="policy pack directory")
        p.add_argument("--known-outputs", action="store_true", help="give computed values fake known outputs")
        p.add_argument(
            "--shape", choices=SHAPES, default=DEFAULT_SHAPE,
            help="what the engine sends the pack: program inputs, planned outputs with unknowns (pulumi preview "
            "of a new stack, the default) or deployed state",
        )
        p.add_argument(
            "--operation", choices=OPERATIONS, default="preview",
            help="preview, or up (stack policies are skipped after a mandatory per-resource violation)",
        )
    return parser


def _render_plan(run: Any) -> str | None:
    try:
        plan = importlib.import_module("gate.plan")
    except ModuleNotFoundError as exc:
        if exc.name == "gate.plan":
            return None
        raise
    render = getattr(plan, "render_plan", None)
    return str(render(run)) if callable(render) else None


def _fail(message: str, as_json: bool, code: int = EXIT_USAGE) -> int:
    if as_json:
        print(json.dumps({"passed": False, "error": message}, indent=2))
    else:
        print(f"error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    as_json: bool = args.json
    project_dir: Path = args.project_dir
    from components.config import ConfigError  # the program's own stack-config error

    choice: PolicyConfigChoice | None = None
    config_error: ConfigError | None = None
    try:
        choice = choose_policy_config(project_dir, args.stack, args.policy_pack, args.policy_config)
    except NoPolicyConfig as exc:
        return _fail(str(exc), as_json)
    except FileNotFoundError as exc:
        return _fail(str(exc), as_json)
    except ConfigError as exc:
        config_error = exc  # the program reports it below, in its own words
    raw_config: dict[str, Any] = {}
    if choice is not None:
        try:
            raw_config = load_config_file(choice.path)
        except PolicyConfigInvalid as exc:
            return _fail(str(exc), as_json)

    from gate.program import run_program  # imports pulumi_aws lazily: usage errors stay fast

    t0 = time.perf_counter()
    unknown = shape_needs_unknown_values(args.shape) and not args.known_outputs
    try:
        # The CLI plans every resource through its provider's Check (auto-names, schema defaults).
        run = run_program(project_dir, args.stack, unknown_computed=unknown, provider_check=True)
    except FileNotFoundError as exc:
        return _fail(str(exc), as_json)
    except Exception as exc:  # noqa: BLE001 - a program or stack-config error is the user's to fix
        return _fail(f"the program failed for stack {args.stack!r}:\n{exc}", as_json)
    t_program = time.perf_counter() - t0
    if choice is None:
        return _fail(f"the program failed for stack {args.stack!r}:\n{config_error}", as_json)

    plan = _render_plan(run) if args.command == "preview" else None
    if plan and not as_json:
        print(plan)
        print()
    if not as_json:
        print(f"Policy config: {choice.path} ({choice.reason})")

    context = StackContext.of(run, dry_run=args.operation == "preview", project_dir=project_dir)
    gate = PolicyGate(pack_dir=args.policy_pack, context=context)
    try:
        gate.start()
        result = gate.check(run, raw_config, shape=args.shape, operation=args.operation)
    except PolicyConfigInvalid as exc:
        return _fail(str(exc).replace("policy config", str(choice.path), 1), as_json)
    except PolicyPackStartFailure as exc:
        return _fail(str(exc), as_json)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        gate.stop()

    result.timings = {"program": t_program, "packStart": gate.startup_seconds, **result.timings}
    result.timings["total"] = time.perf_counter() - t0
    if as_json:
        doc = result.as_dict()
        doc["policyConfig"] = str(choice.path)
        doc["policyConfigSource"] = choice.source
        doc["policyLevels"] = {name: entry["enforcementLevel"] for name, entry in sorted(result.config.items())}
        if plan is not None:
            doc["plan"] = plan
        print(json.dumps(doc, indent=2))
    else:
        print(result.render())
    return EXIT_VIOLATIONS if result.mandatory else EXIT_OK


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
