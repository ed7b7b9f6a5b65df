"""Request limits and CORS, each on an app built with its own settings."""

import json
import logging
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.main import create_app
from tests.factories import Api, assert_problem, line, make_user, sitrep
from tests.servers import Server, free_port, running


@pytest.fixture
def app_with(migrated: str, settings_env: Callable[..., None]) -> Callable[..., FastAPI]:
    def build(**settings: str) -> FastAPI:
        settings_env(**settings)
        return create_app()

    return build


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


def _post_slowly(
    server: Server, path: str, token: str, media_type: str, declared: int, sent: bytes
) -> socket.socket:
    """A client that declares a body of ``declared`` bytes and sends ``sent`` of it, for
    now; the server closes the connection after its answer."""
    where = urlsplit(server.url)
    connection = socket.create_connection((where.hostname, where.port), timeout=30)
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {where.netloc}\r\n"
        f"Authorization: Bearer {token}\r\n"
        f"Content-Type: {media_type}\r\n"
        f"Content-Length: {declared}\r\n"
        "Connection: close\r\n\r\n"
    )
    connection.sendall(head.encode() + sent)
    return connection


def _answer(connection: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """The response on a connection that the server closes after it."""
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    connection.close()
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, body


def test_slow_uploads_hold_nothing_and_hear_408(migrated: str, tmp_path: Path) -> None:
    """The reproduction of issue 13: one import whose client sent 8 bytes of a declared
    1 MB body and then nothing held SQLite's write lock (every other write a 503 after
    30 s), and 16 of them every request of other users on PostgreSQL. Bodies are now read
    whole before the request takes anything: with 16 such uploads open, another officer's
    submission and another user's read are answered at once, and each upload hears a 408
    once nothing has come for the body timeout (3 s here)."""
    importer = make_user("field", countries=["SDN"])
    officer = make_user("field", countries=["SDN"])
    hq = make_user("hq")
    with running(
        migrated, tmp_path / "server.log", body_timeout="3", rate_limit_per_minute="0"
    ) as server:
        slow = [
            _post_slowly(server, "/api/v1/imports", importer, "text/csv", 1_000_000, b"country,")
            for _ in range(16)
        ]
        time.sleep(0.5)  # every upload is in, waiting for the rest of its body
        started = time.monotonic()
        write = httpx.post(
            f"{server.url}/api/v1/sitreps",
            json=sitrep(line(admin1="SD01", reached=40)),
            headers={"Authorization": f"Bearer {officer}"},
            timeout=30,
        )
        read = httpx.get(
            f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {hq}"}, timeout=30
        )
        others = time.monotonic() - started
        answers = [_answer(connection) for connection in slow]
        waited = time.monotonic() - started
        # The limit is between two pieces of a body, not on the whole of it: a sitrep sent
        # in four pieces a second apart (4 s in all) is read whole and stored.
        document = json.dumps(sitrep(line(admin1="SD02", reached=75))).encode()
        pieces = [document[k * len(document) // 4 : (k + 1) * len(document) // 4] for k in range(4)]
        trickle = _post_slowly(
            server, "/api/v1/sitreps", officer, "application/json", len(document), pieces[0]
        )
        for piece in pieces[1:]:
            time.sleep(1)
            trickle.sendall(piece)
        trickled = _answer(trickle)
    assert write.status_code == 201, write.text
    assert write.json()["lines"][0]["people_reached"] == 40
    assert read.status_code == 200 and read.json()["role"] == "hq"
    # Neither waited for the uploads (which are answered only after 3 s).
    assert others < 2.0, others
    assert waited >= 2.4, waited
    for status, headers, body in answers:
        assert status == 408
        assert headers["content-type"] == "application/problem+json"
        assert headers["connection"] == "close"
        problem = json.loads(body)
        assert problem["type"] == "urn:crisis-tracker:problem:body-timeout"
        assert problem["status"] == 408
        assert "nothing came for 3 seconds, after 8 bytes" in problem["detail"]
    status, _headers, body = trickled
    assert status == 201, body
    assert json.loads(body)["lines"][0]["admin1"] == "SD02"


def test_rate_limit_per_user_is_429_with_retry_after(app_with) -> None:
    client = TestClient(
        app_with(rate_limit_per_minute="60", rate_limit_burst="3"), raise_server_exceptions=False
    )
    first = Api(client, make_user("hq"))
    second = Api(client, make_user("hq"))
    assert [first.get("/api/v1/me").status_code for _ in range(3)] == [200, 200, 200]
    limited = first.get("/api/v1/me")
    body = assert_problem(limited, 429)
    assert body["type"] == "urn:crisis-tracker:problem:rate-limited"
    assert "all its tokens count together" in body["detail"]
    # 3 requests in any 3 s: the first of them leaves the window within 3 s.
    assert 1 <= int(limited.headers["Retry-After"]) <= 3
    # Another user has its own budget; health checks carry no token and are not limited.
    assert second.get("/api/v1/me").status_code == 200
    assert all(client.get("/healthz").status_code == 200 for _ in range(10))


def _spellings(token: str) -> list[str]:
    """32 ways to write one Authorization header that all authenticate."""
    return [
        f"{scheme}{space}{token}{trail}"
        for scheme in ("Bearer", "bearer", "BEARER", "bEaReR")
        for space in (" ", "  ", "   ", "    ")
        for trail in ("", "  ")
    ]


@pytest.mark.parametrize("auth_cache_seconds", ["1", "0"])
def test_one_token_spelt_32_ways_is_limited_as_one(app_with, auth_cache_seconds: str) -> None:
    """The reproduction of issue 13: the limit was keyed on the raw header, so each
    spelling had a budget of its own. With the cache off, the user is looked up in the
    database for every request, on a thread, and counted the same."""
    client = TestClient(
        app_with(
            rate_limit_per_minute="1", rate_limit_burst="5", auth_cache_seconds=auth_cache_seconds
        ),
        raise_server_exceptions=False,
    )
    token = make_user("hq")
    statuses = [
        client.get("/api/v1/me", headers={"Authorization": spelling}).status_code
        for spelling in _spellings(token) * 4
    ]
    assert len(set(_spellings(token))) == 32
    assert statuses[:5] == [200] * 5
    assert statuses[5:] == [429] * (len(statuses) - 5)


def test_every_token_of_one_user_shares_its_limit(app_with) -> None:
    from app.auth import service as auth
    from app.db import new_session

    client = TestClient(
        app_with(rate_limit_per_minute="1", rate_limit_burst="4"), raise_server_exceptions=False
    )
    first = make_user("hq", name="amina")
    with new_session() as session:
        second = auth.issue_token(session, user=auth.get_user_by_name(session, name="amina"))
        session.commit()
    tokens = [Api(client, first), Api(client, second)]
    statuses = [tokens[i % 2].get("/api/v1/me").status_code for i in range(6)]
    assert statuses == [200, 200, 200, 200, 429, 429]


def test_requests_without_a_valid_token_are_limited_per_address(app_with) -> None:
    client = TestClient(
        app_with(rate_limit_per_minute="1", rate_limit_burst="3"), raise_server_exceptions=False
    )
    guesses = [
        client.get("/api/v1/me", headers={"Authorization": f"Bearer ct_guess{i}"}) for i in range(3)
    ]
    assert [r.status_code for r in guesses] == [401, 401, 401]
    body = assert_problem(client.get("/api/v1/me"), 429)
    assert "without a valid API token from this address" in body["detail"]
    # A user with a token is counted apart from the address it calls from.
    assert Api(client, make_user("hq")).get("/api/v1/me").status_code == 200


def test_a_redis_that_does_not_answer_leaves_the_limit_to_each_process(
    app_with, caplog: pytest.LogCaptureFixture
) -> None:
    """Requests are answered, and still limited, by this process alone; the log says why."""
    port = free_port()  # nothing listens there
    client = TestClient(
        app_with(
            rate_limit_per_minute="1",
            rate_limit_burst="3",
            redis_url=f"redis://127.0.0.1:{port}/0",
        ),
        raise_server_exceptions=False,
    )
    user = Api(client, make_user("hq"))
    with caplog.at_level(logging.WARNING, logger="app.http.limits"):
        statuses = [user.get("/api/v1/me").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    assert any("Redis is not answering" in r.getMessage() for r in caplog.records)


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


def test_a_burst_of_a_token_the_cache_does_not_know_makes_one_lookup(
    app_with, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import concurrent.futures
    import threading
    import time

    import httpx

    from app.auth import service as auth

    app = app_with(rate_limit_per_minute="600", rate_limit_burst="60")
    token = make_user("hq")
    lookups = 0
    lock = threading.Lock()
    live_user = auth._live_user

    def slow_live_user(*args, **kwargs):
        nonlocal lookups
        with lock:
            lookups += 1
        time.sleep(0.3)  # long enough for the whole burst to arrive meanwhile
        return live_user(*args, **kwargs)

    monkeypatch.setattr(auth, "_live_user", slow_live_user)
    auth.token_cache.clear()

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            headers = {"Authorization": f"Bearer {token}"}
            answers = await asyncio.gather(
                *(client.get("/api/v1/me", headers=headers) for _ in range(10))
            )
        return [answer.status_code for answer in answers]

    # On a thread of its own: the browser tests' Playwright keeps an event loop running
    # in the main thread for the whole session, where asyncio.run() is refused.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, burst()).result() == [200] * 10
    assert lookups == 1
