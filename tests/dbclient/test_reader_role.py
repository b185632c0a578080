"""dbclient/reader_role.sql against real PostgreSQL 15: idempotent, and the reader can read but not write.

RDS provides the ``rds_iam`` role; plain PostgreSQL does not, so a stand-in is
created first (a NOLOGIN role, which is all the script needs of it).
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors

from bench.pgcluster import PgCluster

pytestmark = pytest.mark.postgres

READER = "orders_reader"  # the default database.readerUsername, as written in the script


def _drop_reader(su: psycopg.Connection[Any]) -> None:
    exists = su.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (READER,)).fetchone()
    if exists:
        # Also removes its grants and the default privileges naming it, in this database.
        su.execute(f"DROP OWNED BY {READER}")
        su.execute(f"DROP ROLE {READER}")


@pytest.fixture
def clean_roles(su: psycopg.Connection[Any]) -> Iterator[None]:
    _drop_reader(su)
    created_rds_iam = su.execute("SELECT 1 FROM pg_roles WHERE rolname = 'rds_iam'").fetchone() is None
    if created_rds_iam:
        su.execute("CREATE ROLE rds_iam NOLOGIN")
    try:
        yield
    finally:
        su.execute("DROP TABLE IF EXISTS reader_role_later")
        _drop_reader(su)
        if created_rds_iam:
            su.execute("DROP ROLE rds_iam")


def test_reader_role_script_twice_then_reader_reads_and_cannot_write(
    pg: PgCluster, su: psycopg.Connection[Any], clean_roles: None
) -> None:
    script = resources.files("dbclient").joinpath("reader_role.sql").read_text()
    assert f"CREATE ROLE {READER} LOGIN" in script and f"GRANT rds_iam TO {READER}" in script
    # As a DBA runs it (psql, stop on the first error), twice: the second run must change nothing and fail nothing.
    pg.sql(script, dbname="app")
    pg.sql(script, dbname="app")

    role = su.execute(
        "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolpassword IS NULL FROM pg_authid WHERE rolname = %s",
        (READER,),
    ).fetchone()
    assert role == (True, False, False, False, True)  # logs in, no password, no powers
    assert su.execute("SELECT pg_has_role(%s, 'rds_iam', 'MEMBER')", (READER,)).fetchone() == (True,)
    grants = su.execute(
        "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member "
        "WHERE r.rolname = 'rds_iam' AND u.rolname = %s",
        (READER,),
    ).fetchone()
    assert grants == (1,)
    assert su.execute("SELECT has_database_privilege(%s, 'app', 'CONNECT')", (READER,)).fetchone() == (True,)

    # A table created after the script by the role that ran it (on RDS the master user) is readable too.
    su.execute("CREATE TABLE reader_role_later (id int)")
    su.execute("INSERT INTO orders (id, customer_id, status, total) VALUES (990001, 1, 'new', 1.00) ON CONFLICT DO NOTHING")

    # A real login (the test cluster trusts its Unix socket; on RDS the password is an IAM token).
    with psycopg.connect(pg.conninfo(dbname="app", user=READER, host=str(pg.socket_dir)), autocommit=True) as reader:
        assert reader.execute("SELECT current_user").fetchone() == (READER,)
        assert reader.execute("SELECT count(*) FROM orders WHERE id = 990001").fetchone() == (1,)
        assert reader.execute("SELECT count(*) FROM reader_role_later").fetchone() == (0,)
        for statement in (
            "INSERT INTO orders (id, customer_id, status, total) VALUES (990002, 1, 'new', 1.00)",
            "UPDATE orders SET status = 'x' WHERE id = 990001",
            "DELETE FROM orders WHERE id = 990001",
            "INSERT INTO reader_role_later VALUES (1)",
            "CREATE TABLE reader_role_own (id int)",
        ):
            with pytest.raises(pg_errors.InsufficientPrivilege):
                reader.execute(statement)
    assert su.execute("SELECT status FROM orders WHERE id = 990001").fetchone() == ("new",)
    su.execute("DELETE FROM orders WHERE id = 990001")
