"""Faults (issue 3, point 5), against a real ``crisis-tracker serve`` process.

- The database goes away: a TCP proxy between the server and PostgreSQL is stopped (every
  connection through it cut, nothing listening) or made unreachable (connections accepted,
  never answered). Requests then fail fast with a 503 problem, ``/readyz`` says 503, a write
  cut off in the middle leaves nothing behind, and once the proxy is back the service
  recovers by itself.
- The server is killed with SIGKILL in the middle of a large batch, or of a large
  amendment: the database holds the whole write or none of it, and after a restart the
  retried request (same Idempotency-Key) makes the write exactly once.
- SQLite with two workers: writers of every kind, in the server and in the command line,
  queue for the write lock; none ever hears "database is locked", and readers are not held
  up by a long writer.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from tests.factories import line, make_user, sitrep
from tests.servers import cli_command, free_port, running, start_server

SITREPS = "/api/v1/sitreps"
BATCH = "/api/v1/sitreps/batch"
UNAVAILABLE = "urn:crisis-tracker:problem:unavailable"
LOCKED = "database is locked"
# The service's TRACKER_DATABASE_TIMEOUT is 2 s; a request must have its 503 within this.
FAIL_FAST = 3.5
SECTORS = ("shelter", "wash", "cccm", "cash", "health")
DIVISIONS = ("pcca", "prd", "hod")
PHASES = ("preparedness", "response", "recovery")
# Sitreps of 20 lines in the batch killed mid-way: several seconds of work.
KILLED_BATCH = 150

on_postgres = make_url(os.environ.get("TRACKER_TEST_DATABASE") or "sqlite://").get_backend_name()
postgres_only = pytest.mark.skipif(
    on_postgres != "postgresql", reason="no server to take down (SQLite is a file)"
)
sqlite_only = pytest.mark.skipif(
    on_postgres == "postgresql", reason="the write lock of SQLite is what is tested"
)


# --- a real server ---------------------------------------------------------------------


def auth(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


# --- the database, looked at directly --------------------------------------------------


@pytest.fixture
def db(migrated: str) -> Iterator[Engine]:
    engine = create_engine(migrated)
    yield engine
    engine.dispose()


def scalar(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as connection:
        return connection.execute(text(sql), params).scalar_one()


def partial_sitreps(engine: Engine) -> dict[str, int]:
    """Every way a write could be left half-done; all must be 0."""
    checks = {
        "sitreps without their current revision": """
            SELECT count(*) FROM sitreps s WHERE NOT EXISTS (
              SELECT 1 FROM sitrep_revisions r
              WHERE r.sitrep_id = s.id AND r.revision = s.revision)""",
        "sitreps whose revisions are not 1..revision": """
            SELECT count(*) FROM sitreps s WHERE s.revision <> (
              SELECT count(*) FROM sitrep_revisions r WHERE r.sitrep_id = s.id)""",
        "sitreps without lines": """
            SELECT count(*) FROM sitreps s
            WHERE NOT EXISTS (SELECT 1 FROM sitrep_lines l WHERE l.sitrep_id = s.id)""",
        "lines without a sitrep": """
            SELECT count(*) FROM sitrep_lines l
            WHERE NOT EXISTS (SELECT 1 FROM sitreps s WHERE s.id = l.sitrep_id)""",
        "revisions without a sitrep": """
            SELECT count(*) FROM sitrep_revisions r
            WHERE NOT EXISTS (SELECT 1 FROM sitreps s WHERE s.id = r.sitrep_id)""",
        "live lines not of the current revision": """
            SELECT count(*) FROM sitrep_lines l JOIN sitreps s ON s.id = l.sitrep_id
            WHERE l.status = 'submitted'
              AND (s.status <> 'submitted' OR l.revision <> s.revision)""",
        "sitreps without an audit record": """
            SELECT count(*) FROM sitreps s WHERE NOT EXISTS (
              SELECT 1 FROM audit_events a
              WHERE a.entity_type = 'sitrep' AND a.entity_id = s.id
                AND a.action = 'sitrep.submit')""",
    }
    return {name: int(scalar(engine, sql)) for name, sql in checks.items()}


def write_lock_held(engine: Engine) -> bool:
    """Whether a write is in progress, found without waiting for it: on SQLite its
    transaction holds the write lock, on PostgreSQL the advisory locks of its slots
    (app.sitreps.order)."""
    if engine.dialect.name == "sqlite":
        probe = sqlite3.connect(str(engine.url.database), timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
        except sqlite3.OperationalError:
            return True
        finally:
            probe.close()
        return False
    # This database's locks only: the suite's other processes write to databases of their own.
    held = scalar(
        engine,
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    return int(held) > 0


def tagged(engine: Engine, tag: str) -> int:
    return int(
        scalar(
            engine,
            "SELECT count(*) FROM sitreps s JOIN sitrep_revisions r "
            "ON r.sitrep_id = s.id AND r.revision = 1 WHERE r.narrative LIKE :tag",
            tag=f"%{tag}%",
        )
    )


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


# --- sitreps ---------------------------------------------------------------------------


def admin1_of(country: str) -> list[str]:
    from app.reference import catalog as reference

    return [a.code for a in reference.admin_areas_of(country)]


def big_sitreps(count: int, lines: int, tag: str, *, country: str = "SDN") -> list[dict[str, Any]]:
    """``count`` sitreps of ``lines`` lines each, every one in a slot of its own: sitrep i
    is week i of 2023-2024 (and beyond, back in time) in one admin1 area."""
    areas = admin1_of(country)
    slots = [(s, d, p) for s in SECTORS for d in DIVISIONS for p in PHASES]
    bodies = []
    for i in range(count):
        week, area = divmod(i, len(areas))
        start = time.strftime("%Y-%m-%d", time.gmtime(1_700_000_000 - week * 7 * 86400))
        end = time.strftime("%Y-%m-%d", time.gmtime(1_700_000_000 - week * 7 * 86400 + 6 * 86400))
        body_lines = [
            line(s, division=d, phase=p, admin1=areas[area], reached=100 + n, new=50)
            for n, (s, d, p) in enumerate(slots[:lines])
        ]
        bodies.append(
            sitrep(*body_lines, country=country, start=start, end=end, narrative=f"{tag}/{i}")
        )
    return bodies


# --- a TCP proxy in front of PostgreSQL ------------------------------------------------


class Proxy:
    """Forwards 127.0.0.1:port to the database server, until stopped.

    ``stop()`` closes every connection through it and stops listening: the database is
    gone. ``unreachable()`` listens but never answers: the database is there but hangs
    (connections are accepted and nothing comes back). ``start()`` brings it back on the
    same port."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.mode = "stopped"
        self.listener: socket.socket | None = None
        self.sockets: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.flowing = threading.Event()
        self.flowing.set()

    def start(self, mode: str = "forward") -> None:
        self.stop()
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener, self.mode = listener, mode
        threading.Thread(target=self._accept, args=(listener, mode), daemon=True).start()

    def unreachable(self) -> None:
        self.start("hang")

    def freeze(self) -> None:
        """Connections stay open, and nothing more goes through them either way."""
        self.flowing.clear()

    def stop(self) -> None:
        with self.lock:
            listener, self.listener = self.listener, None
            sockets, self.sockets = self.sockets, set()
        for sock in [*sockets, *([listener] if listener else [])]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.mode = "stopped"
        self.flowing.set()

    def _accept(self, listener: socket.socket, mode: str) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self.lock:
                if self.listener is not listener:
                    client.close()
                    return
                self.sockets.add(client)
            if mode == "hang":
                continue  # accepted, never answered
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets.add(server)
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self.flowing.wait()
                target.sendall(data)
        except OSError:
            pass
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def proxy(migrated: str) -> Iterator[Proxy]:
    url = make_url(migrated)
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.start()
    yield proxy
    proxy.stop()


def timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def assert_unavailable(response: httpx.Response, elapsed: float) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 503 and body["title"] and body["detail"]
    for leak in ("Traceback", "psycopg", "sqlalchemy", "OperationalError", "127.0.0.1", "SELECT"):
        assert leak not in response.text, response.text
    assert elapsed < FAIL_FAST, f"the 503 took {elapsed:.1f} s"


# --- the database goes away ------------------------------------------------------------


@postgres_only
@pytest.mark.parametrize("outage", ["stopped", "unreachable"])
def test_database_down_fails_fast_then_recovers_by_itself(
    outage: str, proxy: Proxy, migrated: str, db: Engine, tmp_path: Path
) -> None:
    field = make_user("field", countries=["SDN"])
    through_proxy = make_url(migrated).set(host="127.0.0.1", port=proxy.port)
    url = through_proxy.render_as_string(hide_password=False)
    with (
        running(url, tmp_path / "server.log") as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        # Up: every pooled connection of the server goes through the proxy.
        assert (
            http.post(SITREPS, json=sitrep(line(admin1="SD01")), headers=auth(field)).status_code
            == 201
        )
        assert http.get("/readyz").status_code == 200

        if outage == "stopped":
            proxy.stop()
        else:
            proxy.stop()  # the pooled connections die with the old proxy...
            proxy.unreachable()  # ...and new ones are accepted, never answered

        key = str(uuid.uuid4())
        body = sitrep(line(admin1="SD02"))
        calls = {
            "GET /readyz": lambda: http.get("/readyz"),
            "GET /sitreps": lambda: http.get(SITREPS, headers=auth(field)),
            "POST /sitreps with a key": lambda: http.post(
                SITREPS, json=body, headers=auth(field, **{"Idempotency-Key": key})
            ),
            "POST /sitreps": lambda: http.post(
                SITREPS, json=sitrep(line(admin1="SD03")), headers=auth(field)
            ),
        }
        with ThreadPoolExecutor(len(calls)) as pool:  # at once: none waits for another
            timings = dict(zip(calls, pool.map(timed, calls.values()), strict=True))
        for name, (response, elapsed) in timings.items():
            print(f"database {outage}: {name} -> {response.status_code} in {elapsed:.2f} s")
            assert_unavailable(response, elapsed)
            assert response.headers["Retry-After"]
        assert http.get("/healthz").status_code == 200  # the process itself is fine

        proxy.start()
        # It recovers by itself: no restart, no request that fails once the database is back.
        back = time.monotonic()
        wait_for(lambda: http.get("/readyz").status_code == 200, 10, "/readyz 200")
        print(f"database {outage}: /readyz 200 again {time.monotonic() - back:.2f} s after")
        for _ in range(5):  # several pooled connections, each replaced
            assert http.get(SITREPS, headers=auth(field)).status_code == 200
        # The write refused during the outage was not half-done: its retry makes it once.
        retried = http.post(SITREPS, json=body, headers=auth(field, **{"Idempotency-Key": key}))
        assert retried.status_code == 201, retried.text
        assert (
            http.post(SITREPS, json=sitrep(line(admin1="SD03")), headers=auth(field)).status_code
            == 201
        )

    assert "Traceback" not in server.log_text()
    assert scalar(db, "SELECT count(*) FROM sitreps") == 3
    assert partial_sitreps(db) == dict.fromkeys(partial_sitreps(db), 0)


@postgres_only
def test_database_frozen_with_open_connections_fails_fast(
    proxy: Proxy, migrated: str, tmp_path: Path
) -> None:
    """Each pooled connection is pinged, with a deadline, as a request takes it: on a
    server that stopped answering the ping gives up, the pool opens a new connection, and
    that fails within TRACKER_DATABASE_TIMEOUT: a 503 instead of a request that hangs."""
    field = make_user("field", countries=["SDN"])
    url = make_url(migrated).set(host="127.0.0.1", port=proxy.port)
    with running(
        url.render_as_string(hide_password=False), tmp_path / "server.log", auth_cache_seconds="0"
    ) as server:
        try:
            assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200
            assert httpx.get(f"{server.url}{SITREPS}", headers=auth(field)).status_code == 200
            proxy.freeze()
            for path, headers in (("/readyz", {}), (SITREPS, auth(field))):
                started = time.monotonic()
                try:
                    response = httpx.get(
                        f"{server.url}{path}", headers=headers, timeout=FAIL_FAST + 1
                    )
                except httpx.ReadTimeout:
                    raise AssertionError(f"{path} still hangs after {FAIL_FAST + 1} s") from None
                assert_unavailable(response, time.monotonic() - started)
        finally:
            proxy.stop()  # the hung request ends, so the server can stop


@postgres_only
def test_every_connection_has_the_statement_and_lock_timeouts(migrated: str) -> None:
    from app.db import get_engine

    with get_engine().connect() as connection:
        shown = [
            connection.exec_driver_sql(f"SHOW {name}").scalar()
            for name in ("statement_timeout", "lock_timeout")
        ]
    assert shown == ["30s", "10s"]  # TRACKER_STATEMENT_TIMEOUT, TRACKER_LOCK_TIMEOUT


@postgres_only
@pytest.mark.parametrize(
    ("deadlines", "says"),
    [
        (
            {"lock_timeout": "1", "statement_timeout": "30"},
            "Another request held a lock on data this one needed for more than 1 s",
        ),
        (
            {"lock_timeout": "0", "statement_timeout": "1"},
            "The database took longer than 1 s to answer",
        ),
    ],
    ids=["lock_timeout", "statement_timeout"],
)
def test_a_write_held_up_past_its_deadline_is_a_503_that_says_why_and_stores_nothing(
    migrated: str, db: Engine, tmp_path: Path, deadlines: dict[str, str], says: str
) -> None:
    """Issue 13: with no statement or lock timeout, a request waited as long as the
    database did. Another connection holds a lock on the sitreps table; a write that needs
    it is cancelled by PostgreSQL after TRACKER_LOCK_TIMEOUT (or, with no lock timeout,
    TRACKER_STATEMENT_TIMEOUT) and answers a 503 saying so, having stored nothing."""
    field = make_user("field", countries=["SDN"])
    with (
        running(migrated, tmp_path / "server.log", **deadlines) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        created = http.post(SITREPS, json=sitrep(line(admin1="SD01")), headers=auth(field))
        assert created.status_code == 201, created.text
        with db.connect() as holder:
            holder.execute(text("LOCK TABLE sitreps IN EXCLUSIVE MODE"))  # reads still pass
            response, elapsed = timed(
                lambda: http.post(SITREPS, json=sitrep(line(admin1="SD02")), headers=auth(field))
            )
            assert http.get(SITREPS, headers=auth(field)).status_code == 200
            holder.rollback()
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == UNAVAILABLE
        assert says in response.json()["detail"]
        assert int(response.headers["Retry-After"]) >= 1
        assert 1 <= elapsed < 1 + 2, elapsed
        # The lock gone, the same write goes through, once.
        again = http.post(SITREPS, json=sitrep(line(admin1="SD02")), headers=auth(field))
        assert again.status_code == 201, again.text
    assert "Traceback" not in server.log_text()
    assert scalar(db, "SELECT count(*) FROM sitreps") == 2
    assert partial_sitreps(db) == dict.fromkeys(partial_sitreps(db), 0)


@postgres_only
def test_database_lost_in_the_middle_of_a_batch_leaves_none_of_it(
    proxy: Proxy, migrated: str, db: Engine, tmp_path: Path
) -> None:
    field = make_user("field", countries=["SDN"])
    url = make_url(migrated).set(host="127.0.0.1", port=proxy.port)
    batch = big_sitreps(80, 20, "lost-batch")
    key = str(uuid.uuid4())
    with running(url.render_as_string(hide_password=False), tmp_path / "server.log") as server:
        with ThreadPoolExecutor(1) as pool:
            sent = pool.submit(
                httpx.post,
                f"{server.url}{BATCH}",
                json={"sitreps": batch},
                headers=auth(field, **{"Idempotency-Key": key}),
                timeout=120,
            )
            wait_for(lambda: write_lock_held(db), 30, "the batch to hold the write lock")
            time.sleep(0.5)
            assert write_lock_held(db), "the batch finished before the database went away"
            proxy.stop()
            started = time.monotonic()
            response = sent.result()
        assert_unavailable(response, time.monotonic() - started)
        assert tagged(db, "lost-batch") == 0
        assert partial_sitreps(db) == dict.fromkeys(partial_sitreps(db), 0)

        proxy.start()
        with httpx.Client(base_url=server.url, timeout=120) as http:
            wait_for(lambda: http.get("/readyz").status_code == 200, 10, "/readyz 200")
            send = lambda: http.post(  # noqa: E731
                BATCH, json={"sitreps": batch}, headers=auth(field, **{"Idempotency-Key": key})
            )
            # The failed request's claim was released once the database was back (its
            # lease, 120 s, has not run out): the retry runs the batch at once.
            retried = send()
        log = server.log_text()
    assert retried.status_code == 200, retried.text
    assert retried.json()["accepted"] == 80
    assert tagged(db, "lost-batch") == 80
    assert partial_sitreps(db) == dict.fromkeys(partial_sitreps(db), 0)
    assert "Traceback" not in log, log


# --- SIGKILL in the middle of a write --------------------------------------------------


def test_sigkill_in_the_middle_of_a_batch_leaves_no_partial_sitrep(
    migrated: str, db: Engine, tmp_path: Path
) -> None:
    field = make_user("field", countries=["SDN"])
    batch = big_sitreps(KILLED_BATCH, 20, "killed-batch")
    key = str(uuid.uuid4())
    server = start_server(migrated, tmp_path / "server.log")
    try:
        with ThreadPoolExecutor(1) as pool:
            sent = pool.submit(
                httpx.post,
                f"{server.url}{BATCH}",
                json={"sitreps": batch},
                headers=auth(field, **{"Idempotency-Key": key}),
                timeout=120,
            )
            # In flight: its key is claimed and it holds the write lock, a while into it.
            wait_for(
                lambda: scalar(db, "SELECT count(*) FROM idempotency_keys") == 1,
                30,
                "the batch's key to be claimed",
            )
            wait_for(lambda: write_lock_held(db), 30, "the batch to hold the write lock")
            time.sleep(0.5)
            assert write_lock_held(db), "the batch finished before the kill"
            server.kill()
            with pytest.raises(httpx.TransportError):
                sent.result()
    finally:
        server.stop()

    # PostgreSQL rolls back a transaction whose client is gone; wait until it has.
    wait_for(lambda: not write_lock_held(db), 10, "the killed transaction to end")
    assert tagged(db, "killed-batch") == 0
    assert scalar(db, "SELECT count(*) FROM sitrep_lines") == 0
    assert partial_sitreps(db) == dict.fromkeys(partial_sitreps(db), 0)

    # After a restart the retry with the same key (once the dead claim's lease is over)
    # writes the whole batch, once.
    with running(migrated, tmp_path / "server.log", idempotency_lease_seconds="1") as server:
        retried = httpx.post(
            f"{server.url}{BATCH}",
            json={"sitreps": batch},
            headers=auth(field, **{"Idempotency-Key": key}),
            timeout=120,
        )
        assert retried.status_code == 200, retried.text
        assert retried.json()["accepted"] == KILLED_BATCH
        again = httpx.post(
            f"{server.url}{BATCH}",
            json={"sitreps": batch},
            headers=auth(field, **{"Idempotency-Key": key}),
            timeout=120,
        )
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.content == retried.content
    assert tagged(db, "killed-batch") == KILLED_BATCH
    assert scalar(db, "SELECT count(*) FROM sitrep_lines") == KILLED_BATCH * 20
    assert partial_sitreps(db) == dict.fromkeys(partial_sitreps(db), 0)


def test_sigkill_in_the_middle_of_an_amendment_leaves_the_previous_revision(
    migrated: str, db: Engine, tmp_path: Path
) -> None:
    field = make_user("field", countries=["SDN"])
    areas = admin1_of("SDN")
    slots = [(s, d, p, a) for a in areas for s in SECTORS for d in DIVISIONS for p in PHASES]
    first = sitrep(
        *[line(s, division=d, phase=p, admin1=a, reached=10) for s, d, p, a in slots[:240]]
    )
    # The amendment changes every figure, drops 120 lines and adds 240.
    second = sitrep(
        *[line(s, division=d, phase=p, admin1=a, reached=20) for s, d, p, a in slots[120:480]]
    )
    key = str(uuid.uuid4())
    server = start_server(migrated, tmp_path / "server.log")
    try:
        created = httpx.post(f"{server.url}{SITREPS}", json=first, headers=auth(field), timeout=60)
        assert created.status_code == 201, created.text
        sitrep_id, etag = created.json()["id"], created.headers["ETag"]
        with ThreadPoolExecutor(1) as pool:
            sent = pool.submit(
                httpx.put,
                f"{server.url}{SITREPS}/{sitrep_id}",
                json=second,
                headers=auth(field, **{"Idempotency-Key": key, "If-Match": etag}),
                timeout=60,
            )
            wait_for(lambda: write_lock_held(db), 30, "the amendment to hold the write lock")
            server.kill()
            with pytest.raises(httpx.TransportError):
                sent.result()
    finally:
        server.stop()

    wait_for(lambda: not write_lock_held(db), 10, "the killed transaction to end")
    assert scalar(db, "SELECT revision FROM sitreps WHERE id = :id", id=sitrep_id) == 1
    assert scalar(db, "SELECT count(*) FROM sitrep_revisions") == 1
    assert scalar(db, "SELECT count(*) FROM sitrep_lines WHERE people_reached = 10") == 240
    assert scalar(db, "SELECT count(*) FROM sitrep_lines") == 240
    assert partial_sitreps(db) == dict.fromkeys(partial_sitreps(db), 0)

    with running(migrated, tmp_path / "server.log", idempotency_lease_seconds="1") as server:
        retried = httpx.put(
            f"{server.url}{SITREPS}/{sitrep_id}",
            json=second,
            headers=auth(field, **{"Idempotency-Key": key, "If-Match": etag}),
            timeout=60,
        )
        assert retried.status_code == 200, retried.text
        assert retried.json()["revision"] == 2
    assert scalar(db, "SELECT count(*) FROM sitrep_lines WHERE status = 'submitted'") == 360
    assert partial_sitreps(db) == dict.fromkeys(partial_sitreps(db), 0)


# --- SQLite: two workers, many writers -------------------------------------------------


@sqlite_only
def test_sqlite_writers_in_two_workers_and_the_cli_never_see_a_locked_database(
    migrated: str, db: Engine, tmp_path: Path
) -> None:
    officers = [make_user("field", countries=[country]) for country in ("SDN", "TCD", "HTI") * 2]
    hq = make_user("hq")
    answers: list[httpx.Response] = []
    lock = threading.Lock()
    with running(migrated, tmp_path / "server.log", workers=2) as server:

        def officer(index: int) -> None:
            token = officers[index]
            country = ("SDN", "TCD", "HTI")[index % 3]
            area = admin1_of(country)[index // 3]
            with httpx.Client(base_url=server.url, timeout=60) as http:
                for week in range(5):
                    body = big_sitreps(1, 6, f"w{index}", country=country)[0]
                    start = f"2024-{1 + week // 4:02d}-{1 + 7 * (week % 4):02d}"
                    end = f"2024-{1 + week // 4:02d}-{7 + 7 * (week % 4):02d}"
                    body.update(period_start=start, period_end=end)
                    for item in body["lines"]:
                        item["admin1"] = area
                    key = {"Idempotency-Key": str(uuid.uuid4())} if week % 2 else {}
                    made = http.post(SITREPS, json=body, headers=auth(token, **key))
                    got = [made]
                    if made.status_code == 201:
                        etag = made.headers["ETag"]
                        body["lines"][0]["people_reached"] += 1
                        amended = http.put(
                            f"{SITREPS}/{made.json()['id']}",
                            json=body,
                            headers=auth(token, **{"If-Match": etag}),
                        )
                        got.append(amended)
                        if week % 3 == 0 and amended.status_code == 200:
                            got.append(
                                http.request(
                                    "DELETE",
                                    f"{SITREPS}/{made.json()['id']}",
                                    json={"reason": "entered twice"},
                                    headers=auth(token, **{"If-Match": amended.headers["ETag"]}),
                                )
                            )
                    with lock:
                        answers.extend(got)

        def headquarters(index: int) -> None:
            with httpx.Client(base_url=server.url, timeout=60) as http:
                for n in range(4):
                    crisis = {
                        "name": f"Flood {index}-{n}",
                        "kind": "natural-disaster",
                        "countries": ["SDN"],
                        "started_on": "2024-01-01",
                    }
                    got = [
                        http.post("/api/v1/crises", json=crisis, headers=auth(hq)),
                        http.get("/api/v1/totals?group_by=sector", headers=auth(hq)),
                    ]
                    with lock:
                        answers.extend(got)

        def big_batch() -> None:
            token = make_user("field", countries=["SDN"])
            batch = big_sitreps(80, 10, "big", country="SDN")
            for item in batch:  # admin areas of their own: weeks of 2021 and before
                item["period_start"] = item["period_start"].replace("2023", "2021")
                item["period_end"] = item["period_end"].replace("2023", "2021")
            with httpx.Client(base_url=server.url, timeout=120) as http:
                response = http.post(BATCH, json={"sitreps": batch}, headers=auth(token))
            with lock:
                answers.append(response)
            assert response.status_code == 200 and response.json()["accepted"] == len(batch)

        def cli_writer() -> None:
            env = {**os.environ, "TRACKER_DATABASE_URL": migrated}
            for n in range(3):
                result = subprocess.run(
                    [*cli_command(), "users", "create", f"cli-{n}", "--role", "hq"],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=60,
                    check=False,
                )
                assert result.returncode == 0, result.stderr
                assert LOCKED not in result.stderr

        reads: list[httpx.Response] = []

        def reader() -> None:
            with httpx.Client(base_url=server.url, timeout=60) as http:
                for _ in range(20):
                    response = http.get("/api/v1/sitreps?limit=50", headers=auth(hq))
                    with lock:
                        answers.append(response)
                        reads.append(response)

        jobs: list[Callable[[], None]] = [
            *[lambda i=i: officer(i) for i in range(len(officers))],
            *[lambda i=i: headquarters(i) for i in range(2)],
            big_batch,
            cli_writer,
            reader,
        ]
        with ThreadPoolExecutor(len(jobs)) as pool:
            for future in [pool.submit(job) for job in jobs]:
                future.result()
        log = server.log_text()

    statuses = sorted({r.status_code for r in answers})
    assert all(r.status_code < 500 for r in answers), [
        r.text for r in answers if r.status_code >= 500
    ]
    assert not [r.text for r in answers if LOCKED in r.text]
    assert LOCKED not in log and "Traceback" not in log
    assert set(statuses) <= {200, 201}, statuses
    assert len(answers) > 100
    assert len(reads) == 20
    assert partial_sitreps(db) == dict.fromkeys(partial_sitreps(db), 0)


@sqlite_only
def test_sqlite_readers_are_not_queued_behind_a_writer(migrated: str, tmp_path: Path) -> None:
    """With SQLite's write lock held (as a long batch holds it), reads still answer: the
    read is made while the lock is held and the lock is only released after it returned,
    so a read that waited for the lock could not return at all (its client gives up)."""
    hq = make_user("hq")
    with running(migrated, tmp_path / "server.log", workers=1) as server:
        path = make_url(migrated).database
        assert path is not None
        writer = sqlite3.connect(path, isolation_level=None, timeout=1)
        try:
            writer.execute("BEGIN IMMEDIATE")
            with httpx.Client(base_url=server.url, timeout=30) as http:
                sitreps = http.get("/api/v1/sitreps?limit=5", headers=auth(hq))
                totals = http.get("/api/v1/totals", headers=auth(hq))
            writer.execute("ROLLBACK")
        finally:
            writer.close()
    assert sitreps.status_code == 200, sitreps.text
    assert sitreps.json()["items"] == []
    assert totals.status_code == 200 and totals.json() == {"rows": []}
