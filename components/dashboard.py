"""Dashboard: what on-call looks at, drawn against the same numbers the alarms fire on.

Every line and threshold comes from :mod:`components.sizing` (the connection budget and
``AlarmThresholds``) and the same config values the alarms use; nothing is typed in here.
:func:`dashboard_body` is pure (plain values in, JSON text out) so the layout is tested
without Pulumi; the component only resolves the identifiers and the Region.

RDS Proxy publishes its metrics per underlying proxy node; the documented statistic for its
gauges is ``Sum`` (all nodes of the proxy), for its latencies ``Average``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
from pulumi import ResourceOptions

from components import sizing

NAMESPACE_RDS = "AWS/RDS"
#: PutDashboard: 1-255 characters, A-Z a-z 0-9 - _ only.
_DASHBOARD_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
#: The grid is 24 units wide: two graphs per row.
_WIDTH = 12
_HEIGHT = 6
_PERIOD_S = 60


@dataclass(frozen=True)
class DashboardSpec:
    """Everything the dashboard shows, as plain values."""

    name: str
    region: str
    primary_identifier: str
    replica_identifiers: Sequence[str]
    proxy_name: str
    budget: sizing.ConnectionBudget
    thresholds: sizing.AlarmThresholds
    borrow_latency_threshold_us: int
    connection_borrow_timeout_s: int
    replica_lag_threshold_s: int


def _checked_name(name: str) -> str:
    if not _DASHBOARD_NAME.match(name):
        raise ValueError(
            f"dashboard name {name!r} is not accepted by CloudWatch: 1-255 characters, letters, digits, '-' and '_' only"
        )
    return name


def dashboard_name(prefix: str) -> str:
    """``<prefix>-database``; raises ValueError naming the value when CloudWatch would refuse it."""
    return _checked_name(f"{prefix}-database")


def dashboard_url(region: str, name: str) -> str:
    """The console address of dashboard *name* (dashboards are global; the console opens in *region*)."""
    if region.startswith("cn-"):
        host = "console.amazonaws.cn"
    elif region.startswith("us-gov-"):
        host = "console.amazonaws-us-gov.com"
    else:
        host = f"{region}.console.aws.amazon.com"
    return f"https://{host}/cloudwatch/home?region={region}#dashboards/dashboard/{name}"


def _metric(metric_name: str, dimension: str, value: str, stat: str, label: str) -> list[Any]:
    return [NAMESPACE_RDS, metric_name, dimension, value, {"stat": stat, "label": label}]


def _line(value: float, label: str, color: str) -> dict[str, Any]:
    return {"value": value, "label": label, "color": color}


_RED = "#d62728"
_ORANGE = "#ff7f0e"


def _graph(title: str, metrics: list[list[Any]], region: str, lines: list[dict[str, Any]], *, y_label: str,
           y_max: float | None = None) -> dict[str, Any]:
    left: dict[str, Any] = {"min": 0, "label": y_label, "showUnits": False}
    if y_max is not None:
        left["max"] = y_max
    return {
        "type": "metric",
        "width": _WIDTH,
        "height": _HEIGHT,
        "properties": {
            "title": title,
            "view": "timeSeries",
            "region": region,
            "period": _PERIOD_S,
            "metrics": metrics,
            "annotations": {"horizontal": lines},
            "yAxis": {"left": left},
        },
    }


def dashboard_widgets(spec: DashboardSpec) -> list[dict[str, Any]]:
    """The widgets, top to bottom, left to right (positions are added by :func:`dashboard_body`)."""
    t = spec.thresholds
    dbs = [(spec.primary_identifier, "primary")] + [(r, f"replica {i + 1}") for i, r in enumerate(spec.replica_identifiers)]
    instance = "DBInstanceIdentifier"
    widgets = [
        _graph(
            "Database connections (primary) vs max_connections",
            [_metric("DatabaseConnections", instance, spec.primary_identifier, "Maximum", "connections")],
            spec.region,
            [
                _line(spec.budget.max_connections, f"max_connections {spec.budget.max_connections}", _RED),
                _line(t.database_connections, f"alarm {t.database_connections}", _ORANGE),
            ],
            y_label="connections",
        ),
        _graph(
            "RDS Proxy client connections",
            [_metric("ClientConnections", "ProxyName", spec.proxy_name, "Sum", "client connections")],
            spec.region,
            [
                _line(t.proxy_client_connections, f"alarm {t.proxy_client_connections}", _ORANGE),
                _line(spec.budget.client_connections, f"expected {spec.budget.client_connections}", "#2ca02c"),
            ],
            y_label="connections",
        ),
        _graph(
            "RDS Proxy borrow latency (microseconds)",
            [_metric("DatabaseConnectionsBorrowLatency", "ProxyName", spec.proxy_name, "Average", "borrow latency")],
            spec.region,
            [
                _line(spec.borrow_latency_threshold_us, f"alarm {spec.borrow_latency_threshold_us} us", _ORANGE),
                _line(
                    spec.connection_borrow_timeout_s * 1_000_000,
                    f"borrow timeout {spec.connection_borrow_timeout_s} s: clients fail",
                    _RED,
                ),
            ],
            y_label="microseconds",
        ),
        _graph(
            "RDS Proxy database connections: borrowed and session-pinned",
            [
                _metric("DatabaseConnections", "ProxyName", spec.proxy_name, "Sum", "open"),
                _metric("DatabaseConnectionsCurrentlyBorrowed", "ProxyName", spec.proxy_name, "Sum", "borrowed"),
                _metric("DatabaseConnectionsCurrentlySessionPinned", "ProxyName", spec.proxy_name, "Sum", "pinned"),
            ],
            spec.region,
            [
                _line(
                    spec.budget.proxy_db_connections,
                    f"proxy pool {spec.budget.proxy_db_connections} ({spec.budget.proxy_max_connections_percent} %)",
                    _RED,
                )
            ],
            y_label="connections",
        ),
    ]
    if spec.replica_identifiers:
        widgets.append(
            _graph(
                "Replica lag (seconds)",
                [_metric("ReplicaLag", instance, r, "Maximum", label) for r, label in dbs[1:]],
                spec.region,
                [_line(spec.replica_lag_threshold_s, f"alarm {spec.replica_lag_threshold_s} s", _ORANGE)],
                y_label="seconds",
            )
        )
    widgets += [
        _graph(
            "CPU utilization (%)",
            [_metric("CPUUtilization", instance, db, "Average", label) for db, label in dbs],
            spec.region,
            [_line(t.cpu_percent, f"alarm {t.cpu_percent:g} %", _ORANGE)],
            y_label="percent",
            y_max=100,
        ),
        _graph(
            "Freeable memory (bytes)",
            [_metric("FreeableMemory", instance, db, "Minimum", label) for db, label in dbs],
            spec.region,
            [_line(t.freeable_memory_bytes, f"alarm {t.freeable_memory_bytes // sizing.MIB} MiB", _ORANGE)],
            y_label="bytes",
        ),
        _graph(
            "Free storage (bytes)",
            [_metric("FreeStorageSpace", instance, db, "Minimum", label) for db, label in dbs],
            spec.region,
            [_line(t.free_storage_bytes, f"alarm {t.free_storage_bytes // sizing.GIB} GiB", _ORANGE)],
            y_label="bytes",
        ),
    ]
    return widgets


def dashboard_body(spec: DashboardSpec) -> str:
    """The ``dashboardBody`` JSON: a header, then the graphs two per row."""
    _checked_name(spec.name)
    header = {
        "type": "text",
        "x": 0,
        "y": 0,
        "width": 24,
        "height": 2,
        "properties": {
            "markdown": (
                f"## {spec.name}\n"
                f"Primary `{spec.primary_identifier}` behind RDS Proxy `{spec.proxy_name}`. Lines are the alarm "
                "thresholds and limits from the connection budget (components/sizing.py). Managed by Pulumi: "
                "edits in the console are overwritten."
            )
        },
    }
    widgets: list[dict[str, Any]] = [header]
    for index, widget in enumerate(dashboard_widgets(spec)):
        widgets.append({**widget, "x": (index % 2) * _WIDTH, "y": 2 + (index // 2) * _HEIGHT})
    return json.dumps({"start": "-PT6H", "periodOverride": "inherit", "widgets": widgets}, sort_keys=True)


@dataclass(frozen=True)
class DashboardArgs:
    prefix: str
    budget: sizing.ConnectionBudget
    thresholds: sizing.AlarmThresholds
    borrow_latency_threshold_us: int
    connection_borrow_timeout_s: int
    replica_lag_threshold_s: int
    primary_identifier: pulumi.Input[str]
    replica_identifiers: Sequence[pulumi.Input[str]]
    proxy_name: pulumi.Input[str]
    #: None: the Region of the provider the component is created with.
    region: pulumi.Input[str] | None = None


class Dashboard(pulumi.ComponentResource):
    dashboard_name: pulumi.Output[str]
    url: pulumi.Output[str]

    def __init__(self, name: str, args: DashboardArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("resilient-rds:dashboard:Dashboard", name, None, opts)
        board_name = dashboard_name(args.prefix)  # a bad prefix fails here, before anything is declared
        region: pulumi.Output[str] = (
            pulumi.Output.from_input(args.region)
            if args.region is not None
            else aws.get_region_output(opts=pulumi.InvokeOptions(parent=self)).region
        )

        def body(values: list[Any]) -> str:
            region_name, primary, proxy_name, *replicas = values
            return dashboard_body(
                DashboardSpec(
                    name=board_name,
                    region=region_name,
                    primary_identifier=primary,
                    replica_identifiers=replicas,
                    proxy_name=proxy_name,
                    budget=args.budget,
                    thresholds=args.thresholds,
                    borrow_latency_threshold_us=args.borrow_latency_threshold_us,
                    connection_borrow_timeout_s=args.connection_borrow_timeout_s,
                    replica_lag_threshold_s=args.replica_lag_threshold_s,
                )
            )

        board = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=board_name,
            dashboard_body=pulumi.Output.all(region, args.primary_identifier, args.proxy_name, *args.replica_identifiers).apply(
                body
            ),
            opts=ResourceOptions(parent=self),
        )
        self.dashboard_name = board.dashboard_name
        self.url = region.apply(lambda r: dashboard_url(r, board_name))
        self.register_outputs({"dashboardName": self.dashboard_name, "dashboardUrl": self.url})
