"""policies/rules/postgres_parameters.py: the postgres15 parameter catalogue (no gRPC)."""

from __future__ import annotations

import pytest

from policies.rules import postgres_parameters as pp


@pytest.mark.parametrize("name", [
    "work_mem", "max_connections", "shared_buffers", "idle_in_transaction_session_timeout", "statement_timeout",
    "DateStyle", "TimeZone", "hash_mem_multiplier", "rds.force_ssl", "rds.logical_replication",
    "rds.rds_superuser_reserved_connections", "pg_stat_statements.track", "pgaudit.log", "auto_explain.log_min_duration",
])
def test_names_the_postgres15_family_has(name):
    assert pp.known_postgres15_parameter(name)


@pytest.mark.parametrize("name", [
    "max_conections",  # typo
    "work_mem_kb",
    "idle_in_transaction_timeout",  # MySQL-ish spelling
    "wal_keep_segments",  # removed in PostgreSQL 13
    "stats_temp_directory",  # removed in PostgreSQL 15
    "vacuum_cleanup_index_scale_factor",  # removed in PostgreSQL 14
    "rds.pg_stat_ramdisk_size",  # RDS for PostgreSQL 14 and lower only
    "rds.force_tls",
    "server_version",  # internal: read-only
    "block_size",
])
def test_names_the_postgres15_family_does_not_have(name):
    assert not pp.known_postgres15_parameter(name)


def test_static_parameters_come_from_the_postmaster_context():
    for name in ("max_connections", "shared_buffers", "shared_preload_libraries", "wal_buffers", "max_wal_senders",
                 "rds.logical_replication", "cron.database_name", "pg_stat_statements.max"):
        assert pp.is_static_postgres15_parameter(name), name
    dynamic = ("work_mem", "statement_timeout", "rds.force_ssl", "idle_in_transaction_session_timeout", "log_temp_files")
    for name in dynamic:
        assert not pp.is_static_postgres15_parameter(name), name


def test_rds_managed_settings_exist_in_postgresql():
    assert pp.RDS_MANAGED_SETTINGS <= pp.POSTGRES15_SETTINGS
    assert pp.POSTGRES15_STATIC_SETTINGS <= pp.POSTGRES15_SETTINGS


@pytest.mark.parametrize(("family", "expected"), [
    ("postgres15", ("postgres", 15)), ("POSTGRES16", ("postgres", 16)), ("aurora-postgresql14", ("aurora-postgresql", 14)),
    ("postgres9.6", ("postgres", 9)), ("mysql8.0", None), ("postgres", None),
])
def test_family_major(family, expected):
    assert pp.family_major(family) == expected


@pytest.mark.parametrize(("version", "major"), [("15", 15), ("15.8", 15), ("16.4-R2", 16), ("9.6.22", 9), ("latest", None)])
def test_engine_major(version, major):
    assert pp.engine_major(version) == major


def test_force_ssl_defaults_on_from_postgres15():
    assert [pp.force_ssl_default(m) for m in (13, 14, 15, 16, 17)] == [0, 0, 1, 1, 1]
