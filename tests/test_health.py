import pytest
from sqlalchemy import create_engine

from app import health
from tests.factories import assert_problem


def test_healthz_needs_no_token(client) -> None:
    response = client.get("/healthz")
    assert response.json() == {"status": "ok"}


def test_readyz_says_the_database_answers(client) -> None:
    response = client.get("/readyz")
    assert response.json() == {"status": "ok", "database": "ok"}


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
        "409",
        "412",
        "413",
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
