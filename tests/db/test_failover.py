"""Losing the PostgreSQL primary, and coming back (issue 14).

A pg_auto_failover formation of the test's own (a monitor, a primary and its synchronous
secondary: tests/pgservers.py, with the README's `pg_autoctl create` commands), and a real
`crisis-tracker serve --workers 2` on its multi-host URL. Writers submit single sitreps,
batches and amendments, each with an Idempotency-Key, retrying every failed attempt with
the same key; a coordinator's tool pulls every cluster's feed all along. In the middle the
primary's server is killed (SIGKILL of its keeper, postmaster and backends at once). After
the promotion, the checks: no answer was a 5xx other than a 503 problem with Retry-After;
every acknowledged write is stored exactly once and nothing else is; every sitrep has all
its revisions; the summaries equal a recount; the feed consumer holds exactly the live
lines; writes succeeded again within WRITES_RESUME_WITHIN seconds. Then the old primary
rejoins as secondary and the new primary is killed: the same checks, over both rounds'
writes.

It runs when TRACKER_TEST_FAILOVER=1 (CI, in a step of its own: the figures it prints are
the ones the README quotes); pg_autoctl (Debian's postgresql-15-auto-failover) must then be
installed. Without servers, the settings that name several hosts are tested here too (the
command's one-line answer to them is in tests/cli/test_cli.py).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from app.config import Settings
from app.sitreps.models import Sitrep, SitrepLine, SitrepRevision
from tests.counting import assert_summaries_equal_recount
from tests.factories import line, make_user, sitrep
from tests.pgservers import (
    SERVER_USER,
    Formation,
    failover_formation,
    missing_failover_programs,
)
from tests.servers import Server, running
from tests.sitreps.test_concurrent_writers import Consumer, live_lines

SITREPS = "/api/v1/sitreps"
SECTORS = ("shelter", "wash", "cccm", "cash", "health")
# With the test's monitor settings (pgautofailover health checks of 1 s, a node unhealthy
# after 2 s, 2 s for a lost primary to demote itself): measured at 3.6-5.1 s from the kill.
WRITES_RESUME_WITHIN = 30.0
# How long one write goes on retrying before the test gives up on it.
WRITE_DEADLINE = 120.0
RETRY_EVERY = 0.2


# --- without servers: a URL that names several servers ----------------------------------


@pytest.mark.parametrize(
    "both",
    [
        "postgresql+psycopg://tracker@/tracker?host=db-a:5432&host=db-b:5432",
        "postgresql+psycopg://tracker@/tracker?host=db-a,db-b&port=5432,5432",
        "postgresql+psycopg://tracker@db-a,db-b/tracker?port=5432",
    ],
)
def test_several_servers_must_say_which_one_takes_writes(both: str) -> None:
    """However the URL names them (SQLAlchemy's two forms, libpq's list in place of the
    host), several servers without target_session_attrs would write to the first that
    answers: after a failover, the demoted one."""
    with pytest.raises(ValidationError, match="add target_session_attrs=read-write"):
        Settings(database_url=both)
    Settings(database_url=both + "&target_session_attrs=read-write")
    Settings(database_url=both + "&target_session_attrs=primary")
    # A replica URL may name several standbys, and prefer them.
    Settings(
        database_url=both + "&target_session_attrs=read-write",
        database_replica_url=both + "&target_session_attrs=prefer-standby",
    )


def test_libpq_s_comma_form_is_refused_with_the_form_that_works() -> None:
    """pg_autoctl show uri prints host=a:p,b:p, which SQLAlchemy cannot read: the error
    says how to write it, instead of 'invalid literal for int()'."""
    with pytest.raises(ValidationError, match=r"\?host=a:5432&host=b:5432") as raised:
        Settings(database_url="postgresql+psycopg://tracker@db-a:5432,db-b:5432/tracker")
    assert "int()" not in str(raised.value)


# --- a formation, a server on it, and a write load --------------------------------------

enabled = os.environ.get("TRACKER_TEST_FAILOVER") == "1"
needs_formation = pytest.mark.skipif(
    not enabled, reason="set TRACKER_TEST_FAILOVER=1 to start a pg_auto_failover formation"
)


@pytest.fixture(scope="module")
def formation() -> Iterator[Formation]:
    missing = missing_failover_programs()
    if missing:
        pytest.fail(f"TRACKER_TEST_FAILOVER=1 but these programs are missing: {missing}")
    from alembic import command

    from app.db import alembic_config

    with failover_formation() as made:
        command.upgrade(alembic_config(made.url()), "head")
        yield made


@dataclass(frozen=True)
class Write:
    """One write that was acknowledged: when its first and its last attempt began, when it
    was answered, after how many attempts, and whether the answer was a replay."""

    first_began: float
    last_began: float
    answered: float
    attempts: int
    replayed: bool


@needs_formation
def test_every_way_of_naming_both_nodes_reaches_the_primary(formation: Formation) -> None:
    """The settings accept SQLAlchemy's two forms and libpq's list in place of the host,
    with target_session_attrs=read-write; each reaches the primary, whichever node it is."""
    a, b = formation.nodes
    forms = [
        formation.url(),
        f"postgresql+psycopg://{SERVER_USER}@/{formation.database}?host=127.0.0.1,127.0.0.1"
        f"&port={a.port},{b.port}&target_session_attrs=read-write",
    ]
    primary = formation.node(formation.wait_settled())
    for url in forms:
        Settings(database_url=url)
        engine = create_engine(url, poolclass=NullPool)
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT pg_is_in_recovery()").scalar() is False
            port = connection.exec_driver_sql("SELECT inet_server_port()").scalar()
        engine.dispose()
        assert port == primary.port, url


class Outcomes:
    """What the clients saw: every answer's status, the acknowledged writes, the time of
    every attempt that succeeded, and anything a client must never see."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: Counter[str] = Counter()
        self.unexpected: list[str] = []
        self.writes: list[Write] = []

    def saw(self, what: str) -> None:
        with self.lock:
            self.statuses[what] += 1

    def wrong(self, what: str) -> None:
        with self.lock:
            self.unexpected.append(what)


