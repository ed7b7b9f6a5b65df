"""Concurrent writers against a real server with two worker processes (issue 3, points 1
and 5), on whichever database the run uses.

Concurrent duplicates of one write with one Idempotency-Key make exactly one effect, and
every answer is the first answer or a 409 "in use"; many different concurrent writers get
no 5xx and, on SQLite, never "database is locked"; every acknowledged write exists once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from app.audit.models import AuditEvent
from app.config import get_settings
from app.db import new_session, utcnow
from app.idempotency import service as idempotency
from app.idempotency.models import IdempotencyKey
from app.sitreps.models import Sitrep, SitrepRevision
from tests.factories import line, make_user, sitrep
from tests.servers import Server, running

SITREPS = "/api/v1/sitreps"
BATCH = "/api/v1/sitreps/batch"
IN_USE = "urn:crisis-tracker:problem:idempotency-key-in-use"
LOCKED = "database is locked"
THREADS = 20
WORKERS = 2
REQUEST_TIMEOUT = 60.0

SUDAN_ADMIN1 = [f"SD{n:02d}" for n in range(1, 20)]
SECTORS = ("shelter", "wash", "cccm", "cash", "health")


# --- the server ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(migrated: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(
        migrated, tmp_path_factory.mktemp("server") / "server.log", workers=WORKERS
    ) as server:
        yield server


@pytest.fixture
def fresh_log(server: Server) -> Iterator[None]:
    """After the test: nothing in the server's log says the database was locked or that a
    request failed unexpectedly."""
    start = server.log.stat().st_size
    yield
    with server.log.open("rb") as f:
        f.seek(start)
        text = f.read().decode(errors="replace")
    assert LOCKED not in text, text
    assert "Traceback" not in text, text
    assert server.process.poll() is None, "the server died during the test"


# --- helpers ---------------------------------------------------------------------------


def concurrently(
    n: int, call: Callable[[int, httpx.Client], httpx.Response]
) -> list[httpx.Response]:
    """Runs call(i, client) for i in range(n) on n threads, each with a connection of its
    own, released together by a barrier."""
    barrier = threading.Barrier(n, timeout=REQUEST_TIMEOUT)

    def run(i: int) -> httpx.Response:
        with httpx.Client(timeout=REQUEST_TIMEOUT) as http:
            barrier.wait()
            return call(i, http)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def auth(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def count(model: Any, *where: Any) -> int:
    with new_session() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def assert_no_server_errors(responses: list[httpx.Response]) -> None:
    for response in responses:
        assert response.status_code < 500, response.text
        assert LOCKED not in response.text, response.text


def assert_first_answer_or_in_use(responses: list[httpx.Response], status: int) -> bytes:
    """Every answer is the same first answer or a 409 in-use; returns the first answer."""
    assert_no_server_errors(responses)
    answers = [r for r in responses if r.status_code == status]
    busy = [r for r in responses if r.status_code != status]
    assert answers, [r.text for r in responses]
    assert len({r.content for r in answers}) == 1, {r.content for r in answers}
    assert sum(1 for r in answers if r.headers.get("Idempotent-Replayed") != "true") <= 1
    for response in busy:
        assert response.status_code == 409, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["type"] == IN_USE, response.text
    return answers[0].content


def all_sitrep_ids(url: str, token: str) -> list[int]:
    ids: list[int] = []
    cursor: str | None = None
    with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT) as http:
        while True:
            params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            response = http.get(SITREPS, params=params, headers=auth(token))
            assert response.status_code == 200, response.text
            ids += [item["id"] for item in response.json()["items"]]
            cursor = response.json()["next_cursor"]
            if cursor is None:
                return ids


# --- concurrent duplicates of one write ------------------------------------------------


@pytest.mark.usefixtures("fresh_log")
@pytest.mark.parametrize("round_", range(3))
def test_concurrent_duplicates_of_a_submission_make_one_sitrep(server: Server, round_: int) -> None:
    token = make_user("field", countries=["SDN"])
    key = f"dup-{round_}"
    body = sitrep(line(admin1=SUDAN_ADMIN1[round_], reached=100 + round_))

    responses = concurrently(
        THREADS,
        lambda _, http: http.post(
            f"{server.url}{SITREPS}", json=body, headers=auth(token, **{"Idempotency-Key": key})
        ),
    )
    first = assert_first_answer_or_in_use(responses, 201)
    assert count(Sitrep) == 1
    assert count(SitrepRevision) == 1
    assert count(AuditEvent, AuditEvent.action == "sitrep.submit") == 1

    sitrep_id = httpx.Response(201, content=first).json()["id"]
    assert all_sitrep_ids(server.url, make_user("hq")) == [sitrep_id]
    # Once the dust has settled, a retry is the first answer.
    retry = httpx.post(
        f"{server.url}{SITREPS}",
        json=body,
        headers=auth(token, **{"Idempotency-Key": key}),
        timeout=REQUEST_TIMEOUT,
    )
    assert retry.status_code == 201 and retry.content == first
    assert retry.headers["Idempotent-Replayed"] == "true"


@pytest.mark.usefixtures("fresh_log")
def test_concurrent_duplicates_of_a_batch_make_each_sitrep_once(server: Server) -> None:
    token = make_user("field", countries=["SDN"])
    items = [sitrep(line(admin1=a)) for a in SUDAN_ADMIN1[:5]]

    responses = concurrently(
        THREADS,
        lambda _, http: http.post(
            f"{server.url}{BATCH}",
            json={"sitreps": items},
            headers=auth(token, **{"Idempotency-Key": "backlog"}),
        ),
    )
    first = assert_first_answer_or_in_use(responses, 200)
    result = httpx.Response(200, content=first).json()
    assert [r["status"] for r in result["results"]] == [201] * 5
    assert count(Sitrep) == 5
    assert sorted(all_sitrep_ids(server.url, make_user("hq"))) == sorted(
        r["sitrep"]["id"] for r in result["results"]
    )


@pytest.mark.usefixtures("fresh_log")
def test_concurrent_duplicates_of_an_amendment_make_one_revision(server: Server) -> None:
    token = make_user("field", countries=["SDN"])
    created = httpx.post(
        f"{server.url}{SITREPS}", json=sitrep(), headers=auth(token), timeout=REQUEST_TIMEOUT
    )
    assert created.status_code == 201, created.text
    url = f"{server.url}{SITREPS}/{created.json()['id']}"
    headers = auth(token, **{"Idempotency-Key": "amend", "If-Match": created.headers["ETag"]})

    responses = concurrently(
        THREADS, lambda _, http: http.put(url, json=sitrep(line(reached=555)), headers=headers)
    )
    first = assert_first_answer_or_in_use(responses, 200)
    assert httpx.Response(200, content=first).json()["revision"] == 2
    assert count(SitrepRevision) == 2
    assert count(AuditEvent, AuditEvent.action == "sitrep.amend") == 1


@pytest.mark.usefixtures("fresh_log")
def test_concurrent_retries_take_over_a_dead_claim_once(server: Server) -> None:
    """The first request died holding the key (its process was killed): of many retries
    after the lease, one runs it, and the others get its answer or a 409."""
    token = make_user("field", countries=["SDN"])
    me = httpx.get(f"{server.url}/api/v1/me", headers=auth(token), timeout=REQUEST_TIMEOUT)
    body = sitrep(line(reached=77))
    content = json.dumps(body).encode()
    idempotency.claim(
        user_id=me.json()["id"],
        key="orphan",
        fingerprint=idempotency.fingerprint("POST", SITREPS, content),
    )
    lease = get_settings().idempotency_lease_seconds
    with new_session(writes=True) as session:
        session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key == "orphan")
            .values(locked_at=utcnow() - timedelta(seconds=lease + 1))
        )
        session.commit()

    headers = auth(token, **{"Idempotency-Key": "orphan", "Content-Type": "application/json"})
    responses = concurrently(
        THREADS,
        lambda _, http: http.post(f"{server.url}{SITREPS}", content=content, headers=headers),
    )
    first = assert_first_answer_or_in_use(responses, 201)
    assert httpx.Response(201, content=first).json()["lines"][0]["people_reached"] == 77
    assert count(Sitrep) == 1
    assert count(AuditEvent, AuditEvent.action == "sitrep.submit") == 1


# --- many different writers ------------------------------------------------------------


@pytest.mark.usefixtures("fresh_log")
def test_concurrent_different_submissions_all_go_in_once(server: Server) -> None:
    officers = [make_user("field", countries=["SDN"]) for _ in range(4)]
    n = 40
    bodies = [
        sitrep(line(SECTORS[i % 5], admin1=SUDAN_ADMIN1[i // 5], reached=i + 1)) for i in range(n)
    ]

    responses = concurrently(
        n,
        lambda i, http: http.post(
            f"{server.url}{SITREPS}", json=bodies[i], headers=auth(officers[i % 4])
        ),
    )
    assert_no_server_errors(responses)
    assert [r.status_code for r in responses] == [201] * n, [r.text for r in responses]
    ids = [r.json()["id"] for r in responses]
    assert len(set(ids)) == n
    assert sorted(all_sitrep_ids(server.url, make_user("hq"))) == sorted(ids)
    assert count(Sitrep) == n
    assert count(AuditEvent, AuditEvent.action == "sitrep.submit") == n
    for i, response in enumerate(responses):
        assert response.json()["lines"][0]["people_reached"] == i + 1


@pytest.mark.usefixtures("fresh_log")
def test_fifty_concurrent_writers_get_only_201s_and_409s(server: Server) -> None:
    """50 officers at once, two per slot: one of each pair is stored (201), the other told
    the slot is taken (409, naming the sitrep that has it); no 5xx from waiting on each
    other or on the pools (issue: 15-23 of 50 were 503s behind the global write lock)."""
    officers = [make_user("field", countries=["SDN"]) for _ in range(50)]
    bodies = [
        sitrep(line(SECTORS[(i // 2) % 5], admin1=SUDAN_ADMIN1[i // 10], reached=i + 1))
        for i in range(50)
    ]
    responses = concurrently(
        50,
        lambda i, http: http.post(
            f"{server.url}{SITREPS}", json=bodies[i], headers=auth(officers[i])
        ),
    )
    assert_no_server_errors(responses)
    for pair in range(25):
        first, second = responses[2 * pair], responses[2 * pair + 1]
        assert sorted([first.status_code, second.status_code]) == [201, 409], (
            first.text,
            second.text,
        )
        stored, refused = (first, second) if first.status_code == 201 else (second, first)
        assert refused.json()["conflicting_sitrep_id"] == stored.json()["id"]
    assert count(Sitrep) == 25


@pytest.mark.usefixtures("fresh_log")
def test_concurrent_mixed_writes_and_reads(server: Server) -> None:
    """Submissions, batches, amendments, withdrawals and reads at once: no 5xx, no
    "database is locked", and every acknowledged write is there exactly once."""
    officer = make_user("field", countries=["SDN"])
    hq = make_user("hq")
    existing = []
    for admin1 in SUDAN_ADMIN1[:6]:
        response = httpx.post(
            f"{server.url}{SITREPS}",
            json=sitrep(line("health", admin1=admin1)),
            headers=auth(officer),
            timeout=REQUEST_TIMEOUT,
        )
        assert response.status_code == 201, response.text
        existing.append(response.json()["id"])

    def call(i: int, http: httpx.Client) -> httpx.Response:
        base = server.url
        kind = i % 6
        if kind == 0:  # a single submission
            body = sitrep(line("shelter", admin1=SUDAN_ADMIN1[i // 6]))
            return http.post(f"{base}{SITREPS}", json=body, headers=auth(officer))
        if kind == 1:  # a batch of two
            items = [sitrep(line(s, admin1=SUDAN_ADMIN1[i // 6])) for s in ("wash", "cccm")]
            return http.post(f"{base}{BATCH}", json={"sitreps": items}, headers=auth(officer))
        if kind == 2:  # an amendment
            target = existing[i // 6]
            body = sitrep(line("health", admin1=SUDAN_ADMIN1[i // 6], reached=999))
            headers = auth(officer, **{"If-Match": "*"})
            return http.put(f"{base}{SITREPS}/{target}", json=body, headers=headers)
        if kind == 3:  # totals
            return http.get(f"{base}/api/v1/totals", headers=auth(hq))
        if kind == 4:  # the feed
            return http.get(f"{base}/api/v1/clusters/shelter/feed", headers=auth(hq))
        return http.get(f"{base}/api/v1/audit", headers=auth(hq))

    responses = concurrently(36, call)
    assert_no_server_errors(responses)
    expected = {0: 201, 1: 200, 2: 200, 3: 200, 4: 200, 5: 200}
    for i, response in enumerate(responses):
        assert response.status_code == expected[i % 6], (i, response.text)
    batches = [responses[i].json() for i in range(1, 36, 6)]
    assert all(b["accepted"] == 2 for b in batches), batches
    acknowledged = [responses[i].json()["id"] for i in range(0, 36, 6)]
    acknowledged += [r["sitrep"]["id"] for b in batches for r in b["results"]]
    listed = all_sitrep_ids(server.url, hq)
    assert sorted(listed) == sorted(existing + acknowledged)
    assert len(set(listed)) == len(listed) == 6 + 6 + 12
    for target in existing:
        read = httpx.get(f"{server.url}{SITREPS}/{target}", headers=auth(hq), timeout=10)
        assert read.json()["revision"] == 2
        assert read.json()["lines"][0]["people_reached"] == 999


@pytest.mark.usefixtures("fresh_log")
def test_concurrent_submissions_for_one_slot_make_one_sitrep(server: Server) -> None:
    """Different officers, no key, the same slot: the slot check is race-free."""
    officers = [make_user("field", countries=["SDN"]) for _ in range(5)]
    responses = concurrently(
        THREADS,
        lambda i, http: http.post(
            f"{server.url}{SITREPS}",
            json=sitrep(narrative=f"officer {i}"),
            headers=auth(officers[i % 5]),
        ),
    )
    assert_no_server_errors(responses)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (THREADS - 1), [r.text for r in responses]
    [winner] = [r.json()["id"] for r in responses if r.status_code == 201]
    for response in responses:
        if response.status_code == 409:
            assert response.json()["conflicting_sitrep_id"] == winner
    assert count(Sitrep) == 1


@pytest.mark.usefixtures("fresh_log")
def test_concurrent_amendments_with_one_etag_make_one_revision(server: Server) -> None:
    """Without keys, the same If-Match from many clients: one wins, the rest are 412."""
    token = make_user("field", countries=["SDN"])
    created = httpx.post(
        f"{server.url}{SITREPS}", json=sitrep(), headers=auth(token), timeout=REQUEST_TIMEOUT
    )
    assert created.status_code == 201, created.text
    url = f"{server.url}{SITREPS}/{created.json()['id']}"
    responses = concurrently(
        THREADS,
        lambda i, http: http.put(
            url,
            json=sitrep(line(reached=1000 + i)),
            headers=auth(token, **{"If-Match": created.headers["ETag"]}),
        ),
    )
    assert_no_server_errors(responses)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * (THREADS - 1), [r.text for r in responses]
    assert count(SitrepRevision) == 2
