"""Figures of the long-outage drill: does dbclient ride out a real failover's length, or fail once, at its budget?

For each budget client (``dbclient-budget-*``, see :mod:`bench.drill`):

* ``resume_after_new_primary_s``: its first acknowledged write from the new primary minus the
  moment the new primary first accepted a write (the probe's); target <= :data:`RESUME_TARGET_S`.
* ``errors``: every error that surfaced to the caller, when (since the fault), how long after its
  write had started (``elapsed_s``) and that minus the budget (``minus_budget_s``).
* the verdict: a budget longer than the outage must surface no error, resume within the
  target and lose or duplicate no acknowledged write; a shorter one must surface exactly one
  deadline error (:class:`dbclient.RetriesExhausted`), no earlier than
  :data:`EARLY_TOLERANCE_S` before the budget and no later than :data:`LATE_TOLERANCE_S` after it.

The short-drill figures (:func:`bench.failover_figures.failover_figures`) of every client are kept under ``clients``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench.failover_figures import bins, failover_figures, round_s

if TYPE_CHECKING:
    from bench.drill import DrillRecord

#: Issue 9: dbclient resumes within this long after the new primary accepts writes.
RESUME_TARGET_S = 1.0
#: How far before / after the budget the deadline error may come and still be "at the budget".
EARLY_TOLERANCE_S = 0.1
LATE_TOLERANCE_S = 1.0
#: The error types that mean "the operation's budget ran out".
DEADLINE_ERRORS = ("RetriesExhausted", "CommitOutcomeUnknown")
#: Retries this long before the new primary accepted writes are listed (why the resume took what it took).
TRACE_WINDOW_S = 6.0
#: Width of one timeline bin of the long-outage picture.
TIMELINE_BIN_S = 0.5


def budget_of(record: DrillRecord, client: str) -> float | None:
    """The operation budget a budget client ran with (None for other clients)."""
    if client == "dbclient-budget-short":
        return record.cfg.short_budget_s
    if client.startswith("dbclient-budget-long"):
        return record.cfg.long_budget_s
    return None


def long_outage_figures(record: DrillRecord) -> dict[str, Any]:
    document = failover_figures(record)
    ev = record.events
    t0 = ev["fault"]
    end = ev["stopped"]
    new_primary = ev.get("first_write_new_primary")
    promote_start = ev.get("promote_start", end)
    budgets: dict[str, Any] = {}
    for log, writer in record.logs:
        budget_s = budget_of(record, log.name)
        if budget_s is None:
            continue
        base = document["clients"][log.name]
        ack_times = [t for _, t in log.acks if t <= end]
        first_from_new = next((t for t in ack_times if t >= promote_start), None)
        resume_s = None if first_from_new is None or new_primary is None else first_from_new - new_primary
        errors = [
            {
                "at_s": round_s(e.at - t0),
                "write_started_s": round_s(e.write_started - t0),
                "elapsed_s": round_s(e.at - e.write_started),
                "minus_budget_s": round_s(e.at - e.write_started - budget_s),
                "kind": e.message.split(":", 1)[0],
                "message": e.message[:240],
            }
            for e in log.errors if e.at <= end
        ]
        clean = base["lost_acked_writes"] == 0 and base["duplicates"] == 0
        outage_s = document["server_outage_s"]
        expects_error = outage_s is None or budget_s < outage_s
        if expects_error:
            kept = [e for e in log.errors if e.at <= end]
            only = kept[0] if len(kept) == 1 else None
            at_budget = bool(only is not None and only.message.split(":", 1)[0] in DEADLINE_ERRORS
                             and -EARLY_TOLERANCE_S <= only.at - only.write_started - budget_s <= LATE_TOLERANCE_S)
            verdict = "met" if at_budget and clean else "MISSED"
        else:
            resumed = resume_s is not None and resume_s <= RESUME_TARGET_S
            verdict = "met" if not errors and resumed and clean and not base["capped"] else "MISSED"
        trace = getattr(writer, "retry_trace", ())
        # What the client was doing around the moment the new primary came up: its last retries before its resume.
        last_retries = [
            {"at_s": round_s(t - t0), "attempt": attempt, "class": kind, "error": summary, "sleep_s": round_s(delay_s)}
            for t, attempt, kind, summary, delay_s in trace
            if new_primary is not None and new_primary - TRACE_WINDOW_S <= t <= (first_from_new or end)
        ]
        budgets[log.name] = {
            "budget_s": budget_s,
            "expects": "one deadline error at the budget" if expects_error else "no error, resume within 1 s",
            "max_attempts": getattr(writer, "options", {}).get("max_attempts", "dbclient default"),
            "resume_after_new_primary_s": round_s(resume_s),
            "first_ack_from_new_primary_s": round_s(first_from_new - t0 if first_from_new is not None else None),
            "errors": errors,
            "errors_surfaced": len(errors),
            "lost_acked_writes": base["lost_acked_writes"],
            "duplicates": base["duplicates"],
            "acked_writes": base["acked_writes"],
            "on_retry_calls": base["on_retry_calls"],
            "capped": base["capped"],
            "verdict": verdict,
            "retries_around_resume": last_retries,
            "timeline_per_500ms": bins([t - t0 for t in ack_times], ev["setup_done"] - t0, end - t0, TIMELINE_BIN_S),
        }
    document["budgets"] = budgets
    return document
