"""The on-call dashboard: its body (pure), the pack's metric catalogue, the alarms' own numbers, the component."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components import sizing
from components.alarms import primary_alarm_specs, proxy_alarm_specs, replica_lag_spec
from components.dashboard import (
    NAMESPACE_RDS,
    Dashboard,
    DashboardArgs,
    DashboardSpec,
    dashboard_body,
    dashboard_name,
    dashboard_url,
)
from gate.program import UNKNOWN, ProgramRun, run_program
from policies.rules.metric_catalog import RDS_NAMESPACE, dimension_problem, is_known_metric

PROJECT_DIR = Path(__file__).resolve().parents[2]
TYPE = "resilient-rds:dashboard:Dashboard"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"

# prod's numbers: db.r6g.large (default max_connections 1802), 50 Lambdas + 20 tasks x 10, proxy at 90 %.
BUDGET = sizing.connection_budget(
    "db.r6g.large",
    sizing.Workload(lambda_concurrency=50, ecs_tasks=20, ecs_pool_size=10, other_clients=0, active_ratio=0.2),
    max_connections=None,
    proxy_max_connections_percent=90,
    replica_count=1,
)
THRESHOLDS = sizing.alarm_thresholds(BUDGET, allocated_storage_gib=100)
BORROW_US = sizing.borrow_latency_threshold_us(100, 120)


def _spec(**changes: Any) -> DashboardSpec:
    values: dict[str, Any] = {
        "name": "orders-prod-database",
        "region": "us-east-1",
        "primary_identifier": "orders-prod-db",
        "replica_identifiers": ["orders-prod-replica-1"],
        "proxy_name": "orders-prod-proxy",
        "budget": BUDGET,
        "thresholds": THRESHOLDS,
        "borrow_latency_threshold_us": BORROW_US,
        "connection_borrow_timeout_s": 120,
        "replica_lag_threshold_s": 60,
    }
    values.update(changes)
    return DashboardSpec(**values)


def _graphs(body: str) -> list[dict[str, Any]]:
    return [w for w in json.loads(body)["widgets"] if w["type"] == "metric"]


def _series(widget: dict[str, Any]) -> list[tuple[str, str, dict[str, str], str]]:
    """(namespace, metric, dimensions, stat) of every line of a graph."""
    out = []
    for row in widget["properties"]["metrics"]:
        *head, options = row
        namespace, metric, *pairs = head
        out.append((namespace, metric, dict(zip(pairs[::2], pairs[1::2], strict=True)), options["stat"]))
    return out


def _lines(widget: dict[str, Any]) -> list[float]:
    return [line["value"] for line in widget["properties"]["annotations"]["horizontal"]]


def _by_metric(body: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for widget in _graphs(body):
        for key in {f"{metric}/{','.join(sorted(dims))}" for _, metric, dims, _ in _series(widget)}:
            found.setdefault(key, []).append(widget)
    return found


@pytest.mark.parametrize("replicas", [[], ["r-1"], ["r-1", "r-2", "r-3"]])
def test_every_widget_metric_is_one_the_pack_accepts(replicas: list[str]) -> None:
    graphs = _graphs(dashboard_body(_spec(replica_identifiers=replicas)))
    assert graphs
    for widget in graphs:
        for namespace, metric, dims, stat in _series(widget):
            assert namespace == NAMESPACE_RDS == RDS_NAMESPACE
            assert is_known_metric(metric), metric
            assert dimension_problem(metric, dims) is None, (metric, dims)
            assert stat in ("Sum", "Average", "Maximum", "Minimum"), stat
            assert widget["properties"]["region"] == "us-east-1"
            assert widget["properties"]["period"] % 60 == 0  # RDS metrics have one-minute resolution


def test_lines_are_the_alarm_thresholds_and_the_budget_limits() -> None:
    body = dashboard_body(_spec())
    graphs = _by_metric(body)
    alarm_specs = [*primary_alarm_specs(THRESHOLDS), *proxy_alarm_specs(THRESHOLDS, BORROW_US), replica_lag_spec(60)]
    for alarm in alarm_specs:
        (widget, *_) = graphs[f"{alarm.metric_name}/{alarm.dimension}"]
        assert alarm.threshold in _lines(widget), alarm.suffix
        # The graph shows the statistic the alarm fires on.
        assert alarm.statistic in {s for _, m, _, s in _series(widget) if m == alarm.metric_name}, alarm.suffix
    (connections,) = graphs["DatabaseConnections/DBInstanceIdentifier"]
    assert sorted(_lines(connections)) == [THRESHOLDS.database_connections, BUDGET.max_connections] == [1441, 1802]
    (pool,) = graphs["DatabaseConnectionsCurrentlySessionPinned/ProxyName"]
    assert _lines(pool) == [BUDGET.proxy_db_connections]
    assert {m for _, m, _, _ in _series(pool)} == {
        "DatabaseConnections", "DatabaseConnectionsCurrentlyBorrowed", "DatabaseConnectionsCurrentlySessionPinned"
    }
    (borrow,) = graphs["DatabaseConnectionsBorrowLatency/ProxyName"]
    assert sorted(_lines(borrow)) == [BORROW_US, 120_000_000]  # the alarm fires before the borrow timeout


def test_every_database_is_on_the_resource_graphs() -> None:
    replicas = ["orders-prod-replica-1", "orders-prod-replica-2"]
    graphs = _by_metric(dashboard_body(_spec(replica_identifiers=replicas)))
    everyone = {"orders-prod-db", *replicas}
    for metric in ("CPUUtilization", "FreeableMemory", "FreeStorageSpace"):
        (widget,) = graphs[f"{metric}/DBInstanceIdentifier"]
        assert {d["DBInstanceIdentifier"] for _, _, d, _ in _series(widget)} == everyone
    (lag,) = graphs["ReplicaLag/DBInstanceIdentifier"]
    assert {d["DBInstanceIdentifier"] for _, _, d, _ in _series(lag)} == set(replicas)
    assert "ReplicaLag/DBInstanceIdentifier" not in _by_metric(dashboard_body(_spec(replica_identifiers=[])))


def test_layout_fits_the_grid_without_overlap() -> None:
    widgets = json.loads(dashboard_body(_spec()))["widgets"]
    assert len(widgets) <= 500  # PutDashboard's limit
    cells: set[tuple[int, int]] = set()
    for w in widgets:
        assert w["x"] >= 0 and w["x"] + w["width"] <= 24
        for x in range(w["x"], w["x"] + w["width"]):
            for y in range(w["y"], w["y"] + w["height"]):
                assert (x, y) not in cells, w
                cells.add((x, y))


def test_names_and_urls() -> None:
    assert dashboard_name("orders-prod") == "orders-prod-database"
    with pytest.raises(ValueError, match="'orders prod-database'"):
        dashboard_name("orders prod")
    with pytest.raises(ValueError, match="1-255 characters"):
        dashboard_name("x" * 250)
    with pytest.raises(ValueError, match="orders.prod"):
        dashboard_body(_spec(name="orders.prod"))
    assert dashboard_url("eu-west-1", "a-database") == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards/dashboard/a-database"
    )
    assert dashboard_url("cn-north-1", "a").startswith("https://console.amazonaws.cn/cloudwatch/home?region=cn-north-1")


def _args(**changes: Any) -> DashboardArgs:
    values: dict[str, Any] = {
        "prefix": "orders-prod",
        "budget": BUDGET,
        "thresholds": THRESHOLDS,
        "borrow_latency_threshold_us": BORROW_US,
        "connection_borrow_timeout_s": 120,
        "replica_lag_threshold_s": 60,
        "primary_identifier": "orders-prod-db",
        "replica_identifiers": ["orders-prod-replica-1"],
        "proxy_name": "orders-prod-proxy",
    }
    values.update(changes)
    return DashboardArgs(**values)


def _run(args: DashboardArgs, *, unknown_computed: bool = False, region: str = "eu-central-1") -> tuple[ProgramRun, Dashboard]:
    made: list[Dashboard] = []

    def program() -> None:
        board = Dashboard("dashboard", args)
        made.append(board)
        pulumi.export("dashboardName", board.dashboard_name)
        pulumi.export("dashboardUrl", board.url)

    run = run_program(PROJECT_DIR, "dev", config={"aws:region": region}, program=program, unknown_computed=unknown_computed)
    return run, made[0]




def test_component_declares_one_dashboard_from_the_pure_body(component_outputs: dict[str, dict[str, Any]]) -> None:
    run, _ = _run(_args())
    (component,) = run.by_type(TYPE)
    (board,) = run.by_type(DASHBOARD)
    assert board.parent == component.urn
    assert board.inputs["dashboardName"] == "orders-prod-database"
    # The provider's Region, resolved by the component, is the widgets' Region.
    assert board.inputs["dashboardBody"] == dashboard_body(_spec(region="eu-central-1"))
    assert run.outputs["dashboardName"] == "orders-prod-database"
    assert run.outputs["dashboardUrl"] == dashboard_url("eu-central-1", "orders-prod-database")
    assert component_outputs[component.urn] == {
        "dashboardName": "orders-prod-database",
        "dashboardUrl": run.outputs["dashboardUrl"],
    }


def test_component_follows_its_identifiers_and_explicit_region() -> None:
    def program() -> None:
        import pulumi_aws as aws

        db = aws.rds.Instance("db", identifier="orders-dev-db", engine="postgres", instance_class="db.t4g.micro",
                              allocated_storage=20)
        Dashboard("dashboard", _args(primary_identifier=db.identifier, replica_identifiers=[], region="us-west-2"))

    run = run_program(PROJECT_DIR, "dev", config={"aws:region": "us-east-1"}, program=program, unknown_computed=True)
    (board,) = run.by_type(DASHBOARD)
    (db,) = run.by_type("aws:rds/instance:Instance")
    assert board.property_dependencies["dashboardBody"] == [db.urn]
    body = board.inputs["dashboardBody"]
    assert body is not UNKNOWN  # an identifier the program sets is known even on a first preview
    assert json.loads(body)["widgets"][1]["properties"]["region"] == "us-west-2"
    assert "ReplicaLag" not in body


def test_bad_prefix_fails_before_any_resource() -> None:
    with pytest.raises(Exception, match="not accepted by CloudWatch"):
        _run(_args(prefix="orders/prod"))
