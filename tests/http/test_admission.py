"""Admission (app.http.admission): a burst waits for a place instead of stalling the pools, one
caller cannot take every place, and a request that waits too long hears the service is
busy, not that the database is down. Against a real server, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.db import new_session
from app.http.admission import caller_key
from app.sitreps import service as sitreps_service
from app.sitreps.schemas import SitrepCreate
from tests.factories import line, make_user, sitrep
from tests.servers import Server, running

SITREPS = "/api/v1/sitreps"
ME = "/api/v1/me"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def together(n: int, call: Callable[[int, httpx.Client], httpx.Response]) -> list[httpx.Response]:
    barrier = threading.Barrier(n, timeout=60)

    def run(i: int) -> httpx.Response:
        with httpx.Client(timeout=120) as http:
            barrier.wait()
            return call(i, http)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


@pytest.fixture
def small_server(migrated: str, tmp_path: Path) -> Iterator[Server]:
    """Two database connections, one place per caller, a 1.5 s wait."""
    with running(
        migrated,
        tmp_path / "server.log",
        pool_size="1",
        pool_max_overflow="1",
        max_requests_per_caller="1",
        pool_timeout="1.5",
        rate_limit_per_minute="0",
    ) as server:
        yield server


def test_a_burst_of_one_token_larger_than_the_pools_all_answers(
    migrated: str, tmp_path: Path
) -> None:
    """60 simultaneous requests of one token (the default burst) against 15 connections:
    every one is answered 200, none is a 503, and another user's reads answer too."""
    hq = make_user("hq")
    other = make_user("hq")
    with running(migrated, tmp_path / "server.log") as server:

        def call(i: int, http: httpx.Client) -> httpx.Response:
            if i % 10 == 9:
                return http.get(f"{server.url}{ME}", headers=auth(other))
            return http.get(f"{server.url}{SITREPS}", headers=auth(hq), params={"limit": 5})

        responses = together(66, call)
    statuses = [r.status_code for r in responses]
    assert statuses == [200] * 66, [r.text for r in responses if r.status_code != 200]
    # Each answer is the one asked for: the other user's profile, the officer's pages.
    assert len({r.json()["name"] for r in responses[9::10]}) == 1
    assert all("items" in r.json() for i, r in enumerate(responses) if i % 10 != 9)


def _blocked_submission(
    server: Server, token: str, body: dict[str, Any], pool: ThreadPoolExecutor
) -> Future[httpx.Response]:
    return pool.submit(
        lambda: httpx.post(f"{server.url}{SITREPS}", json=body, headers=auth(token), timeout=120)
    )


def _wait_until_in_progress(server: Server, n: int) -> None:
    """Until the server reports ``n`` requests to /api/v1/sitreps at work (its metrics)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        families = text_string_to_metric_families(httpx.get(f"{server.url}/metrics").text)
        running_now = sum(
            sample.value
            for family in families
            if family.name == "tracker_http_requests_in_progress"
            for sample in family.samples
            if sample.labels.get("route") == SITREPS and sample.labels.get("method") == "POST"
        )
        if running_now >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"{n} submissions never got to work")


def test_a_caller_holds_one_place_and_others_go_on_then_a_long_wait_is_busy(
    small_server: Server,
) -> None:
    """While the slots a submission writes are locked (as a long batch holds them), the
    officer's submission waits at work. The same officer's next request waits for that
    officer's one place and, after 1.5 s, is a 503 that says the service is busy and the
    database is up, with Retry-After. Another user's request is answered meanwhile. Once
    the lock goes, the first submission is stored."""
    officer = make_user("field", countries=["SDN"])
    hq = make_user("hq")
    body = sitrep(line("shelter", admin1="SD01", reached=10))
    with new_session(writes=True) as lock_holder, ThreadPoolExecutor(2) as pool:
        sitreps_service.lock_slots_of(lock_holder, [SitrepCreate.model_validate(body)])
        first = _blocked_submission(small_server, officer, body, pool)
        _wait_until_in_progress(small_server, 1)
        # Another user is not held up by the officer's request.
        me = httpx.get(f"{small_server.url}{ME}", headers=auth(hq), timeout=30)
        assert me.status_code == 200, me.text
        # The officer's second request has no place within the wait.
        second = httpx.get(f"{small_server.url}{SITREPS}", headers=auth(officer), timeout=30)
        assert second.status_code == 503, second.text
        problem = second.json()
        assert problem["type"] == "urn:crisis-tracker:problem:unavailable"
        assert "busy" in problem["detail"] and "database is up" in problem["detail"]
        assert int(second.headers["Retry-After"]) >= 1
        assert second.headers["Content-Type"] == "application/problem+json"
        assert not first.done()
        lock_holder.rollback()
        stored = first.result()
    assert stored.status_code == 201, stored.text
    assert stored.json()["lines"][0]["people_reached"] == 10


def test_the_caller_is_the_token_however_it_is_spelt() -> None:
    spellings = [b"Bearer ct_abc", b"bearer ct_abc", b"BEARER   ct_abc ", b"  Bearer ct_abc"]
    keys = {
        caller_key({"type": "http", "headers": [(b"authorization", s)], "client": ("1.2.3.4", 1)})
        for s in spellings
    }
    assert len(keys) == 1
    other = caller_key(
        {"type": "http", "headers": [(b"authorization", b"Bearer ct_xyz")], "client": None}
    )
    anonymous = caller_key({"type": "http", "headers": [], "client": ("1.2.3.4", 1)})
    assert other not in keys and anonymous not in keys
