"""Command line of the long-outage drill (issue 9): ``python -m bench.long_outage [--outages-s 30,90] [--plot]``.

A real Multi-AZ failover takes 60-120 s.  For each fault (``crash``, ``netloss``)
and each server outage (the controller promotes the standby that long after the
fault), one :class:`bench.drill.Drill` runs three dbclient clients concurrently,
all with dbclient's shipped connection defaults:

* ``dbclient-budget-long``: operation budget (``deadline_s``) = ``--long-budget-factor`` x outage,
  ``max_attempts`` high enough that only the budget ends retrying;
* ``dbclient-budget-long-default-attempts``: the same budget with dbclient's default ``max_attempts``;
* ``dbclient-budget-short``: budget = ``--short-budget-factor`` x outage (shorter than the outage, and
  long enough that the write after the failed one outlasts the rest of it).

Figures: :mod:`bench.long_outage_figures`; results ``bench/results/long_outage.json`` and, with
``--plot``, ``long_outage.png`` (:mod:`bench.long_outage_plot`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from bench.drill import BUDGET_CLIENTS, Drill, DrillConfig, choose_topology
from bench.failover import parse_choices
from bench.jsonfile import write_json
from bench.long_outage_figures import long_outage_figures
from bench.long_outage_plot import plot_long_outage
from bench.process import exit_cleanly_on_sigterm, quiet_client_loggers, reexec_with_private_mounts

RESULTS_DIR = Path(__file__).resolve().parent / "results"
LONG_FAULTS = ("crash", "netloss")
#: The failover drill's clients may ride along (the CI test checks them in the same run).
ALL_CLIENTS = (*BUDGET_CLIENTS, "dbclient-direct", "dbclient-pgbouncer")
#: Operation budgets as multiples of the outage: longer than it, and shorter (yet long enough that the write
#: after the failed one outlasts the rest of the outage).
LONG_BUDGET_FACTOR = 2.0
SHORT_BUDGET_FACTOR = 0.85
#: Time after the fault beyond the outage before a run is cut off.
CAP_MARGIN_S = 60.0


def run_long_outage(cfg: DrillConfig, outages_s: Sequence[float], long_factor: float, short_factor: float,
                    log: Callable[[str], None] = print) -> dict[str, Any]:
    """One drill per fault and outage; returns the results document."""
    topology = choose_topology(cfg.topology)
    runs: list[dict[str, Any]] = []
    started = time.monotonic()
    for outage_s in outages_s:
        run_cfg = replace(cfg, detection_delay_s=outage_s, cap_s=outage_s + CAP_MARGIN_S,
                          long_budget_s=round(outage_s * long_factor, 3), short_budget_s=round(outage_s * short_factor, 3))
        for fault in cfg.faults:
            if fault == "netloss" and topology != "netns":
                runs.append({"fault": fault, "outage_s": outage_s, "topology": topology,
                             "skipped": "network loss needs network namespaces"})
                log(f"[long-outage] {fault} {outage_s:.0f} s: skipped (needs network namespaces)")
                continue
            log(f"[long-outage] {fault}, outage {outage_s:.0f} s: running (budgets {run_cfg.long_budget_s} s / "
                f"{run_cfg.short_budget_s} s, topology {topology})")
            result = Drill(fault, run_cfg, topology).run(long_outage_figures)
            result["outage_s"] = outage_s
            runs.append(result)
            log(f"[long-outage] done in {result.get('wall_s')} s" + (f" ERROR {result['error']}" if "error" in result else ""))
            for name, fig in result.get("budgets", {}).items():
                errors = ", ".join(f"{e['kind']} after {e['elapsed_s']} s" for e in fig["errors"]) or "none"
                log(f"    {name:38s} budget {fig['budget_s']} s  resume {fig['resume_after_new_primary_s']} s  "
                    f"errors: {errors}  lost {fig['lost_acked_writes']} dup {fig['duplicates']}  {fig['verdict']}")
    return {
        "drill": "long_outage",
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release()},
        "config": asdict(cfg) | {"faults": list(cfg.faults), "clients": list(cfg.clients), "topology": topology,
                                 "outages_s": list(outages_s), "long_budget_factor": long_factor,
                                 "short_budget_factor": short_factor},
        "wall_s": round(time.monotonic() - started, 1),
        "runs": runs,
    }


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.long_outage", description=__doc__.split("\n\n")[0])
    parser.add_argument("--faults", default=",".join(LONG_FAULTS), help="comma-separated: crash,netloss")
    parser.add_argument("--outages-s", default="30,90", help="comma-separated server outages (seconds)")
    parser.add_argument("--clients", default=",".join(BUDGET_CLIENTS), help="comma-separated: " + ",".join(ALL_CLIENTS))
    parser.add_argument("--long-budget-factor", type=float, default=LONG_BUDGET_FACTOR,
                        help="long budget = factor x outage (> 1)")
    parser.add_argument("--short-budget-factor", type=float, default=SHORT_BUDGET_FACTOR,
                        help="short budget = factor x outage (between 0.5 and 1: one failed write, then a success)")
    parser.add_argument("--topology", choices=("auto", "netns", "loopback"), default="auto")
    parser.add_argument("--pre-fault-s", type=float, default=3.0)
    parser.add_argument("--tail-s", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "long_outage.json")
    parser.add_argument("--plot", nargs="?", const=RESULTS_DIR / "long_outage.png", type=Path, default=None,
                        help="draw the timeline PNG (default path bench/results/long_outage.png)")
    parser.add_argument("--plot-only", action="store_true", help="re-draw the PNG from --out without running")
    args = parser.parse_args(argv)
    try:
        args.outages = [float(value) for value in args.outages_s.split(",") if value]
    except ValueError:
        parser.error(f"--outages-s: not a comma-separated list of seconds: {args.outages_s!r}")
    if not args.outages or min(args.outages) <= 0:
        parser.error(f"--outages-s: give positive seconds, got {args.outages_s!r}")
    if args.long_budget_factor <= 1:
        parser.error(f"--long-budget-factor must exceed 1 (a budget longer than the outage), got {args.long_budget_factor}")
    if not 0.5 < args.short_budget_factor < 1:
        parser.error(f"--short-budget-factor must be between 0.5 and 1, got {args.short_budget_factor}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    quiet_client_loggers()
    args = parse_args(argv)
    if args.plot_only:
        plot_long_outage(json.loads(args.out.read_text()), args.plot or RESULTS_DIR / "long_outage.png")
        return 0
    if args.topology != "loopback":
        reexec_with_private_mounts("bench.long_outage", argv)
    exit_cleanly_on_sigterm()
    cfg = DrillConfig(faults=parse_choices(args.faults, LONG_FAULTS), clients=parse_choices(args.clients, ALL_CLIENTS),
                      topology=args.topology, pre_fault_s=args.pre_fault_s, tail_s=args.tail_s)
    document = run_long_outage(cfg, args.outages, args.long_budget_factor, args.short_budget_factor)
    write_json(args.out, document)
    print(f"[long-outage] wrote {args.out}")
    if args.plot:
        plot_long_outage(document, args.plot)
        print(f"[long-outage] wrote {args.plot}")
    return 0 if all("error" not in run for run in document["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
