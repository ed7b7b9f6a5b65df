"""PgBouncer in transaction pooling mode (issue 4, part 3).

With TRACKER_TEST_PGBOUNCER=1 and TRACKER_TEST_DATABASE naming a server, the conftest puts
a PgBouncer of its own (pool_mode=transaction, a small pool, so that clients share server
connections) between the whole run and the server. CI runs this file and a representative
part of the suite that way: submissions, amendments, withdrawals, batches, totals, feeds,
idempotent retries and concurrent writes. This file shows why the service needs
TRACKER_DATABASE_PGBOUNCER=1 there.
"""

import os
import threading
import time

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

pytestmark = pytest.mark.skipif(
    not (os.environ.get("TRACKER_TEST_DATABASE") and os.environ.get("TRACKER_TEST_PGBOUNCER")),
    reason="set TRACKER_TEST_PGBOUNCER=1 (with TRACKER_TEST_DATABASE) to go through PgBouncer",
)


def _libpq(url: str) -> str:
    parsed = make_url(url)
    return f"host={parsed.host} port={parsed.port} user={parsed.username} dbname={parsed.database}"


def test_prepared_statements_break_under_transaction_pooling(database_url: str) -> None:
    """What TRACKER_DATABASE_PGBOUNCER=1 prevents: psycopg prepares a statement after five
    runs, and another client given the same server connection collides with it."""
    first = psycopg.connect(_libpq(database_url), autocommit=True)
    second = psycopg.connect(_libpq(database_url), autocommit=True)
    try:
        with pytest.raises(psycopg.errors.DuplicatePreparedStatement):
            for _ in range(6):
                first.execute("SELECT 1 WHERE 1 = %s", (1,))
                second.execute("SELECT 2 WHERE 1 = %s", (1,))
    finally:
        first.close()
        second.close()


def test_the_service_prepares_no_statement(migrated: str) -> None:
    from app.db import get_engine

    engine = get_engine()
    with engine.connect() as first, engine.connect() as second:
        for _ in range(10):
            for connection in (first, second):
                connection.execute(text("SELECT count(*) FROM sitreps WHERE id = :i"), {"i": 1})
                connection.commit()
        driver_connection = first.connection.driver_connection
        assert isinstance(driver_connection, psycopg.Connection)
        assert driver_connection.prepare_threshold is None


def test_the_deadlines_hold_in_every_transaction_and_leave_the_server_connection(
    migrated: str, database_url: str
) -> None:
    """PgBouncer drops the startup options that set statement_timeout and lock_timeout
    directly on PostgreSQL; through it each transaction sets them with SET LOCAL, which
    another client later given the same server connection does not inherit."""
    from app.db import get_engine

    with get_engine().connect() as connection:
        for _ in range(3):
            shown = [connection.exec_driver_sql(f"SHOW {name}").scalar() for name in DEADLINES]
            assert shown == ["30s", "10s"]
            connection.commit()
    other = psycopg.connect(_libpq(database_url), autocommit=True)
    try:
        for _ in range(5):  # the pool is small: some of these run on the same servers
            assert [other.execute(f"SHOW {name}").fetchone() for name in DEADLINES] == [
                ("0",),
                ("0",),
            ]
    finally:
        other.close()


def test_a_queue_at_pgbouncer_is_a_wait_not_an_error(migrated: str, database_url: str) -> None:
    """Behind PgBouncer a pooled connection's ping (app.db) waits for a free server
    connection like any query. With every server connection busy for longer than two ping
    deadlines, the pool used to give up on the replacement too, with an error that is not
    a database error (a 500 under CI's concurrent writers). A connection just opened is not
    pinged, so the request waits in PgBouncer's queue and is answered."""
    from app.db import get_engine

    engine = get_engine()
    with engine.connect() as connection:  # one pooled connection, past its first checkout
        assert connection.exec_driver_sql("SELECT 1").scalar() == 1
    busy = threading.Barrier(POOL_SIZE + 1)

    def hold_a_server_connection() -> None:
        with psycopg.connect(_libpq(database_url), autocommit=True) as other:
            busy.wait()
            other.execute("SELECT pg_sleep(3)")

    holders = [threading.Thread(target=hold_a_server_connection) for _ in range(POOL_SIZE)]
    for holder in holders:
        holder.start()
    busy.wait()
    time.sleep(0.3)  # the sleeps have taken every server connection of the database
    started = time.monotonic()
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT 2").scalar() == 2
    finally:
        for holder in holders:
            holder.join()
    # It waited for a server connection to come free (the sleeps end about 2.7 s later).
    assert time.monotonic() - started > 2


POOL_SIZE = 4  # tests.pgservers.pgbouncer's default_pool_size
DEADLINES = ("statement_timeout", "lock_timeout")
