from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, text

from app import schema
from app.db import alembic_config, make_engine
from app.http import health
from tests.factories import assert_problem

HEAD = schema.shipped_migrations().get_heads()[0]


def test_healthz_needs_no_token(client) -> None:
    response = client.get("/healthz")
    assert response.json() == {"status": "ok"}


def test_readyz_says_the_database_answers(client) -> None:
    response = client.get("/readyz")
    assert response.json() == {"status": "ok", "database": "ok", "migrations": HEAD}


def test_readyz_is_503_when_the_database_does_not_answer(
    client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens on port 1: the connection is refused at once.
    dead = create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:1/nothing", connect_args={"connect_timeout": 1}
    )
    monkeypatch.setattr(health, "get_engine", lambda: dead)
    body = assert_problem(client.get("/readyz"), 503)
    assert body["detail"] == "The database does not answer."
    assert "psycopg" not in str(body) and "127.0.0.1" not in str(body)


def test_openapi_and_docs_need_no_token(client) -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/v1/sitreps" in spec["paths"] and "/api/v1/clusters/{code}/feed" in spec["paths"]
    assert "swagger-ui" in client.get("/docs").text


def test_openapi_declares_errors_as_problem_json(client) -> None:
    spec = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    amend = spec["paths"]["/api/v1/sitreps/{sitrep_id}"]["put"]["responses"]
    assert set(amend) == {
        "200",
        "400",
        "401",
        "403",
        "404",
        "408",
        "409",
        "412",
        "413",
        "415",
        "422",
        "428",
        "429",
        "503",
    }
    for status in ("409", "412", "428"):
        assert list(amend[status]["content"]) == ["application/problem+json"]
    validation = amend["422"]["content"]["application/problem+json"]["schema"]
    assert validation == {"$ref": "#/components/schemas/ValidationProblem"}
    assert list(amend["200"]["content"]) == ["application/json"]


@pytest.fixture
def other_database(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Engine]]:
    """A database of its own, which /readyz looks at instead of the test database."""
    engine = make_engine(empty_database_url)
    monkeypatch.setattr(health, "get_engine", lambda: engine)
    yield empty_database_url, engine
    engine.dispose()


def test_readyz_is_503_while_migrations_are_pending(client, other_database) -> None:
    url, _engine = other_database
    older = schema.shipped_migrations().get_revision(HEAD).down_revision
    assert isinstance(older, str)
    command.upgrade(alembic_config(url), older)

    response = client.get("/readyz")
    body = assert_problem(response, 503)
    assert body["type"] == "urn:crisis-tracker:problem:migrations-pending"
    assert body["current_revision"] == older and body["head_revision"] == HEAD
    assert older in body["detail"] and HEAD in body["detail"]
    assert "crisis-tracker db upgrade" in body["detail"]
    assert response.headers["Retry-After"]

    command.upgrade(alembic_config(url), "head")
    assert client.get("/readyz").json() == {"status": "ok", "database": "ok", "migrations": HEAD}


def test_readyz_is_503_on_a_database_never_migrated(client, other_database) -> None:
    body = assert_problem(client.get("/readyz"), 503)
    assert body["current_revision"] is None and body["head_revision"] == HEAD
    assert "empty database" in body["detail"]


def test_readyz_is_ready_on_a_database_a_newer_release_migrated(client, other_database) -> None:
    """During a rolling upgrade the new release migrates first; the old one keeps serving."""
    url, engine = other_database
    command.upgrade(alembic_config(url), "head")
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed0001'"))
    assert client.get("/readyz").json() == {
        "status": "ok",
        "database": "ok",
        "migrations": "f00dfeed0001",
    }
