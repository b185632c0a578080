"""Policy gate wall time: dev, prod and a synthetic stack of 1,600 resources; medians of several runs.

    python -m bench.gate [--runs 5] [--setups 50] [--shape planned] [--out bench/results/gate.json]

Three figures per target, each the median of ``--runs`` runs, in the shape ``pulumi preview`` of a new
stack sends (``--shape``; see gate/shapes.py):

* ``gate_s``: what the gate adds to a preview, cold, from pack start to verdict: start the pack as the
  CLI does (its own virtualenv, ``python -m pulumi.policy``), Handshake, ConfigureStack, GetAnalyzerInfo,
  validate the config, Configure, Remediate and Analyze every resource, AnalyzeStack, stop the pack.
  Targets: prod < 1 s, 1,600 resources < 5 s.
* ``analysis_s``: the same on a pack that is already running (Configure + Analyze + AnalyzeStack).
* ``program_s``: running the Pulumi program under mocks (the offline engine, not the gate), for context.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "gate.json"
TARGETS_S = {"prod": 1.0, "synthetic": 5.0}


def _median(samples: list[float]) -> float:
    return round(statistics.median(samples), 3)


def _time(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def measure(
    name: str, program_run: Callable[[], Any], config: dict[str, Any], runs: int, program_runs: int, shape: str
) -> dict[str, Any]:
    from gate.analyzer import PolicyGate

    program_samples = []
    run = None
    for _ in range(program_runs):
        seconds, run = _time(program_run)
        program_samples.append(seconds)
    assert run is not None

    gate_samples = []
    result = None
    for _ in range(runs):
        t0 = time.perf_counter()
        with PolicyGate() as gate:
            result = gate.check(run, config, shape=shape)
        gate_samples.append(time.perf_counter() - t0)

    analysis_samples = []
    with PolicyGate() as gate:
        for _ in range(runs):
            seconds, result = _time(lambda: gate.check(run, config, shape=shape))
            analysis_samples.append(seconds)
    assert result is not None
    return {
        "target": name,
        "shape": shape,
        "resources": len(run.resources),
        "runs": runs,
        "gate_s": _median(gate_samples),
        "analysis_s": _median(analysis_samples),
        "program_s": _median(program_samples),
        "gate_samples_s": [round(s, 3) for s in gate_samples],
        "mandatory_violations": len(result.mandatory),
        "advisory_violations": len(result.advisory),
        "target_s": TARGETS_S.get(name),
        "within_target": None if name not in TARGETS_S else _median(gate_samples) < TARGETS_S[name],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gate", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per target (median reported)")
    parser.add_argument("--setups", type=int, default=50, help="database setups in the synthetic stack (32 resources each)")
    parser.add_argument("--shape", choices=("inputs", "planned", "deployed"), default="planned",
                        help="what the engine sends the pack (default: a preview of a new stack)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.runs < 1 or args.setups < 1:
        parser.error("--runs and --setups must be at least 1")

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    gc.set_threshold(100_000, 50, 100)  # as the pack does: large object graphs, short-lived process
    from gate.analyzer import load_config_file
    from gate.program import run_program
    from gate.synthetic import synthetic_program

    configs = {env: load_config_file(ROOT / "policies" / "config" / f"{env}.json") for env in ("dev", "prod")}
    from gate.shapes import shape_needs_unknown_values

    unknown = shape_needs_unknown_values(args.shape)

    def program_run(stack: str, program: Callable[[], None] | None = None) -> Any:
        return run_program(ROOT, stack, program=program, unknown_computed=unknown, provider_check=True)

    program_run("dev")  # warm imports (pulumi_aws) so the first sample is not an outlier
    rows = []
    for stack in ("dev", "prod"):
        rows.append(measure(stack, functools.partial(program_run, stack), configs[stack], args.runs, args.runs, args.shape))
        print(_line(rows[-1]), flush=True)
    program = synthetic_program(args.setups)
    rows.append(
        measure("synthetic", lambda: program_run("prod", program), configs["prod"], args.runs, min(args.runs, 2), args.shape)
    )
    print(_line(rows[-1]), flush=True)

    doc = {
        "benchmark": "policy gate wall time (medians)",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": _cpus(),
        "load_average_1m": round(_load(), 2),
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if all(r["within_target"] in (None, True) for r in rows) else 1


def _line(row: dict[str, Any]) -> str:
    target = f" (target < {row['target_s']:g} s: {'ok' if row['within_target'] else 'MISSED'})" if row["target_s"] else ""
    return (
        f"{row['target']:>9}: {row['resources']:5d} resources  gate {row['gate_s']:.2f} s{target}  "
        f"warm pack {row['analysis_s']:.2f} s  program under mocks {row['program_s']:.2f} s  "
        f"[{row['mandatory_violations']} mandatory, {row['advisory_violations']} advisory]"
    )


def _load() -> float:
    import os

    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def _cpus() -> int | None:
    import os

    return os.cpu_count()


if __name__ == "__main__":
    sys.exit(main())
