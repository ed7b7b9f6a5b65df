"""Test harness.

One database per test run, built with the real migrations: an SQLite file by default, or,
when TRACKER_TEST_DATABASE names a PostgreSQL server (for example
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``), a fresh database created on it
for this run and dropped afterwards. After each test every table is emptied, so each test
starts from the migrated, empty schema while the service commits for real.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from sqlalchemy.orm import Session

    from tests.factories import Api
    from tests.pgservers import PgBouncer

SERVER_URL = os.environ.get("TRACKER_TEST_DATABASE")
# TRACKER_TEST_PGBOUNCER=1: the service reaches that server through a PgBouncer in
# transaction pooling mode that the run starts itself.
THROUGH_PGBOUNCER = bool(SERVER_URL) and os.environ.get("TRACKER_TEST_PGBOUNCER") == "1"
# The suite sends hundreds of requests a second with the same tokens; the rate limit has
# its own tests (test_limits.py), with their own settings.
os.environ["TRACKER_RATE_LIMIT_PER_MINUTE"] = "0"


def _create_postgres_database() -> tuple[str, str]:
    server = make_url(SERVER_URL)
    name = f"crisis_tracker_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server.set(database=name).render_as_string(hide_password=False), name


def _drop_postgres_database(name: str) -> None:
    admin = create_engine(make_url(SERVER_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _new_database(
    tmp_path_factory: pytest.TempPathFactory, bouncer: PgBouncer | None
) -> Iterator[str]:
    if SERVER_URL:
        url, name = _create_postgres_database()
        yield bouncer.url(name) if bouncer else url
        _drop_postgres_database(name)
    else:
        path: Path = tmp_path_factory.mktemp("db") / "crisis-tracker.db"
        yield f"sqlite:///{path}"


@pytest.fixture(scope="session")
def pgbouncer() -> Iterator[PgBouncer | None]:
    if not THROUGH_PGBOUNCER:
        yield None
        return
    from tests.pgservers import pgbouncer as start_pgbouncer

    server = make_url(SERVER_URL)
    os.environ["TRACKER_DATABASE_PGBOUNCER"] = "1"
    with start_pgbouncer(server.host or "127.0.0.1", server.port or 5432) as bouncer:
        yield bouncer


@pytest.fixture(scope="session")
def database_url(
    tmp_path_factory: pytest.TempPathFactory, pgbouncer: PgBouncer | None
) -> Iterator[str]:
    yield from _new_database(tmp_path_factory, pgbouncer)


@pytest.fixture
def empty_database_url(
    tmp_path_factory: pytest.TempPathFactory, pgbouncer: PgBouncer | None
) -> Iterator[str]:
    """A database of its own with no schema at all, for migration tests."""
    yield from _new_database(tmp_path_factory, pgbouncer)


@pytest.fixture(scope="module")
def module_database_url(
    tmp_path_factory: pytest.TempPathFactory, pgbouncer: PgBouncer | None
) -> Iterator[str]:
    """A database of its own for one test module, with no schema: for a server subprocess
    whose data outlives single tests (the tables of ``migrated`` are emptied after each)."""
    yield from _new_database(tmp_path_factory, pgbouncer)


@pytest.fixture(scope="session")
def migrated(database_url: str) -> Iterator[str]:
    """The schema, made by `crisis-tracker db upgrade`'s own code path."""
    from alembic import command

    from app.config import get_settings
    from app.db import _session_factory, alembic_config, get_engine, get_replica

    os.environ["TRACKER_DATABASE_URL"] = database_url
    get_settings.cache_clear()
    get_engine.cache_clear()
    _session_factory.cache_clear()
    get_replica.cache_clear()
    command.upgrade(alembic_config(database_url), "head")
    yield database_url
    get_engine().dispose()


@pytest.fixture(autouse=True)
def _no_claims_left_over(monkeypatch: pytest.MonkeyPatch) -> None:
    """Idempotency claims a test's outage left to release later stay with that test: its
    release thread never reaches another test's database."""
    from app.idempotency import service as idempotency

    monkeypatch.setattr(idempotency, "unreleased", idempotency.Unreleased())


@pytest.fixture(autouse=True)
def _empty_tables(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "migrated" not in request.fixturenames:
        return
    from app.db import Base, get_engine

    with get_engine().begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name == "counters":
                connection.execute(table.update().values(value=0))
            else:
                connection.execute(table.delete())


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """``settings_env(name=value, ...)``: sets TRACKER_<NAME> for this test and reads the
    settings afresh; both are undone afterwards."""
    from app.config import get_settings

    def apply(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"TRACKER_{name.upper()}", value)
        get_settings.cache_clear()

    yield apply
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def app(migrated: str) -> FastAPI:
    from app.main import create_app

    return create_app()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def session(migrated: str) -> Iterator[Session]:
    """A session for calling services directly; commit what a test needs the API to see."""
    from app.db import new_session

    with new_session() as db_session:
        yield db_session


@pytest.fixture
def api(client: TestClient) -> Callable[..., Api]:
    """``api(role, countries=..., clusters=...)``: a client authenticated as a new user."""
    from tests.factories import Api, make_user

    def as_new_user(role: str, **scope: Any) -> Api:
        return Api(client, make_user(role, **scope))

    return as_new_user


# One user of each role most tests act as; a module that needs them otherwise (a name of
# its own, other countries) defines its own under another name, or overrides one with a
# reason.
@pytest.fixture
def field(api: Callable[..., Api]) -> Api:
    """A field officer for Sudan."""
    return api("field", countries=["SDN"])


@pytest.fixture
def hq(api: Callable[..., Api]) -> Api:
    return api("hq")


@pytest.fixture
def admin(api: Callable[..., Api]) -> Api:
    return api("admin")