class RetryingClient(httpx.Client):
    """A field officer's client on a bad day: every request that fails for want of a
    database (a 503, a refused or dropped connection) or whose Idempotency-Key is still
    held by the attempt that failed (a 409 that says so) is sent again, unchanged, every
    RETRY_EVERY seconds (sooner than Retry-After, so that the time writes resume is seen
    to within that), until it gets any other answer."""

    def __init__(self, base_url: str, outcomes: Outcomes) -> None:
        super().__init__(base_url=base_url, timeout=15)
        self.outcomes = outcomes

    def request(self, method: str, url: Any, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        first = time.monotonic()
        deadline = first + WRITE_DEADLINE
        for attempt in itertools.count(1):
            began = time.monotonic()
            try:
                answer = super().request(method, url, **kwargs)
            except httpx.TransportError as exc:
                self.outcomes.saw(type(exc).__name__)
            else:
                self.outcomes.saw(str(answer.status_code))
                if not self._retry(answer):
                    if method != "GET" and answer.is_success:
                        write = Write(
                            first,
                            began,
                            time.monotonic(),
                            attempt,
                            "Idempotent-Replayed" in answer.headers,
                        )
                        with self.outcomes.lock:
                            self.outcomes.writes.append(write)
                    return answer
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} {url} found no database for {WRITE_DEADLINE} s")
            time.sleep(RETRY_EVERY)
        raise AssertionError("unreachable")

    def _retry(self, answer: httpx.Response) -> bool:
        if answer.status_code >= 500:
            if (
                answer.status_code != 503
                or "Retry-After" not in answer.headers
                or answer.headers.get("Content-Type") != "application/problem+json"
            ):
                self.outcomes.wrong(f"{answer.status_code} {answer.headers} {answer.text}")
                return False
            return True
        return answer.status_code == 409 and answer.json().get("type", "").endswith(
            "idempotency-key-in-use"
        )


@dataclass
class Expected:
    """An acknowledged sitrep, as its last acknowledged write left it."""

    revision: int
    reached: int
    etag: str | None


