"""The long-outage drill's picture: acknowledged writes over time for each budget client, one panel per fault and outage.

Marked: the outage window (fault to the first write the new primary accepted, shaded), that
moment (green line), each client's resume (dot) and every error that surfaced (cross, with
how long after its write had started).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.long_outage_figures import TIMELINE_BIN_S

COLORS = {"dbclient-budget-long": "#1f77b4", "dbclient-budget-long-default-attempts": "#ff7f0e",
          "dbclient-budget-short": "#d62728"}


def plot_long_outage(document: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in document["runs"] if "budgets" in r]
    if not runs:
        return
    faults = [f for f in dict.fromkeys(r["fault"] for r in runs)]
    outages = sorted({r["outage_s"] for r in runs})
    fig, axes = plt.subplots(len(faults), len(outages), figsize=(7.2 * len(outages), 3.6 * len(faults) + 1.0),
                             squeeze=False)
    for run in runs:
        ax = axes[faults.index(run["fault"]), outages.index(run["outage_s"])]
        ev = run["events_s"]
        new_primary = ev.get("first_write_new_primary")
        if new_primary is not None:
            ax.axvspan(0, new_primary, color="grey", alpha=0.15, lw=0)
            ax.axvline(new_primary, color="green", linewidth=1.2)
        ax.axvline(0, color="black", linestyle="--", linewidth=1)
        # A zoom on the moment the new primary came up: where the resumes are told apart.
        zoom = ax.inset_axes((0.6, 0.3, 0.38, 0.5)) if new_primary is not None else None
        if zoom is not None and new_primary is not None:
            zoom.axvline(new_primary, color="green", linewidth=1.2)
            zoom.axvspan(new_primary - 3, new_primary, color="grey", alpha=0.15, lw=0)
            zoom.set_xlim(new_primary - 1.5, new_primary + 4.5)
            zoom.tick_params(labelsize=6.5)
            zoom.set_title("around the new primary", fontsize=7)
            zoom.grid(alpha=0.3)
        peak = 1.0
        lines = []
        for offset, (name, c) in enumerate(run["budgets"].items()):
            color = COLORS.get(name, "black")
            counts = [n / TIMELINE_BIN_S for n in c["timeline_per_500ms"]]
            first_bin = int(run["timeline_start_s"] // TIMELINE_BIN_S)  # as bench.failover_figures.bins counts
            xs = [(first_bin + i + 0.5) * TIMELINE_BIN_S for i in range(len(counts))]
            peak = max(peak, *counts) if counts else peak
            ax.step(xs, counts, where="mid", color=color, linewidth=1.0, alpha=0.85, label=name)
            y_mark = 4 + 6 * offset
            first = c["first_ack_from_new_primary_s"]
            if first is not None:
                ax.plot([first], [y_mark], "o", color=color, markersize=6)
            if zoom is not None:
                zoom.step(xs, counts, where="mid", color=color, linewidth=1.0, alpha=0.85)
                if first is not None:
                    zoom.plot([first], [y_mark], "o", color=color, markersize=5)
            for index, e in enumerate(c["errors"]):
                ax.plot([e["at_s"]], [y_mark], "X", color=color, markersize=9, markeredgecolor="black")
                ax.annotate(f"{e['kind']}\n{e['elapsed_s']:.1f} s after its write began", (e["at_s"], y_mark),
                            textcoords="offset points", xytext=(-4, 8 + 18 * ((offset + index) % 2)), ha="right",
                            fontsize=6.5, color=color)
            resume = c["resume_after_new_primary_s"]
            lines.append(f"{name.replace('dbclient-budget-', '')} (budget {c['budget_s']:g} s): "
                         f"resume {'n/a' if resume is None else f'{resume:+.2f} s'}, errors {c['errors_surfaced']}, "
                         f"lost {c['lost_acked_writes']}, dup {c['duplicates']}: {c['verdict']}")
        ax.text(0.01, 0.97, "\n".join(lines), transform=ax.transAxes, ha="left", va="top", fontsize=6.8,
                bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none", "pad": 2})
        right = max([ev.get("stopped", 0.0)] + [new_primary or 0.0])
        ax.set_xlim(-3, right)
        ax.set_ylim(0, peak * 1.45)
        if zoom is not None:
            zoom.set_ylim(0, peak * 1.1)
        ax.grid(alpha=0.3)
        ax.set_title(f"{run['fault']}, outage {run['outage_s']:.0f} s (new primary accepts writes at "
                     f"{'n/a' if new_primary is None else f'{new_primary:.1f} s'})", fontsize=10)
        ax.set_xlabel("seconds since the fault")
        ax.set_ylabel("acknowledged writes / s")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    handles += [
        plt.Line2D([], [], color="black", linestyle="--", label="fault"),
        plt.Rectangle((0, 0), 1, 1, color="grey", alpha=0.15, label="server-side outage"),
        plt.Line2D([], [], color="green", label="new primary accepts writes"),
        plt.Line2D([], [], marker="o", linestyle="", color="grey", label="client's first write on the new primary"),
        plt.Line2D([], [], marker="X", linestyle="", color="grey", markeredgecolor="black", label="error surfaced"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle("Long-outage drill: dbclient (shipped defaults) through 30 s and 90 s failovers, "
                 "budget longer and shorter than the outage", fontsize=11)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
