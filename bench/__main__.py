"""``python -m bench`` (``make bench``): every drill and benchmark, results in bench/results/.

1. Failover drill (:mod:`bench.failover`): crash, network loss and hang, each with the
   seed client, dbclient direct and dbclient through pgbouncer writing concurrently;
   ``failover.json`` and the timeline ``failover.png``.
2. Long-outage drill (:mod:`bench.long_outage`): 30 s and 90 s outages, crash and network loss,
   dbclient with a budget longer and shorter than the outage; ``long_outage.json`` and ``long_outage.png``.
3. Connection storm (:mod:`bench.storm`): direct vs pgbouncer; ``storm.json``.
4. Gate timing (:mod:`bench.gate`, when present): its own results file.

Then ``bench.json`` (wall times) and ``RESULTS.md`` (the tables for the README).
Runs in a private mount namespace when root (the failover drill's writer endpoint
is a name in a private /etc/hosts).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import json
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import failover, long_outage, storm
from bench.drill import BUDGET_CLIENTS, DrillConfig
from bench.failover_plot import plot_failover
from bench.jsonfile import write_json
from bench.long_outage_plot import plot_long_outage
from bench.process import exit_cleanly_on_sigterm, quiet_client_loggers, reexec_with_private_mounts

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def run_gate(out: Path, say: Any = print) -> dict[str, Any]:
    """Call ``bench.gate.main`` if that module exists (another engineer owns it), writing *out*."""
    if importlib.util.find_spec("bench.gate") is None:
        say("[gate] bench/gate.py is not present: gate timing not run")
        return {"status": "not run: bench/gate.py is not present"}
    module = importlib.import_module("bench.gate")
    main = getattr(module, "main", None)
    if main is None:
        return {"status": "not run: bench.gate has no main()"}
    saved = sys.argv
    try:
        if inspect.signature(main).parameters:
            code = main(["--out", str(out)])
        else:
            sys.argv = ["python -m bench.gate"]
            code = main()
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv = saved
    return {"status": "ran", "exit_code": code, "results": out.name}


def _f(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def default_max_attempts() -> str:
    """dbclient's default ``max_attempts`` of :func:`dbclient.retry.run_transaction` (None: bounded by the budget)."""
    from dbclient.retry import run_transaction

    default = inspect.signature(run_transaction).parameters["max_attempts"].default
    return "budget-bound" if default is None else str(default)


def long_outage_markdown(doc: dict[str, Any]) -> list[str]:
    """The long-outage table: per fault, outage and budget client, resume, errors, losses, verdict."""
    cfg = doc["config"]
    lines = [
        "### Long outages (issue 9)",
        "",
        f"Same topology; the standby is promoted {' and '.join(f'{o:g} s' for o in cfg['outages_s'])} after the fault "
        f"(a real Multi-AZ failover takes 60-120 s). dbclient with its shipped connection defaults and an operation "
        f"budget (`run_transaction(deadline_s=...)`) of {cfg['long_budget_factor']:g} x and "
        f"{cfg['short_budget_factor']:g} x the outage. Resume = the client's first write on the new primary minus "
        f"the moment the new primary first accepted a write (target <= 1 s); elapsed = from the start of the failed "
        f"write to its error.",
        "",
        "| fault | outage (s) | client | budget (s) | max_attempts | errors surfaced (elapsed s) | resume (s) "
        "| lost | duplicates | target |",
        "| --- | ---: | --- | ---: | --- | --- | ---: | ---: | ---: | --- |",
    ]
    for run in doc["runs"]:
        if "budgets" not in run:
            lines.append(f"| {run['fault']} | {run.get('outage_s')} | all | {run.get('skipped') or run.get('error')} "
                         "| | | | | | |")
            continue
        for name, c in run["budgets"].items():
            attempts = c["max_attempts"]
            if not isinstance(attempts, int):
                attempts = f"{default_max_attempts()} (default)"
            errors = ", ".join(f"{e['kind']} ({e['elapsed_s']:.1f})" for e in c["errors"]) or "none"
            lines.append(
                f"| {run['fault']} | {_f(run['server_outage_s'])} | {name} | {c['budget_s']:g} | {attempts} | "
                f"{errors} | {_f(c['resume_after_new_primary_s'], 2)} | {c['lost_acked_writes']} | {c['duplicates']} | "
                f"{c['expects']}: {c['verdict']} |"
            )
    lines += ["", "![long-outage timeline](bench/results/long_outage.png)", ""]
    return lines


