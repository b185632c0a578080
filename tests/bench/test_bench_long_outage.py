"""The long-outage mechanism (issue 9) on a short outage: a budget longer than the outage rides it out without an
error, losing and duplicating nothing; a shorter one fails once, with a deadline error, near its budget.

Same drill as tests/bench/test_bench_failover_drill.py (tests/bench/conftest.py: a
3 s crash outage).  The bounds are generous on purpose: behaviour, not timing;
``make bench`` (``python -m bench.long_outage``) measures the 30 s and 90 s outages.
"""

from __future__ import annotations

import pytest

from bench.long_outage_figures import DEADLINE_ERRORS
from dbclient.retry import Backoff
from tests.bench.drill_run import LONG_BUDGET_FACTOR, OUTAGE_S, SHORT_BUDGET_FACTOR, DrillRun

pytestmark = pytest.mark.postgres

#: "Not long after the budget": the last attempt's network wait is cut at the deadline.
LATE_BOUND_S = 2.0


def _budgets(crash_drill: DrillRun) -> dict[str, dict[str, object]]:
    (run,) = crash_drill.document["runs"]
    assert "error" not in run, run.get("traceback", run.get("error"))
    assert run["writer_reached_new_primary"], run
    budgets: dict[str, dict[str, object]] = run["budgets"]
    return budgets


def test_budget_longer_than_the_outage_surfaces_no_error_and_resumes(crash_drill: DrillRun) -> None:
    figures = _budgets(crash_drill)["dbclient-budget-long"]
    assert figures["budget_s"] == pytest.approx(OUTAGE_S * LONG_BUDGET_FACTOR)
    assert figures["errors"] == [], figures["errors"]
    assert figures["lost_acked_writes"] == 0 and figures["duplicates"] == 0, figures
    assert not figures["capped"]
    # It came back on the new primary (how fast is make bench's figure, not a test's).
    assert figures["first_ack_from_new_primary_s"] is not None, figures


def test_budget_shorter_than_the_outage_raises_one_deadline_error_at_the_budget(crash_drill: DrillRun) -> None:
    figures = _budgets(crash_drill)["dbclient-budget-short"]
    budget_s = OUTAGE_S * SHORT_BUDGET_FACTOR
    assert figures["budget_s"] == pytest.approx(budget_s)
    errors = figures["errors"]
    assert isinstance(errors, list) and len(errors) == 1, errors
    (error,) = errors
    assert error["kind"] in DEADLINE_ERRORS, error
    # Not before the budget (less the one backoff sleep run_transaction declines to start when it would cross the
    # deadline), not long after it.
    assert budget_s - Backoff().cap_s - 0.1 <= error["elapsed_s"] <= budget_s + LATE_BOUND_S, error
    # The write that failed was the one in flight at the fault; the next one succeeded on the new primary.
    assert error["write_started_s"] <= 0.5, error
    assert figures["first_ack_from_new_primary_s"] is not None, figures
    assert figures["lost_acked_writes"] == 0 and figures["duplicates"] == 0, figures
