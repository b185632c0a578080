"""components/sizing.py: the seed's numbers, made executable."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components import sizing
from components.sizing import GIB, Workload

SEED_WORKLOAD = Workload(lambda_concurrency=50, ecs_tasks=20, ecs_pool_size=10)


def test_seed_direct_demand_exhausts_db_t3_medium_with_max_connections_100() -> None:
    budget = sizing.connection_budget("db.t3.medium", SEED_WORKLOAD, max_connections=100)
    assert budget.client_connections == 250
    assert budget.max_connections == 100
    assert budget.direct_exhausted
    assert budget.direct_shortfall == 250 - (100 - sizing.SUPERUSER_RESERVED_CONNECTIONS)
    assert dict(budget.rows())["direct to the database"] == "EXHAUSTED: 250 needed vs 100 available"


def test_seed_proxy_needs_about_50_database_connections() -> None:
    budget = sizing.connection_budget("db.t3.medium", SEED_WORKLOAD, max_connections=100)
    assert budget.proxy_db_connections_needed == 50  # the scenario's "Total DB connections: 50"
    assert budget.proxy_db_connections == 100 - sizing.SUPERUSER_RESERVED_CONNECTIONS
    assert budget.proxy_sufficient


def test_defaults_for_the_classes_in_the_scenario() -> None:
    assert sizing.default_max_connections("db.t3.medium") == 450
    assert sizing.default_max_connections("db.r6g.large") == 1802  # design.md: "about 1,700" live
    # The seed's max_connections = 200 on r6g.large lowers the default nine-fold.
    assert sizing.default_max_connections("db.r6g.large") > 200 * 9


def test_max_connections_is_capped_at_5000() -> None:
    assert sizing.default_max_connections("db.r6i.32xlarge") == sizing.MAX_CONNECTIONS_CAP
    assert sizing.default_max_connections("db.r6g.xlarge") == 32 * GIB // 9531392 == 3604
    assert sizing.default_max_connections("db.r6g.2xlarge") == sizing.MAX_CONNECTIONS_CAP


def test_seed_shared_buffers_over_4_is_8192_times_the_default() -> None:
    seed_pages = sizing.evaluate_parameter_value("{DBInstanceClassMemory/4}", "db.r6g.large")
    default_pages = sizing.default_shared_buffers_pages("db.r6g.large")
    assert seed_pages / default_pages == 8192
    # In bytes: pages of 8 kB, so the seed asks for 2048 x the instance's RAM.
    assert seed_pages * sizing.PAGE_BYTES / sizing.instance_memory_bytes("db.r6g.large") == 2048
    assert default_pages * sizing.PAGE_BYTES == sizing.instance_memory_bytes("db.r6g.large") // 4


def test_seed_work_mem_64mb_with_200_connections_overflows_r6g_large() -> None:
    check = sizing.memory_check("db.r6g.large", max_connections=200, work_mem_kb=65536)
    assert check.worst_case_bytes == 4 * GIB + 200 * 64 * 1024 * 1024
    assert not check.fits
    assert sizing.memory_check("db.r6g.large").fits  # defaults: 4 MB x 1802 + 4 GiB


def test_budget_through_proxy_uses_percent_and_reserve() -> None:
    budget = sizing.connection_budget("db.r6g.large", SEED_WORKLOAD, proxy_max_connections_percent=90, replica_count=1)
    assert budget.max_connections_is_default
    assert budget.reserved_connections == 6
    assert budget.proxy_db_connections == 1802 * 90 // 100
    assert not budget.direct_exhausted
    assert budget.summary()["proxySufficient"] is True
    tiny = sizing.connection_budget("db.t3.micro", SEED_WORKLOAD, proxy_max_connections_percent=10)
    assert tiny.proxy_db_connections == sizing.default_max_connections("db.t3.micro") // 10
    assert not tiny.proxy_sufficient
    assert "NOT ENOUGH" in dict(tiny.rows())["through RDS Proxy"]


def test_budget_rejects_percent_out_of_range() -> None:
    with pytest.raises(ValueError, match="1..100"):
        sizing.connection_budget("db.r6g.large", SEED_WORKLOAD, proxy_max_connections_percent=0)


def test_alarm_thresholds_follow_the_budget_not_a_typed_number() -> None:
    budget = sizing.connection_budget("db.r6g.large", SEED_WORKLOAD)
    thresholds = sizing.alarm_thresholds(budget, allocated_storage_gib=100)
    assert thresholds.database_connections == 1802 * 80 // 100 == 1441  # the seed hard-coded 150
    assert thresholds.proxy_client_connections == 300  # 250 expected clients + 20 %
    assert thresholds.freeable_memory_bytes == 16 * GIB // 10
    assert thresholds.free_storage_bytes == 100 * GIB // 10
    lower = sizing.alarm_thresholds(budget, allocated_storage_gib=100, connections_percent=50)
    assert lower.database_connections == 901


def test_borrow_latency_threshold_is_in_microseconds_and_below_the_timeout() -> None:
    assert sizing.borrow_latency_threshold_us(100, 120) == 100_000
    with pytest.raises(ValueError):
        sizing.borrow_latency_threshold_us(120_000, 120)
    with pytest.raises(ValueError):
        sizing.borrow_latency_threshold_us(0, 120)


def test_ecs_pool_bounds_keep_the_busy_share_warm() -> None:
    assert sizing.ecs_pool_bounds(SEED_WORKLOAD) == (2, 10)
    assert sizing.ecs_pool_bounds(Workload(0, 1, 1)) == (1, 1)


@pytest.mark.parametrize(
    ("instance_class", "gib"),
    [
        ("db.t3.micro", 1),
        ("db.t4g.medium", 4),
        ("db.m5.large", 8),
        ("db.m6g.16xlarge", 256),
        ("db.m7g.xlarge", 16),
        ("db.r5.24xlarge", 768),
        ("db.r6i.32xlarge", 1024),
        ("db.r7g.large", 16),
        ("db.m6i.2xlarge", 32),
    ],
)
def test_instance_memory_table(instance_class: str, gib: int) -> None:
    assert sizing.instance_memory_bytes(instance_class) == gib * GIB


def test_unknown_instance_class_is_named() -> None:
    with pytest.raises(sizing.UnknownInstanceClass, match="db.x1e.large"):
        sizing.instance_memory_bytes("db.x1e.large")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{DBInstanceClassMemory/9531392}", 1802.0 + (16 * GIB / 9531392 - 1802)),
        ("LEAST({DBInstanceClassMemory/9531392},5000)", 16 * GIB / 9531392),
        ("GREATEST({DBInstanceClassMemory/9531392}, 6000)", 6000.0),
        ("SUM({DBInstanceClassMemory/32768}, 10)", 16 * GIB / 32768 + 10),
        ("4096", 4096.0),
    ],
)
def test_parameter_formulas(value: str, expected: float) -> None:
    assert sizing.evaluate_parameter_value(value, "db.r6g.large") == pytest.approx(expected)


@pytest.mark.parametrize("value", ["64MB", "{DBInstanceClassMemory/0}", "{Foo/2}", "LEAST(1,"])
def test_parameter_formulas_reject_what_rds_would_not_evaluate(value: str) -> None:
    with pytest.raises(sizing.FormulaError):
        sizing.evaluate_parameter_value(value, "db.r6g.large")


# --- Memory: certain overcommit (design point) vs theoretical worst case (issue 8, section 3) -------

MIB_KB = 1024  # work_mem is in kB


def test_work_mem_16mb_with_default_connections_on_16_gib_is_only_a_worst_case_risk() -> None:
    check = sizing.memory_check("db.r6g.large", work_mem_kb=16 * MIB_KB)
    assert check.memory_bytes == 16 * GIB
    assert check.max_connections == check.open_connections == 1802
    assert not check.fits  # 1,802 x 16 MB + 4 GiB = 32 GiB: every connection sorting at once
    assert check.active_connections == 361  # 20 % of 1,802, rounded up
    assert check.design_point_bytes == 4 * GIB + 361 * 16 * 1024 * 1024  # 9.6 GiB
    assert not check.certain_overcommit()


def test_work_mem_1gb_with_1600_connections_is_a_certain_overcommit() -> None:
    check = sizing.memory_check("db.r6g.large", max_connections=1600, work_mem_kb=1024 * MIB_KB)
    assert check.active_connections == 320
    assert check.design_point_bytes == 4 * GIB + 320 * GIB
    assert check.certain_overcommit()


def test_one_hash_node_that_cannot_fit_is_certain_even_with_few_connections() -> None:
    # hash_mem_multiplier raised to 8: one 2 GiB x 8 hash node next to 4 GiB of shared_buffers on 16 GiB.
    check = sizing.memory_check("db.r6g.large", max_connections=6, work_mem_kb=2 * 1024 * MIB_KB, hash_mem_multiplier=8)
    assert check.design_point_bytes == 4 * GIB + 2 * 2 * GIB  # 2 of 6 connections active
    assert check.single_operation_bytes == 4 * GIB + 16 * GIB
    assert check.certain_overcommit()
    assert not sizing.memory_check(
        "db.r6g.large", max_connections=6, work_mem_kb=2 * 1024 * MIB_KB, hash_mem_multiplier=4
    ).certain_overcommit()


def test_the_proxy_caps_the_connections_that_can_be_open() -> None:
    direct = sizing.memory_check("db.r6g.large", work_mem_kb=64 * MIB_KB)
    proxied = sizing.memory_check("db.r6g.large", work_mem_kb=64 * MIB_KB, proxy_max_connections_percent=40)
    assert proxied.open_connections == sizing.proxy_connection_limit(1802, 40) == 720
    assert direct.certain_overcommit()  # 361 x 64 MB + 4 GiB = 26.6 GiB
    assert not proxied.certain_overcommit()  # 144 x 64 MB + 4 GiB = 13 GiB
    assert direct.worst_case_bytes == proxied.worst_case_bytes  # the worst case ignores the proxy


def test_seed_work_mem_is_a_worst_case_risk_not_a_certain_overcommit() -> None:
    check = sizing.memory_check("db.r6g.large", max_connections=200, work_mem_kb=65536)
    assert not check.fits
    assert not check.certain_overcommit()
    assert check.certain_overcommit(limit_bytes=6 * GIB)  # 40 x 64 MB + 4 GiB = 6.5 GiB


def test_memory_check_rejects_impossible_ratios() -> None:
    with pytest.raises(ValueError, match="active_ratio"):
        sizing.memory_check("db.r6g.large", active_ratio=0)
    with pytest.raises(ValueError, match="hash_mem_multiplier"):
        sizing.memory_check("db.r6g.large", hash_mem_multiplier=0.5)


@given(
    instance_class=st.sampled_from(sorted(sizing.INSTANCE_MEMORY_GIB)),
    max_connections=st.integers(min_value=6, max_value=8_388_607),
    work_mem_kb=st.integers(min_value=64, max_value=2_147_483_647),
    percent=st.one_of(st.none(), st.integers(min_value=1, max_value=100)),
)
@settings(max_examples=200, deadline=None)
def test_a_certain_overcommit_is_always_also_a_worst_case_overcommit(
    instance_class: str, max_connections: int, work_mem_kb: int, percent: int | None
) -> None:
    check = sizing.memory_check(
        instance_class, max_connections=max_connections, work_mem_kb=work_mem_kb, proxy_max_connections_percent=percent
    )
    assert check.design_point_bytes <= check.worst_case_bytes
    if check.certain_overcommit():
        assert not check.fits
