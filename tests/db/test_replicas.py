"""Reads from a PostgreSQL hot standby (issue 4, part 3).

The tests start their own primary and a standby made from it by ``pg_basebackup -R``, and a
real ``crisis-tracker serve`` reading from that standby. They prove where each request
went by pausing replay on the standby (``pg_wal_replay_pause()``): a write is then on the
primary only, so whoever reads it did not read from the replica, and whoever misses it did.

They run when TRACKER_TEST_REPLICA=1 (CI sets it); the PostgreSQL programs must then be
installed. The rules of the replica module itself are tested without any server.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from app.config import Settings
from app.replica import Replica, client_key, parse_lsn
from tests.factories import assert_problem, line, make_user, sitrep
from tests.pgservers import PgServer, missing_postgres_programs, primary_and_standby
from tests.servers import Server, running

SITREPS = "/api/v1/sitreps"


# --- without servers -------------------------------------------------------------------


def test_wal_positions_compare_as_numbers() -> None:
    assert parse_lsn("0/3000148") == 0x3000148
    assert parse_lsn("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert parse_lsn("1/0") > parse_lsn("0/FFFFFFFF")


def test_a_replica_needs_postgresql_on_both_sides() -> None:
    with pytest.raises(ValidationError, match="needs PostgreSQL"):
        Settings(database_url=None, database_replica_url="postgresql+psycopg://replica/db")
    with pytest.raises(ValidationError, match="needs PostgreSQL"):
        Settings(database_url="postgresql+psycopg://primary/db", database_replica_url="sqlite://")
    Settings(
        database_url="postgresql+psycopg://primary/db",
        database_replica_url="postgresql+psycopg://replica/db",
    )


def test_the_client_key_does_not_hold_the_token() -> None:
    key = client_key("Bearer ct_secret")
    assert key is not None and "ct_secret" not in key
    assert key == client_key("Bearer ct_secret") != client_key("Bearer ct_other")
    assert client_key(None) is None


# --- a primary, a standby, and the service reading from it -----------------------------

enabled = os.environ.get("TRACKER_TEST_REPLICA") == "1"
needs_servers = pytest.mark.skipif(
    not enabled, reason="set TRACKER_TEST_REPLICA=1 to start a primary and a hot standby"
)


class Cluster:
    def __init__(self, primary: PgServer, standby: PgServer) -> None:
        self.primary_server = primary
        self.standby_server = standby
        self.primary_url = _database(primary.url)
        self.standby_url = _database(standby.url)
        self.primary = create_engine(self.primary_url, isolation_level="AUTOCOMMIT")
        self.standby = create_engine(
            self.standby_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True
        )

    def caught_up(self) -> bool:
        try:
            with self.primary.connect() as p, self.standby.connect() as s:
                written = p.execute(text("SELECT pg_current_wal_lsn()::text")).scalar_one()
                replayed = s.execute(text("SELECT pg_last_wal_replay_lsn()::text")).scalar_one()
        except OperationalError:  # the database itself is not replayed yet
            return False
        return parse_lsn(replayed) >= parse_lsn(written)

    def pause_replay(self) -> None:
        with self.standby.connect() as connection:
            connection.execute(text("SELECT pg_wal_replay_pause()"))

    def resume_replay(self) -> None:
        with self.standby.connect() as connection:
            connection.execute(text("SELECT pg_wal_replay_resume()"))

    def on_primary(self, sql: str, **params: Any) -> Any:
        with self.primary.connect() as connection:
            return connection.execute(text(sql), params).scalar_one()

    def user(self, role: str, **scope: Any) -> dict[str, str]:
        """A new user, made on the primary; returns its Authorization header."""
        return {"Authorization": f"Bearer {make_user(role, engine=self.primary, **scope)}"}


def _database(server_url: str) -> str:
    return make_url(server_url).set(database="tracker").render_as_string(hide_password=False)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if not enabled:
        pytest.skip("set TRACKER_TEST_REPLICA=1 to start a primary and a hot standby")
    missing = missing_postgres_programs()
    if missing:
        pytest.fail(f"TRACKER_TEST_REPLICA=1 but PostgreSQL programs are missing: {missing}")
    from alembic import command

    from app.db import alembic_config

    with primary_and_standby() as (primary, standby):
        admin = create_engine(primary.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text("CREATE DATABASE tracker"))
        admin.dispose()
        command.upgrade(alembic_config(_database(primary.url)), "head")
        nodes = Cluster(primary, standby)
        try:
            wait_for(nodes.caught_up, "the standby to replay the schema", timeout=30)
            yield nodes
        finally:
            nodes.primary.dispose()
            nodes.standby.dispose()


@pytest.fixture
def serve(cluster: Cluster, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """``serve(replica_max_lag_seconds=...)``: the service on the cluster's primary, reading
    from its standby. Replay is resumed and the standby running again afterwards."""
    with contextlib.ExitStack() as servers:

        def start(**settings: str) -> Server:
            server = servers.enter_context(
                running(
                    cluster.primary_url,
                    tmp_path / "server.log",
                    database_replica_url=cluster.standby_url,
                    **settings,
                )
            )
            wait_for(lambda: replica_status(server) == "ok", "the replica to be ok")
            return server

        try:
            yield start
        finally:
            servers.close()
            if not cluster.standby_server.running():
                cluster.standby_server.start()
            cluster.resume_replay()
            wait_for(cluster.caught_up, "the standby to catch up")


def replica_status(server: Server) -> str:
    body = httpx.get(f"{server.url}/readyz", timeout=5).json()
    return str(body.get("replica"))


def submit(server: Server, headers: dict[str, str], **fields: Any) -> httpx.Response:
    body = sitrep(line(reached=fields.pop("reached", 100)), **fields)
    return httpx.post(f"{server.url}{SITREPS}", json=body, headers=headers, timeout=10)


def get(server: Server, path: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.get(f"{server.url}{path}", headers=headers, timeout=10)


def sitrep_ids(server: Server, headers: dict[str, str]) -> set[int]:
    response = get(server, f"{SITREPS}?country=SDN", headers)
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


def reached(server: Server, headers: dict[str, str]) -> int:
    response = get(server, "/api/v1/totals?country=SDN&year=2024", headers)
    assert response.status_code == 200, response.text
    return sum(row["people_reached_in_periods"] for row in response.json()["rows"])


@needs_servers
def test_reads_go_to_the_replica_and_a_writer_reads_its_own_writes(
    cluster: Cluster, serve: Callable[..., Server]
) -> None:
    writer = cluster.user("field", countries=["SDN"])
    other = cluster.user("hq")
    coordinator = cluster.user("coordinator", clusters=["shelter"])
    wait_for(cluster.caught_up, "the users to reach the standby")
    server = serve(replica_max_lag_seconds="300")
    before = reached(server, other)

    cluster.pause_replay()
    created = submit(server, writer, reached=700)
    # The standby refuses every write: the write went to the primary.
    assert created.status_code == 201, created.text
    sitrep_id = created.json()["id"]
    assert cluster.on_primary("SELECT count(*) FROM sitreps WHERE id = :i", i=sitrep_id) == 1

    # The writer reads it at once, in every read...
    assert get(server, f"{SITREPS}/{sitrep_id}", writer).status_code == 200
    assert sitrep_id in sitrep_ids(server, writer)
    assert reached(server, writer) == before + 700
    # ... while other users read the replica, which has not replayed it yet.
    assert get(server, f"{SITREPS}/{sitrep_id}", other).status_code == 404
    assert sitrep_id not in sitrep_ids(server, other)
    assert reached(server, other) == before
    feed = get(server, "/api/v1/clusters/shelter/feed", coordinator)
    assert feed.status_code == 200
    assert sitrep_id not in {item["sitrep_id"] for item in feed.json()["items"]}

    # An amendment: the writer reads revision 2 while the replica still has only 1.
    cluster.resume_replay()
    wait_for(lambda: get(server, f"{SITREPS}/{sitrep_id}", other).status_code == 200, "replay")
    cluster.pause_replay()
    amended = httpx.put(
        f"{server.url}{SITREPS}/{sitrep_id}",
        json=sitrep(line(reached=900)),
        headers={**writer, "If-Match": created.headers["ETag"]},
        timeout=10,
    )
    assert amended.status_code == 200, amended.text
    assert get(server, f"{SITREPS}/{sitrep_id}", writer).json()["revision"] == 2
    assert get(server, f"{SITREPS}/{sitrep_id}", other).json()["revision"] == 1

    # A token made while replay is paused is not on the replica: it is checked on the primary.
    newcomer = cluster.user("hq")
    assert get(server, "/api/v1/me", newcomer).status_code == 200
    assert get(server, f"{SITREPS}/{sitrep_id}", newcomer).json()["revision"] == 1

    # Once a check of the replica has seen it replay the write, the writer reads from the
    # replica again: it misses what someone else writes while replay is paused.
    cluster.resume_replay()
    wait_for(lambda: get(server, f"{SITREPS}/{sitrep_id}", other).json()["revision"] == 2, "replay")
    cluster.pause_replay()
    someone = cluster.user("field", countries=["SDN"])
    assert submit(server, someone, start="2024-04-01", end="2024-04-30").status_code == 201
    assert reached(server, other) == before + 900
    wait_for(lambda: reached(server, writer) == before + 900, "the writer to read the replica")


@needs_servers
def test_a_lagging_replica_sends_reads_to_the_primary(
    cluster: Cluster, serve: Callable[..., Server]
) -> None:
    writer = cluster.user("field", countries=["SDN"])
    other = cluster.user("hq")
    wait_for(cluster.caught_up, "the users to reach the standby")
    server = serve(replica_max_lag_seconds="1")

    cluster.pause_replay()
    created = submit(server, writer, start="2023-03-01", end="2023-03-31")
    assert created.status_code == 201, created.text
    sitrep_id = created.json()["id"]
    wait_for(lambda: replica_status(server) == "lagging", "the replica to be seen lagging")
    assert get(server, f"{SITREPS}/{sitrep_id}", other).status_code == 200
    assert sitrep_id in sitrep_ids(server, other)
    ready = httpx.get(f"{server.url}/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["database"] == "ok"

    cluster.resume_replay()
    wait_for(lambda: replica_status(server) == "ok", "the replica to catch up")


@needs_servers
def test_a_token_revoked_while_the_replica_lags_is_refused_once_the_ttl_has_passed(
    cluster: Cluster, serve: Callable[..., Server]
) -> None:
    """Tokens are looked up on the primary: replica lag does not delay a revocation."""
    from app.auth.service import hash_token

    headers = cluster.user("hq")
    wait_for(cluster.caught_up, "the user to reach the standby")
    server = serve(replica_max_lag_seconds="300", auth_cache_seconds="0.5")
    assert get(server, "/api/v1/me", headers).status_code == 200

    cluster.pause_replay()
    token = headers["Authorization"].removeprefix("Bearer ")
    cluster.on_primary(
        "UPDATE api_tokens SET revoked_at = now() WHERE token_hash = :h RETURNING id",
        h=hash_token(token),
    )
    time.sleep(0.5)  # the TTL: every entry made before the revocation has expired
    for path in ("/api/v1/me", SITREPS):
        assert_problem(get(server, path, headers), 401)


@needs_servers
def test_a_stopped_replica_sends_reads_to_the_primary_without_an_error(
    cluster: Cluster, serve: Callable[..., Server]
) -> None:
    writer = cluster.user("field", countries=["SDN"])
    other = cluster.user("hq")
    coordinator = cluster.user("coordinator", clusters=["shelter"])
    wait_for(cluster.caught_up, "the users to reach the standby")
    server = serve(replica_max_lag_seconds="300")
    assert get(server, SITREPS, other).status_code == 200  # a pooled replica connection

    cluster.standby_server.stop()
    # The next reads find the replica gone and go to the primary, without an error.
    for path in (SITREPS, "/api/v1/totals", "/api/v1/crises", "/api/v1/clusters/shelter/feed"):
        who = coordinator if "feed" in path else other
        response = get(server, path, who)
        assert response.status_code == 200, (path, response.text)
    created = submit(server, writer, start="2022-03-01", end="2022-03-31")
    assert created.status_code == 201, created.text
    assert get(server, f"{SITREPS}/{created.json()['id']}", other).status_code == 200
    ready = httpx.get(f"{server.url}/readyz", timeout=5)
    assert ready.status_code == 200
    assert ready.json()["replica"] == "down"

    cluster.standby_server.start()
    wait_for(lambda: replica_status(server) == "ok", "the replica to be used again")
    assert get(server, SITREPS, other).status_code == 200


def test_the_replica_is_not_used_before_it_is_checked() -> None:
    engine = create_engine("sqlite://")
    replica = Replica(engine, primary=engine, max_lag_seconds=5)
    assert replica.state().status == "unknown"
    assert not replica.serves(None)
    engine.dispose()