@dataclass
class Load:
    """Writers and a feed consumer against one server, until stopped."""

    server: Server
    officer: str
    coordinator: str
    outcomes: Outcomes = field(default_factory=Outcomes)
    acknowledged: dict[int, Expected] = field(default_factory=dict)
    slots: Iterator[int] = field(default_factory=itertools.count)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    consumer: Consumer | None = None

    def client(self) -> RetryingClient:
        return RetryingClient(self.server.url, self.outcomes)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.officer}", "Idempotency-Key": str(uuid.uuid4())}

    def body(self, reached: int) -> dict[str, Any]:
        # A slot of its own for every sitrep: a sector and admin1, a month, a year.
        with self.outcomes.lock:
            i = next(self.slots)
        month = i // 90 % 12 + 1
        year = 2024 - i // 1080
        return sitrep(
            line(SECTORS[i % 5], admin1=f"SD{i // 5 % 18 + 1:02d}", reached=reached),
            start=f"{year}-{month:02d}-01",
            end=f"{year}-{month:02d}-28",
        )

    def write(self, http: RetryingClient, step: int, mine: list[int]) -> None:
        kind = ("single", "batch", "single", "amend")[step % 4]
        if kind == "amend" and mine:
            sitrep_id = mine[step % len(mine)]
            with self.outcomes.lock:
                expected = self.acknowledged[sitrep_id]
            assert expected.etag is not None
            body = self.body(0)  # a new slot number, unused; the sitrep keeps its own
            current = http.get(
                f"{SITREPS}/{sitrep_id}", headers={"Authorization": f"Bearer {self.officer}"}
            )
            held = current.json()
            body.update(
                period_start=held["period_start"],
                period_end=held["period_end"],
                lines=[
                    {
                        k: held["lines"][0][k]
                        for k in ("sector", "division", "phase", "admin1", "admin2")
                    }
                    | {"people_reached": expected.reached + 7}
                ],
            )
            answer = http.put(
                f"{SITREPS}/{sitrep_id}",
                json=body,
                headers={**self.headers(), "If-Match": expected.etag},
            )
            if answer.status_code != 200:
                self.outcomes.wrong(f"amend {answer.status_code} {answer.text}")
                return
            self._acknowledge(answer.json(), answer.headers["ETag"])
        elif kind == "batch":
            answer = http.post(
                f"{SITREPS}/batch",
                json={"sitreps": [self.body(300 + k) for k in range(3)]},
                headers=self.headers(),
            )
            results = answer.json().get("results", []) if answer.is_success else []
            if not results or any(r["status"] != 201 for r in results):
                self.outcomes.wrong(f"batch {answer.status_code} {answer.text}")
                return
            for result in results:
                self._acknowledge(result["sitrep"], None)
        else:
            answer = http.post(SITREPS, json=self.body(100 + step), headers=self.headers())
            if answer.status_code != 201:
                self.outcomes.wrong(f"submit {answer.status_code} {answer.text}")
                return
            self._acknowledge(answer.json(), answer.headers["ETag"])
            mine.append(answer.json()["id"])

    def _acknowledge(self, held: dict[str, Any], etag: str | None) -> None:
        with self.outcomes.lock:
            self.acknowledged[held["id"]] = Expected(
                held["revision"], held["lines"][0]["people_reached"], etag
            )

    def start(self, writers: int = 3) -> None:
        """Starts the writers and the consumer, with this round's outcomes."""
        self.outcomes = Outcomes()
        self.stop.clear()
        self.threads = []
        if self.consumer is None:
            self.consumer = Consumer(self.server.url, self.coordinator)

        def writer() -> None:
            mine: list[int] = []
            with self.client() as http:
                for step in itertools.count():
                    if self.stop.is_set():
                        return
                    self.write(http, step, mine)

        def consume() -> None:
            assert self.consumer is not None
            with self.client() as http:
                while not self.stop.is_set():
                    self.consumer.pull(http)
                    time.sleep(0.1)

        def reporting(work: Callable[[], None]) -> Callable[[], None]:
            # A thread's failure (a write that never found a database) fails the test, not
            # just the thread.
            def run() -> None:
                try:
                    work()
                except BaseException as exc:
                    self.outcomes.wrong(f"{threading.current_thread().name}: {exc!r}")
                    self.stop.set()

            return run

        self.threads = [threading.Thread(target=reporting(writer)) for _ in range(writers)]
        self.threads.append(threading.Thread(target=reporting(consume)))
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=WRITE_DEADLINE + 30)
            assert not thread.is_alive()
        assert self.outcomes.unexpected == []

    def wait_for(self, acknowledged: int, timeout: float = 120) -> None:
        """Until ``acknowledged`` sitreps are (a batch is three, an amendment none)."""
        deadline = time.monotonic() + timeout
        while len(self.acknowledged) < acknowledged:
            assert time.monotonic() < deadline, (
                f"only {len(self.acknowledged)} sitreps acknowledged"
            )
            assert not self.outcomes.unexpected, self.outcomes.unexpected
            time.sleep(0.05)

    def resumed_after(self, moment: float) -> float | None:
        """Seconds from ``moment`` to the answer of the first write attempted after it."""
        with self.outcomes.lock:
            answered = [w.answered for w in self.outcomes.writes if w.last_began >= moment]
        return min(answered) - moment if answered else None


