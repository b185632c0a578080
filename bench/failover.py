"""Command line of the failover drill: ``python -m bench.failover [--faults crash,netloss,hang] [--cap-s 180] [--plot]``.

Runs one :class:`bench.drill.Drill` per fault (a fresh primary/standby pair each;
see :mod:`bench.drill` for the topology, faults and clients), summarizes each with
:func:`bench.failover_figures.failover_figures`, writes ``bench/results/failover.json``
and, with ``--plot``, the timeline ``failover.png`` (:mod:`bench.failover_plot`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.drill import CLIENTS, FAULTS, Drill, DrillConfig, choose_topology
from bench.failover_figures import failover_figures
from bench.failover_plot import plot_failover
from bench.jsonfile import write_json
from bench.pgcluster import pgbouncer_binary
from bench.process import exit_cleanly_on_sigterm, quiet_client_loggers, reexec_with_private_mounts

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def run_drill(cfg: DrillConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every fault in *cfg* (one fresh primary/standby pair each) and return the results document."""
    if pgbouncer_binary() is None and "dbclient-pgbouncer" in cfg.clients:
        raise SystemExit("pgbouncer is not installed: run `make system-deps`")
    topology = choose_topology(cfg.topology)
    runs = []
    started = time.monotonic()
    for fault in cfg.faults:
        if fault == "netloss" and topology != "netns":
            runs.append({"fault": fault, "topology": topology, "skipped": "network loss needs network namespaces"})
            log(f"[failover] {fault}: skipped (needs network namespaces)")
            continue
        log(f"[failover] {fault}: running (topology {topology}, cap {cfg.cap_s:.0f} s)")
        result = Drill(fault, cfg, topology).run(failover_figures)
        runs.append(result)
        log(f"[failover] {fault}: done in {result.get('wall_s')} s" + (f" ERROR {result['error']}" if "error" in result else ""))
        for name, fig in result.get("clients", {}).items():
            log(f"    {name:20s} outage {fig['client_outage_s']} s (server {fig['server_outage_s']} s)"
                f"{' CAPPED' if fig['capped'] else ''}  lost {fig['lost_acked_writes']}  dup {fig['duplicates']}"
                f"  errors {fig['errors_surfaced']}")
    return {
        "drill": "failover",
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release()},
        "config": asdict(cfg) | {"faults": list(cfg.faults), "clients": list(cfg.clients), "topology": topology},
        "wall_s": round(time.monotonic() - started, 1),
        "runs": runs,
    }


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.failover", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "failover.json")
    parser.add_argument("--plot", nargs="?", const=RESULTS_DIR / "failover.png", type=Path, default=None,
                        help="draw the timeline PNG (default path bench/results/failover.png)")
    parser.add_argument("--plot-only", action="store_true", help="re-draw the PNG from --out without running")
    return parser.parse_args(argv)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--faults", default=",".join(FAULTS), help="comma-separated: crash,netloss,hang")
    parser.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated: " + ",".join(CLIENTS))
    parser.add_argument("--topology", choices=("auto", "netns", "loopback"), default="auto")
    parser.add_argument("--cap-s", type=float, default=180.0, help="seconds after the fault before a run is cut off")
    parser.add_argument("--detection-delay-s", type=float, default=3.0)
    parser.add_argument("--pre-fault-s", type=float, default=4.0)
    parser.add_argument("--tail-s", type=float, default=3.0)


def parse_choices(text: str, allowed: Sequence[str]) -> list[str]:
    """A comma-separated list, every item one of *allowed* (else exit naming the unknown ones)."""
    chosen = [item for item in text.split(",") if item]
    unknown = set(chosen) - set(allowed)
    if unknown:
        raise SystemExit(f"unknown: {', '.join(sorted(unknown))} (choose from {', '.join(allowed)})")
    return chosen


def config_from_args(args: argparse.Namespace) -> DrillConfig:
    return DrillConfig(faults=parse_choices(args.faults, FAULTS), clients=parse_choices(args.clients, CLIENTS),
                       topology=args.topology, cap_s=args.cap_s, detection_delay_s=args.detection_delay_s,
                       pre_fault_s=args.pre_fault_s, tail_s=args.tail_s)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    quiet_client_loggers()
    args = parse_args(argv)
    if args.plot_only:
        plot_failover(json.loads(args.out.read_text()), args.plot or RESULTS_DIR / "failover.png")
        return 0
    if args.topology != "loopback":
        reexec_with_private_mounts("bench.failover", argv)
    exit_cleanly_on_sigterm()
    document = run_drill(config_from_args(args))
    write_json(args.out, document)
    print(f"[failover] wrote {args.out}")
    if args.plot:
        plot_failover(document, args.plot)
        print(f"[failover] wrote {args.plot}")
    return 0 if all("error" not in run for run in document["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
