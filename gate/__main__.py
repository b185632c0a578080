"""The offline policy gate: ``pulumi preview --policy-pack policies`` without the CLI or a cloud account.

    python -m gate preview --stack dev [--json] [--policy-config PATH] [--project-dir DIR]
    python -m gate check   --stack prod [--json] [--policy-config PATH] [--project-dir DIR]

``preview`` runs the program under mocks, prints the plan (``gate.plan.render_plan``)
and then the policy verdict; ``check`` prints only the verdict.  The policy config
defaults to ``policies/config/<stack>.json``.

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

from gate.analyzer import (
    DEFAULT_PACK_DIR,
    REPO_ROOT,
    PolicyConfigInvalid,
    PolicyGate,
    PolicyPackStartFailure,
    load_config_file,
)

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
        p.add_argument("--policy-config", type=Path, help="policy pack config (default policies/config/<stack>.json)")
        p.add_argument("--project-dir", type=Path, default=REPO_ROOT, help="Pulumi project to gate (default: this repo)")
        p.add_argument("--policy-pack", type=Path, default=DEFAULT_PACK_DIR, help="policy pack directory")
        p.add_argument("--known-outputs", action="store_true", help="give computed values fake known outputs")
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
    config_path: Path = args.policy_config or (args.policy_pack / "config" / f"{args.stack}.json")
    if args.policy_config is None and not config_path.exists():
        return _fail(
            f"no policy config for stack {args.stack!r} ({config_path} does not exist); pass --policy-config",
            as_json,
        )
    try:
        raw_config = load_config_file(config_path)
    except PolicyConfigInvalid as exc:
        return _fail(str(exc), as_json)

    from gate.program import run_program  # imports pulumi_aws lazily: usage errors stay fast

    t0 = time.perf_counter()
    try:
        run = run_program(args.project_dir, args.stack, unknown_computed=not args.known_outputs)
    except FileNotFoundError as exc:
        return _fail(str(exc), as_json)
    except Exception as exc:  # noqa: BLE001 - a program or stack-config error is the user's to fix
        return _fail(f"the program failed for stack {args.stack!r}:\n{exc}", as_json)
    t_program = time.perf_counter() - t0

    plan = _render_plan(run) if args.command == "preview" else None
    if plan and not as_json:
        print(plan)
        print()

    gate = PolicyGate(pack_dir=args.policy_pack)
    try:
        gate.start()
        result = gate.check(run, raw_config)
    except PolicyConfigInvalid as exc:
        return _fail(str(exc).replace("policy config", str(config_path), 1), as_json)
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
        doc["policyConfig"] = str(config_path)
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