@dataclass
class Figures:
    acknowledged: int  # sitreps, over every round so far
    stored: int
    duplicates: int
    lost: int
    unacknowledged: int
    writes: int  # this round's acknowledged writes (a batch is one)
    in_flight: int  # of them, begun before the kill and answered after it
    retried: int  # of them, answered after more than one attempt
    replayed: int  # of them, answered by an Idempotency-Key replay
    refusals: dict[str, int]  # attempts that found no database, by what they got
    resumed_after: float
    in_flight_done_after: float  # when the last write in flight at the kill was answered

    def __str__(self) -> str:
        refusals = ", ".join(f"{n} {what}" for what, n in sorted(self.refusals.items()))
        return (
            f"{self.acknowledged} sitreps acknowledged, {self.stored} stored, "
            f"{self.duplicates} duplicates, {self.lost} lost, {self.unacknowledged} stored "
            f"without an acknowledgement; this round {self.writes} writes, "
            f"{self.in_flight} in flight at the kill, {self.retried} retried, "
            f"{self.replayed} answered by replay; attempts refused: {refusals}; first "
            f"write {self.resumed_after:.1f} s after the kill, the last in flight "
            f"{self.in_flight_done_after:.1f} s after it"
        )


def check(engine: Engine, load: Load, killed_at: float) -> Figures:
    """What the database holds against what the clients were told."""
    assert load.outcomes.unexpected == []
    with Session(engine) as session:
        stored = {
            row.id: (row.revision, row.status)
            for row in session.execute(select(Sitrep.id, Sitrep.revision, Sitrep.status))
        }
        reached = dict(
            session.execute(
                select(SitrepLine.sitrep_id, func.sum(SitrepLine.people_reached))
                .where(SitrepLine.status == "submitted")
                .group_by(SitrepLine.sitrep_id)
            ).all()
        )
        revisions = dict(
            session.execute(
                select(SitrepRevision.sitrep_id, func.count()).group_by(SitrepRevision.sitrep_id)
            ).all()
        )
        # The slots: one sitrep per slot, so a write done twice would be two sitreps.
        per_slot = Counter(
            session.execute(
                select(SitrepLine.sector, SitrepLine.admin1, Sitrep.period_start)
                .join(Sitrep, Sitrep.id == SitrepLine.sitrep_id)
                .where(SitrepLine.status == "submitted")
            ).all()
        )
        assert_summaries_equal_recount(session, (), ("sector",), ("sector", "admin1"))
        live = live_lines(session)
    expected = load.acknowledged
    for sitrep_id, want in expected.items():
        assert stored.get(sitrep_id) == (want.revision, "submitted"), sitrep_id
        assert reached[sitrep_id] == want.reached, sitrep_id
    # Nothing half-done: every stored sitrep has each of its revisions, and its lines.
    assert all(revisions[i] == revision for i, (revision, _) in stored.items())
    assert set(reached) == set(stored)
    assert load.consumer is not None
    held = load.consumer.held
    assert {
        i: (item["people_reached"], item["people_reached_new"]) for i, item in held.items()
    } == live
    writes = load.outcomes.writes
    resumed = load.resumed_after(killed_at)
    assert resumed is not None
    return Figures(
        acknowledged=len(expected),
        stored=len(stored),
        duplicates=sum(n - 1 for n in per_slot.values()),
        lost=len(set(expected) - set(stored)),
        unacknowledged=len(set(stored) - set(expected)),
        writes=len(writes),
        in_flight=sum(w.first_began < killed_at < w.answered for w in writes),
        retried=sum(w.attempts > 1 for w in writes),
        replayed=sum(w.replayed for w in writes),
        refusals={
            what: n
            for what, n in load.outcomes.statuses.items()
            if what in ("503", "409") or not what.isdigit()
        },
        resumed_after=resumed,
        in_flight_done_after=max(
            (w.answered - killed_at for w in writes if w.first_began < killed_at < w.answered),
            default=0.0,
        ),
    )


