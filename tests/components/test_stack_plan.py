"""gate/plan.py: the offline plan printer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from stack_helpers import NS, PROJECT_DIR, only, set_config, stack_config

from gate import plan
from gate.program import ProgramRun, run_program


def test_plan_lists_every_resource_with_key_settings(run: ProgramRun, stack: str) -> None:
    text = plan.render_plan(run)
    for resource in run.resources:
        assert f"  {resource.name}" in text, resource.name
    instance_class = "db.r6g.large" if stack == "prod" else "db.t4g.medium"
    assert f"instanceClass={instance_class}" in text
    assert f"multiAz={'true' if stack == 'prod' else 'false'}" in text
    assert "storageType=gp3" in text and "storageEncrypted=true" in text
    pool = stack_config(stack)[f"{NS}:proxy"]
    assert f"maxConnectionsPercent={pool['maxConnectionsPercent']}" in text
    assert f"connectionBorrowTimeout={pool['connectionBorrowTimeoutS']}" in text
    assert "iamAuth=REQUIRED" in text and "requireTls=true" in text
    assert "group -> network-database-security-group: tcp 5432-5432 from -> network-proxy-security-group" in text
    assert "AWS/RDS ClientConnections [ProxyName=" in text
    assert "AWS/RDS DatabaseConnections [DBInstanceIdentifier=" in text
    assert "password=[secret]" in text and "secretString=[secret]" in text


def test_plan_has_the_budget_table_and_counts(run: ProgramRun, stack: str) -> None:
    text = plan.render_plan(run)
    assert "Connection budget (components/sizing.py)" in text
    for label, value in run.outputs["connectionBudgetRows"]:
        assert label in text and value in text
    if stack == "prod":
        assert "1802 (RDS default for the class)" in text
        assert "fits: 250 of 1802" in text
    custom = sum(1 for r in run.resources if r.custom)
    assert f"Resources: {len(run.resources)} ({custom} cloud resources, 10 components)" in text
    assert "    1  aws.rds.Proxy" in text


def test_plan_never_prints_the_password(known_run: ProgramRun) -> None:
    password = only(known_run, "random:index/randomPassword:RandomPassword").outputs["result"]
    text = plan.render_plan(known_run)
    assert password not in text
    assert "orders-prod-proxy.proxy-" in text or "orders-dev-proxy.proxy-" in text


def test_main_prints_the_plan(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan.main(["--stack", "prod"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Plan for stack 'prod'")
    assert "planned offline in" in out


def test_main_reports_config_errors_with_exit_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    config = stack_config("prod")
    set_config(config, f"{NS}:database.masterUsername", "admin")
    set_config(config, f"{NS}:proxy.connectionBorrowTimeoutS", 301)

    def runner(project_dir: Path, stack: str, **kwargs: Any) -> ProgramRun:
        return run_program(project_dir, stack, config=config, **kwargs)

    assert plan.main(["--stack", "prod"], runner=runner) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "configuration is invalid" in captured.err
    assert f"  - {NS}:database.masterUsername = 'admin'" in captured.err
    assert f"  - {NS}:proxy.connectionBorrowTimeoutS = 301" in captured.err
    assert "Traceback" not in captured.err


def test_main_reports_a_missing_stack_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan.main(["--stack", "nosuch", "--project-dir", str(PROJECT_DIR)]) == 2
    assert "Pulumi.nosuch.yaml" in capsys.readouterr().err


def test_plan_is_stable_across_runs(run: ProgramRun, stack: str) -> None:
    # Registration order is asynchronous; the printed plan must not be.
    again = run_program(PROJECT_DIR, stack)
    assert plan.render_plan(again) == plan.render_plan(run)
    lines = [line for line in plan.render_plan(run).splitlines() if line.startswith("+ ")]
    assert [line.split()[-1] for line in lines] == ["orders"]  # ResilientPostgres
    lines = [line for line in plan.render_plan(run).splitlines() if line.startswith("  + ")]
    assert [line.split()[-1] for line in lines] == [
        "network", "credentials", "database", "replica", "proxy", "alarms", "events", "dashboard", "access",
    ]


def test_plan_shows_the_dashboard_and_the_event_subscription() -> None:
    import pulumi

    from components import sizing
    from components.dashboard import Dashboard, DashboardArgs
    from components.events import DatabaseEvents, DatabaseEventsArgs

    budget = sizing.connection_budget("db.r6g.large", sizing.Workload(50, 20, 10), proxy_max_connections_percent=90)

    def program() -> None:
        board = Dashboard("dashboard", DashboardArgs(
            prefix="orders-prod", budget=budget, thresholds=sizing.alarm_thresholds(budget, allocated_storage_gib=100),
            borrow_latency_threshold_us=100_000, connection_borrow_timeout_s=120, replica_lag_threshold_s=60,
            primary_identifier="orders-prod-db", replica_identifiers=["orders-prod-replica-1"], proxy_name="orders-prod"))
        events = DatabaseEvents("events", DatabaseEventsArgs(
            prefix="orders-prod", sns_topic_arn="arn:aws:sns:us-east-1:123456789012:alarms",
            primary_identifier="orders-prod-db", replica_identifiers=["orders-prod-replica-1"]))
        pulumi.export("dashboardName", board.dashboard_name)
        pulumi.export("dashboardUrl", board.url)
        pulumi.export("eventSubscriptionId", events.subscription_id)

    text = plan.render_plan(run_program(PROJECT_DIR, "prod", program=program, unknown_computed=True))
    assert "+ resilient-rds:dashboard:Dashboard  dashboard" in text
    assert "+ aws.cloudwatch.Dashboard  dashboard-dashboard" in text
    assert "dashboardName=orders-prod-database" in text
    assert "widgets (8 graphs): Database connections (primary) vs max_connections; RDS Proxy client connections" in text
    assert "+ aws.rds.EventSubscription  events-subscription" in text
    assert "sourceType=db-instance, sourceIds=[orders-prod-db, orders-prod-replica-1], enabled=true" in text
    assert "eventCategories=[availability, failover, failure, low storage, maintenance, read replica]" in text
    assert "dashboardUrl: https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards/dashboard/" in text
    assert "eventSubscriptionId: (computed)" in text
