"""The failover drill's picture: acknowledged writes per 100 ms, one panel per client and fault."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.drill import CLIENTS
from bench.failover_figures import BIN_S

COLORS = {"seed": "#d62728", "dbclient-direct": "#1f77b4", "dbclient-pgbouncer": "#2ca02c", "dbclient-defaults": "#9467bd"}


def plot_failover(document: dict[str, Any], path: Path) -> None:
    """Acknowledged writes per 100 ms: one panel per client (rows) and fault (columns).

    Marked: the fault (t = 0), the start of the promotion, and the server-side outage (shaded).
    The x range of a column runs to a few seconds after the last client that
    recovered; a client that did not recover before the cap is labelled so.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in document["runs"] if "clients" in r]
    if not runs:
        return
    names = [c for c in CLIENTS if any(c in r["clients"] for r in runs)]
    fig, axes = plt.subplots(len(names), len(runs), figsize=(4.6 * len(runs) + 1, 2.3 * len(names) + 1.2),
                             squeeze=False, sharey=True)
    for col, run in enumerate(runs):
        start = run["timeline_start_s"]
        ev = run["events_s"]
        recovered = [c["first_ack_after_fault_s"] for c in run["clients"].values()
                     if not c["capped"] and c["first_ack_after_fault_s"] is not None]
        right = min(ev.get("stopped", run["cap_s"]), max([ev.get("first_write_new_primary") or 0, *recovered]) + 4)
        for row, name in enumerate(names):
            ax = axes[row, col]
            c = run["clients"].get(name)
            first = ev.get("first_write_new_primary")
            if first is not None:
                ax.axvspan(0, first, color="grey", alpha=0.15, lw=0)
            ax.axvline(0, color="black", linestyle="--", linewidth=1)
            if ev.get("promote_start") is not None:
                ax.axvline(ev["promote_start"], color="purple", linestyle=":", linewidth=1.3)
            if c is not None:
                counts = c["timeline_per_100ms"]
                first_bin = int(start // BIN_S)  # bins are aligned to multiples of BIN_S (bench.failover_figures.bins)
                xs = [(first_bin + i + 0.5) * BIN_S for i in range(len(counts))]
                ax.fill_between(xs, counts, step="mid", color=COLORS.get(name), alpha=0.35, lw=0)
                ax.step(xs, counts, where="mid", color=COLORS.get(name), linewidth=0.9)
                if c["capped"]:
                    text = f"outage > {c['client_outage_s']:.0f} s:\nno write acknowledged\nbefore the {run['cap_s']:.0f} s cap"
                else:
                    text = (f"outage {c['client_outage_s']:.2f} s\n(server {c['server_outage_s']:.2f} s, "
                            f"{c['difference_s']:+.2f} s)")
                text += f"\nlost {c['lost_acked_writes']}, dup {c['duplicates']}, errors {c['errors_surfaced']}"
                ax.text(0.99, 0.97, text, transform=ax.transAxes, ha="right", va="top", fontsize=7.5,
                        bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none", "pad": 2})
            ax.set_xlim(-2.5, right)
            ax.set_ylim(0, 19)
            ax.grid(alpha=0.3)
            if row == 0:
                ax.set_title(f"{run['fault']}  (server-side outage {run['server_outage_s']:.1f} s)", fontsize=10)
            if col == 0:
                ax.set_ylabel(f"{name}\nacks / 100 ms", fontsize=9)
            if row == len(names) - 1:
                ax.set_xlabel("seconds since the fault")
    handles = [
        plt.Line2D([], [], color="black", linestyle="--", label="fault"),
        plt.Line2D([], [], color="purple", linestyle=":", label="promotion starts (after the detection delay)"),
        plt.Rectangle((0, 0), 1, 1, color="grey", alpha=0.15, label="server-side outage (fault to first write on new primary)"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8.5, frameon=False)
    fig.suptitle("Failover drill: acknowledged writes per 100 ms (PostgreSQL 15 primary + sync standby, "
                 f"promotion after {runs[0]['detection_delay_s']:.0f} s)", fontsize=11)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