def fail_over(formation: Formation, load: Load, *, before: int, after: int) -> float:
    """Kills the primary once ``before`` more writes are acknowledged, and goes on until a
    write attempted after the kill succeeded and ``after`` more are in; returns when the
    kill was."""
    primary = formation.wait_settled()
    load.start()
    load.wait_for(len(load.acknowledged) + before)
    killed_at = time.monotonic()
    formation.node(primary).kill()
    deadline = killed_at + WRITES_RESUME_WITHIN + WRITE_DEADLINE
    while (resumed := load.resumed_after(killed_at)) is None:
        assert time.monotonic() < deadline, (
            f"no write succeeded after the kill: {formation.report()}"
        )
        assert not load.outcomes.unexpected, load.outcomes.unexpected
        time.sleep(0.05)
    load.wait_for(len(load.acknowledged) + after)
    load.finish()
    assert resumed <= WRITES_RESUME_WITHIN, resumed
    # The consumer catches up on what was committed last.
    assert load.consumer is not None
    with load.client() as http:
        time.sleep(0.5)
        load.consumer.pull(http)
    return killed_at


def replica_status(server: Server) -> str:
    return str(httpx.get(f"{server.url}/readyz", timeout=5).json().get("replica"))


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@needs_formation
def test_losing_the_primary_loses_no_acknowledged_write_and_writes_resume(
    formation: Formation, tmp_path: Path
) -> None:
    engine = create_engine(formation.url(), poolclass=NullPool)
    officer = make_user("field", countries=["SDN"], engine=engine)
    coordinator = make_user(
        "coordinator", clusters=["shelter", "wash", "cccm", "cwg", "health"], engine=engine
    )
    # Reads go to the secondary through the replica routing, by a URL of its own. The
    # Idempotency-Key lease is the default, 120 s: a claim whose request failed with the
    # primary must be released once a primary answers, not when the lease runs out.
    with running(
        formation.url(),
        tmp_path / "server.log",
        workers=2,
        database_replica_url=formation.replica_url(),
    ) as server:
        load = Load(server, officer, coordinator)

        def lose_the_primary(what: str) -> str:
            primary = formation.wait_settled()
            wait_until(lambda: replica_status(server) == "ok", "reads to go to the secondary")
            figures = check(engine, load, fail_over(formation, load, before=30, after=30))
            print(f"\n{what} ({primary} killed): {figures}")
            # (check() already holds every acknowledged write stored: lost is 0 by then.)
            assert figures.duplicates == figures.unacknowledged == 0
            # Writers never pause, so some write is in flight when the primary goes: its
            # retry must not wait for the Idempotency-Key lease.
            assert figures.in_flight >= 1
            assert figures.in_flight_done_after <= WRITES_RESUME_WITHIN
            return primary

        first = lose_the_primary("failover")
        # The old primary rejoins as the new primary's secondary, reads go to it again, and
        # it takes over again when the new primary is lost.
        formation.node(first).run()
        second = lose_the_primary("failback")
        assert second != first
        assert formation.states()[first][0] in ("wait_primary", "primary")
        server_log = server.log_text()
    engine.dispose()
    assert "Traceback" not in server_log