def markdown(failover_doc: dict[str, Any] | None, storm_doc: dict[str, Any] | None, total_s: float | None,
             gate_doc: dict[str, Any] | None = None, long_outage_doc: dict[str, Any] | None = None) -> str:
    lines = ["## Results", ""]
    if failover_doc:
        cfg = failover_doc["config"]
        lines += [
            "### Failover drill",
            "",
            f"Primary + synchronous standby (PostgreSQL 15) in two network namespaces, writer endpoint = a host name "
            f"moved at promotion; detection delay {cfg['detection_delay_s']:.0f} s; each run capped at {cfg['cap_s']:.0f} s "
            f"after the fault. Client outage = last acknowledged write before the fault to the first one after; "
            f"server outage = fault to the first write accepted by the new primary. "
            f"`dbclient-direct` and `dbclient-pgbouncer` run with the drill's timeouts (operation_timeout_s "
            f"{cfg['operation_timeout_s']}, connect_timeout_s {cfg['connect_timeout_s']}, tcp_user_timeout_ms "
            f"{cfg['tcp_user_timeout_ms']}, keepalives_idle_s/interval_s/count {cfg['keepalives_idle_s']}/"
            f"{cfg['keepalives_interval_s']}/{cfg['keepalives_count']}, Backoff cap_s {cfg['backoff_cap_s']}, "
            f"idempotency key per write); "
            f"`dbclient-defaults` is dbclient direct with its shipped defaults, for comparison.",
            "",
            "| fault | client | client outage (s) | server outage (s) | difference (s) | lost acked writes | duplicates "
            "| errors surfaced | capped | dbclient target |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
        ]
        for run in failover_doc["runs"]:
            if "clients" not in run:
                lines.append(f"| {run['fault']} | all | {run.get('skipped') or run.get('error')} | | | | | | | |")
                continue
            for name, c in run["clients"].items():
                outage = _f(c["client_outage_s"])
                if c["capped"]:
                    outage = f"> {outage} (not recovered)"
                target = ""
                if "meets_target" in c:
                    target = f"<= +{c['target_extra_s']:.0f} s: {'met' if c['meets_target'] else 'MISSED'}"
                    if name == "dbclient-defaults":
                        target = f"({'met' if c['meets_target'] else 'missed'}; shipped defaults, for comparison)"
                lines.append(
                    f"| {run['fault']} | {name} | {outage} | {_f(c['server_outage_s'])} | "
                    f"{'n/a' if c['capped'] else _f(c['difference_s'])} | {c['lost_acked_writes']} | {c['duplicates']} | "
                    f"{c['errors_surfaced']} | {'yes' if c['capped'] else 'no'} | {target} |"
                )
        lines += ["", "![failover timeline](bench/results/failover.png)", ""]
    if long_outage_doc:
        lines += long_outage_markdown(long_outage_doc)
    if storm_doc:
        modes = storm_doc["modes"]
        order = [m for m in ("direct", "pgbouncer") if m in modes]
        w = storm_doc["workload"]
        lines += [
            "### Connection storm",
            "",
            f"max_connections = {storm_doc['server']['max_connections']}; {w['lambda_concurrency']} Lambda-like workers "
            f"(own connection) + {w['ecs_tasks']} ECS-like tasks x pool of {w['ecs_pool_size']} = "
            f"{w['client_connections']} client connections; {w['mix']}; mean think time {w['think_time_mean_s']} s; "
            f"{storm_doc['duration_s']:.0f} s per mode; pgbouncer (transaction mode) pool = "
            f"{storm_doc['pgbouncer_pool_size']} from `sizing.connection_budget`.",
            "",
            "| | " + " | ".join(order) + " |",
            "| --- | " + " | ".join("---:" for _ in order) + " |",
        ]
        rows = [
            ("requests completed", "requests_ok", "{}"),
            ("requests failed", "requests_failed", "{}"),
            ("connection attempts refused (53300)", "connect_refused_53300", "{}"),
            ("other connection failures", "connect_failed_other", "{}"),
            ("throughput (req/s)", "throughput_rps", "{:.0f}"),
            ("p50 latency (ms)", "latency_p50_ms", "{:.1f}"),
            ("p99 latency (ms)", "latency_p99_ms", "{:.1f}"),
            ("p50 / p99 after warm-up (ms)", None, ""),
            ("peak server connections", "peak_server_connections", "{}"),
        ]
        for label, key, fmt in rows:
            cells = []
            for mode in order:
                fig = modes[mode]
                if key is None:
                    cells.append(f"{_f(fig['steady_latency_p50_ms'])} / {_f(fig['steady_latency_p99_ms'])}")
                else:
                    value = fig[key]
                    cells.append("n/a" if value is None else fmt.format(value))
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    if gate_doc and isinstance(gate_doc.get("results"), list):
        lines += [
            "### Gate timing",
            "",
            "Medians of several runs (`bench/gate.py`): the gate cold (pack start to verdict), the analysis on a running "
            "pack, and the Pulumi program under mocks.",
            "",
            "| stack | resources | gate, cold (s) | analysis (s) | program (s) | target |",
            "| --- | ---: | ---: | ---: | ---: | --- |",
        ]
        for row in gate_doc["results"]:
            target = "" if row.get("target_s") is None else (
                f"< {row['target_s']:.0f} s: {'met' if row.get('within_target') else 'MISSED'}")
            lines.append(f"| {row.get('target')} | {row.get('resources')} | {_f(row.get('gate_s'), 2)} | "
                         f"{_f(row.get('analysis_s'), 2)} | {_f(row.get('program_s'), 2)} | {target} |")
        lines.append("")
    if total_s is not None:
        lines += [f"`make bench` wall time for this run: {total_s / 60:.1f} min.", ""]
    return "\n".join(lines)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    failover.add_arguments(parser)
    parser.add_argument("--storm-duration-s", type=float, default=20.0)
    parser.add_argument("--outages-s", default="30,90", help="long-outage drill: comma-separated server outages")
    parser.add_argument("--quick", action="store_true", help="short run: cap 30 s, storm 10 s, long outage 30 s only")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: failover,long_outage,storm,gate")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if {"failover", "long_outage"} - set(args.skip.split(",")) and args.topology != "loopback":
        reexec_with_private_mounts("bench", argv)
    quiet_client_loggers()
    exit_cleanly_on_sigterm()
    if args.quick:
        args.cap_s = min(args.cap_s, 30.0)
        args.storm_duration_s = min(args.storm_duration_s, 10.0)
        args.outages_s = "30"
    skip = set(args.skip.split(","))
    results: Path = args.results
    results.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    summary: dict[str, Any] = {"parts": {}}
    failover_doc = storm_doc = long_outage_doc = None
    ok = True
    if "failover" not in skip:
        t = time.monotonic()
        try:
            failover_doc = failover.run_drill(failover.config_from_args(args))
            write_json(results / "failover.json", failover_doc)
            plot_failover(failover_doc, results / "failover.png")
            ok &= all("error" not in run for run in failover_doc["runs"])
        except Exception:
            traceback.print_exc()
            ok = False
        summary["parts"]["failover_s"] = round(time.monotonic() - t, 1)
    if "long_outage" not in skip:
        t = time.monotonic()
        try:
            outages_s = [float(value) for value in args.outages_s.split(",") if value]
            cfg = DrillConfig(faults=long_outage.LONG_FAULTS, clients=BUDGET_CLIENTS, topology=args.topology)
            long_outage_doc = long_outage.run_long_outage(cfg, outages_s, long_outage.LONG_BUDGET_FACTOR,
                                                           long_outage.SHORT_BUDGET_FACTOR)
            write_json(results / "long_outage.json", long_outage_doc)
            plot_long_outage(long_outage_doc, results / "long_outage.png")
            ok &= all("error" not in run for run in long_outage_doc["runs"])
        except Exception:
            traceback.print_exc()
            ok = False
        summary["parts"]["long_outage_s"] = round(time.monotonic() - t, 1)
    if "storm" not in skip:
        t = time.monotonic()
        try:
            storm_doc = storm.run_storm(storm.StormConfig(duration_s=args.storm_duration_s))
            write_json(results / "storm.json", storm_doc)
        except Exception:
            traceback.print_exc()
            ok = False
        summary["parts"]["storm_s"] = round(time.monotonic() - t, 1)
    if "gate" not in skip:
        t = time.monotonic()
        try:
            summary["gate"] = run_gate(results / "gate.json")
        except Exception as exc:
            traceback.print_exc()
            summary["gate"] = {"status": f"failed: {type(exc).__name__}: {exc}"}
            ok = False
        summary["parts"]["gate_s"] = round(time.monotonic() - t, 1)
    total = time.monotonic() - started
    summary["total_s"] = round(total, 1)
    summary["generated_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    write_json(results / "bench.json", summary)
    gate_doc = None
    if summary.get("gate", {}).get("status") == "ran" and (results / "gate.json").exists():
        gate_doc = json.loads((results / "gate.json").read_text())
    text = markdown(failover_doc, storm_doc, total, gate_doc, long_outage_doc)
    (results / "RESULTS.md").write_text(text + "\n")
    print(text)
    print(f"[bench] done in {total / 60:.1f} min; results in {results}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
