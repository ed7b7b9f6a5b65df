"""Request limits and CORS, each on an app built with its own settings."""

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import get_settings
from app.main import create_app
from tests.factories import Api, assert_problem, line, make_user, sitrep


@pytest.fixture
def app_with(migrated: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., FastAPI]]:
    def build(**settings: str) -> FastAPI:
        for name, value in settings.items():
            monkeypatch.setenv(f"TRACKER_{name.upper()}", value)
        get_settings.cache_clear()
        return create_app()

    yield build
    get_settings.cache_clear()


def test_body_over_the_cap_is_413_whatever_its_declared_length(app_with) -> None:
    client = TestClient(app_with(max_body_bytes="2048"), raise_server_exceptions=False)
    field = Api(client, make_user("field", countries=["SDN"]))
    big = sitrep(*[line(admin1=None, sector=s) for s in ("shelter",)], narrative="x" * 4000)
    body = assert_problem(field.post("/api/v1/sitreps", json=big), 413)
    assert body["type"] == "urn:crisis-tracker:problem:body-too-large"
    assert "2,048 bytes" in body["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the body streams in
        yield b'{"country": "SDN", "narrative": "'
        for _ in range(10):
            yield b"y" * 500
        yield b'"}'

    streamed = field.post(
        "/api/v1/sitreps", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_problem(streamed, 413)
    small = field.post("/api/v1/sitreps", json=sitrep(line()))
    assert small.status_code == 201, small.text
    assert len(field.get("/api/v1/sitreps").json()["items"]) == 1


def test_rate_limit_per_token_is_429_with_retry_after(app_with) -> None:
    client = TestClient(
        app_with(rate_limit_per_minute="60", rate_limit_burst="3"), raise_server_exceptions=False
    )
    first = Api(client, make_user("hq"))
    second = Api(client, make_user("hq"))
    assert [first.get("/api/v1/me").status_code for _ in range(3)] == [200, 200, 200]
    limited = first.get("/api/v1/me")
    body = assert_problem(limited, 429)
    assert body["type"] == "urn:crisis-tracker:problem:rate-limited"
    assert limited.headers["Retry-After"] == "1"
    # Another token has its own budget; health checks carry no token and are not limited.
    assert second.get("/api/v1/me").status_code == 200
    assert all(client.get("/healthz").status_code == 200 for _ in range(10))


def test_no_cors_headers_unless_origins_are_configured(app_with) -> None:
    client = TestClient(app_with(), raise_server_exceptions=False)
    response = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers
    preflight = client.options(
        "/api/v1/sitreps",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_allows_only_the_configured_origins(app_with) -> None:
    client = TestClient(
        app_with(cors_origins="https://dashboard.iom.int, https://hq.iom.int"),
        raise_server_exceptions=False,
    )
    preflight = client.options(
        "/api/v1/sitreps",
        headers={
            "Origin": "https://hq.iom.int",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Idempotency-Key",
        },
    )
    assert preflight.headers["access-control-allow-origin"] == "https://hq.iom.int"
    other = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_the_rate_limiter_forgets_the_least_recently_used_token_first() -> None:
    from app.limits import RateLimitMiddleware

    limiter = RateLimitMiddleware(lambda *_: None, per_minute=60, burst=1)  # type: ignore[arg-type]
    limiter.MAX_BUCKETS = 2
    assert limiter._take(b"a") == 0 and limiter._take(b"b") == 0
    assert limiter._take(b"a") > 0  # a is over its budget, and now the most recent
    assert limiter._take(b"c") == 0  # evicts b, the least recently used
    assert list(limiter.buckets) == [b"a", b"c"]
    assert limiter._take(b"a") > 0  # a's spent budget was kept
