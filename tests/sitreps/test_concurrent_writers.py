"""Writers that do not wait for each other (app.sitreps.order), and what must still hold:
a feed consumer who applies every page holds exactly the live lines when writers commit
out of order, and the totals summaries equal a recount and a rebuild after concurrent
writes. On PostgreSQL writers really overlap; on SQLite they take turns, and the same
checks hold."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.auth import service as auth
from app.clusters import catalog
from app.clusters import service as clusters
from app.db import get_engine, new_session
from app.pagination import encode_cursor
from app.sitreps import service as sitreps_service
from app.sitreps.models import SitrepLine
from app.sitreps.schemas import SitrepCreate
from app.totals import service as totals
from app.totals.models import TotalsCell, TotalsPlace, TotalsSlot
from tests.counting import assert_summaries_equal_recount
from tests.factories import line, make_user, sitrep, wait_for_feed_watermark
from tests.servers import Server, running

SITREPS = "/api/v1/sitreps"
SECTORS = ("shelter", "wash", "cccm", "cash", "health")
CLUSTER_CODES = ("shelter", "wash", "cccm", "cwg", "health")
ADMIN1 = [f"SD{n:02d}" for n in range(1, 9)]


def postgres() -> bool:
    return get_engine().dialect.name == "postgresql"


class Consumer:
    """A cluster coordinator's tool: applies every page of every cluster's feed."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.cursors: dict[str, str | None] = {code: None for code in CLUSTER_CODES}
        self.held: dict[int, dict[str, Any]] = {}

    def pull(self, http: httpx.Client) -> None:
        for code in self.cursors:
            while True:
                params: dict[str, Any] = {"limit": 50}
                if self.cursors[code] is not None:
                    params["since"] = self.cursors[code]
                page = http.get(
                    f"{self.url}/api/v1/clusters/{code}/feed",
                    params=params,
                    headers={"Authorization": f"Bearer {self.token}"},
                )
                assert page.status_code == 200, page.text
                body = page.json()
                for item in body["items"]:
                    if item["status"] == "withdrawn":
                        self.held.pop(item["line_id"], None)
                    else:
                        self.held[item["line_id"]] = item
                self.cursors[code] = body["next_cursor"]
                if len(body["items"]) < 50:
                    break


def live_lines(session: Session) -> dict[int, tuple[int, int]]:
    """Every live line's reach and new reach, by line id."""
    return {
        row.id: (row.people_reached, row.people_reached_new)
        for row in session.execute(
            select(SitrepLine.id, SitrepLine.people_reached, SitrepLine.people_reached_new).where(
                SitrepLine.status == "submitted"
            )
        )
    }


def summaries() -> list[list[tuple[Any, ...]]]:
    with new_session() as session:
        return [
            [
                tuple(r)
                for r in session.execute(select(m.__table__).order_by(*m.__table__.primary_key))
            ]
            for m in (TotalsCell, TotalsPlace, TotalsSlot)
        ]


# --- out of order, by hand ----------------------------------------------------------------


def test_a_line_committed_after_a_later_one_still_reaches_the_consumer(migrated: str) -> None:
    """Writer A writes first and commits last; writer B writes a second slot and commits
    in between. A consumer pulling in between must not move its cursor past A's line:
    after A commits, one more pull gives it both lines (without the watermark it would hold
    B's line only, for ever). On SQLite writers take turns, so B waits for A instead."""
    field = make_user("field", countries=["SDN"])
    coordinator = make_user("coordinator", clusters=["shelter"])

    def user(session: Any, token: str) -> Any:
        found = auth.authenticate(session, token=token)
        assert found is not None
        return found

    def pull(since: str | None) -> tuple[list[int], str]:
        with new_session() as session:
            viewer = user(session, coordinator)
            page = clusters.feed(
                session,
                cluster=catalog.CLUSTERS["shelter"],
                countries=None,
                since=since,
                limit=100,
                user=viewer,
            )
            return [item["line_id"] for item in page.items], page.next_cursor

    first_ids, cursor = pull(None)
    assert first_ids == []
    a_body = SitrepCreate.model_validate(sitrep(line("shelter", admin1="SD01", reached=11)))
    b_body = SitrepCreate.model_validate(sitrep(line("shelter", admin1="SD02", reached=22)))
    with new_session(writes=True) as a:
        a_sitrep = sitreps_service.submit(a, data=a_body, user=user(a, field))
        a.flush()
        if postgres():
            with new_session(writes=True) as b:
                sitreps_service.submit(b, data=b_body, user=user(b, field))
                b.commit()
            seen, cursor = pull(cursor)
            # B has committed, but A, older, is still running: B is held back.
            assert seen == []
        a.commit()
        a_sitrep_id = a_sitrep.id
    if not postgres():
        with new_session(writes=True) as b:
            sitreps_service.submit(b, data=b_body, user=user(b, field))
            b.commit()
    wait_for_feed_watermark()
    seen, cursor = pull(cursor)
    with new_session() as session:
        rows = session.execute(select(SitrepLine.sitrep_id, SitrepLine.id)).all()
        lines = {sitrep_id: line_id for sitrep_id, line_id in rows}
    assert sorted(seen) == sorted(lines.values())
    assert a_sitrep_id in lines and len(lines) == 2
    assert pull(cursor)[0] == []


def test_a_cursor_from_before_the_upgrade_still_resumes(migrated: str) -> None:
    """A cursor handed out before feed positions had a transaction id carried the number
    alone; it still means "after that number, among the lines written before"."""
    field = make_user("field", countries=["SDN"])
    coordinator = make_user("coordinator", clusters=["shelter"])
    with new_session() as session:
        officer = auth.authenticate(session, token=field)
        viewer = auth.authenticate(session, token=coordinator)
        assert officer is not None and viewer is not None
        sitreps_service.submit(
            session,
            data=SitrepCreate.model_validate(sitrep(line("shelter", admin1="SD03"))),
            user=officer,
        )
        session.commit()
        page = clusters.feed(
            session,
            cluster=catalog.CLUSTERS["shelter"],
            countries=None,
            since=encode_cursor("feed", [0]),
            limit=100,
            user=viewer,
        )
    assert [item["admin1"] for item in page.items] == ["SD03"]


# --- many writers, one consumer -----------------------------------------------------------


@pytest.fixture
def server(migrated: str, tmp_path: Path) -> Iterator[Server]:
    with running(migrated, tmp_path / "server.log", workers=2, rate_limit_per_minute="0") as server:
        yield server


def test_concurrent_writers_and_a_consumer_agree_with_the_lines_and_the_recount(
    server: Server,
) -> None:
    """Eight writers submit, amend and withdraw at random over shared and separate slots
    (cumulative figures included) while a consumer pulls every feed all along. Afterwards:
    no answer was a 5xx; the consumer holds exactly the live lines with their figures; the
    summaries equal a from-scratch recount and a rebuild."""
    officers = [make_user("field", countries=["SDN"]) for _ in range(8)]
    coordinator = make_user("coordinator", clusters=list(CLUSTER_CODES))
    consumer = Consumer(server.url, coordinator)
    statuses: list[int] = []
    failures: list[str] = []
    done = threading.Event()

    def writer(i: int) -> None:
        rng = random.Random(i)
        mine: list[tuple[int, str]] = []  # (sitrep id, etag)
        with httpx.Client(timeout=120) as http:
            headers = {"Authorization": f"Bearer {officers[i]}"}
            for step in range(14):
                choice = rng.random()
                if mine and choice < 0.2:
                    sitrep_id, etag = mine.pop(rng.randrange(len(mine)))
                    answer = http.request(
                        "DELETE",
                        f"{server.url}{SITREPS}/{sitrep_id}",
                        json={"reason": "Reported twice."},
                        headers={**headers, "If-Match": etag},
                    )
                elif mine and choice < 0.45:
                    k = rng.randrange(len(mine))
                    sitrep_id, etag = mine[k]
                    current = http.get(f"{server.url}{SITREPS}/{sitrep_id}", headers=headers)
                    body = current.json()
                    lines = [
                        {
                            key: ln[key]
                            for key in ("sector", "division", "phase", "admin1", "admin2")
                        }
                        | {"people_reached": ln["people_reached"] + rng.randint(1, 50)}
                        for ln in body["lines"]
                    ]
                    answer = http.put(
                        f"{server.url}{SITREPS}/{sitrep_id}",
                        json=sitrep(*lines, start=body["period_start"], end=body["period_end"]),
                        headers={**headers, "If-Match": current.headers["ETag"]},
                    )
                    if answer.status_code == 200:
                        mine[k] = (sitrep_id, answer.headers["ETag"])
                else:
                    month = rng.randint(1, 6)
                    # Shared slots (sector by step, admin1 from a few) make 409s and chains.
                    lines = [
                        line(
                            SECTORS[(i + step) % 5],
                            admin1=ADMIN1[rng.randrange(4)],
                            reached=rng.randint(10, 500),
                        )
                        for _ in range(1)
                    ]
                    answer = http.post(
                        f"{server.url}{SITREPS}",
                        json=sitrep(
                            *lines, start=f"2024-{month:02d}-01", end=f"2024-{month:02d}-28"
                        ),
                        headers=headers,
                    )
                    if answer.status_code == 201:
                        mine.append((answer.json()["id"], answer.headers["ETag"]))
                statuses.append(answer.status_code)
                if answer.status_code >= 500:
                    failures.append(answer.text)

    def consume() -> None:
        with httpx.Client(timeout=120) as http:
            while not done.is_set():
                consumer.pull(http)

    with ThreadPoolExecutor(max_workers=9) as pool:
        pulling = pool.submit(consume)
        writers = [pool.submit(writer, i) for i in range(8)]
        for w in writers:
            w.result()
        done.set()
        pulling.result()
    assert failures == []
    assert 201 in statuses and 200 in statuses
    wait_for_feed_watermark()
    with httpx.Client(timeout=120) as http:
        consumer.pull(http)

    with new_session() as session:
        live = live_lines(session)
    assert sorted(consumer.held) == sorted(live)
    assert {
        line_id: (item["people_reached"], item["people_reached_new"])
        for line_id, item in consumer.held.items()
    } == live

    with new_session() as session:
        assert_summaries_equal_recount(session, (), ("sector",), ("admin1",), ("sector", "admin1"))
    kept = summaries()
    with new_session(writes=True) as session:
        session.execute(text("SELECT 1"))
        totals.rebuild(session)
        session.commit()
    assert summaries() == kept


def test_a_write_in_another_database_does_not_hold_the_feed_back(api) -> None:
    """The watermark leaves out the server's other databases: a transaction there, open
    and holding a transaction id, does not keep this database's new lines out of feeds
    (a busy neighbour on a shared server would otherwise freeze them)."""
    if not postgres():
        pytest.skip("PostgreSQL only: SQLite has no other databases")
    field = api("field", countries=["SDN"])
    coordinator = api("coordinator", clusters=["shelter"])
    neighbour = get_engine().url.set(database="postgres")
    other = create_engine(neighbour)
    try:
        with other.connect() as connection:
            older = connection.exec_driver_sql("SELECT pg_current_xact_id()::text::bigint")
            assert older.scalar_one() > 0  # an open transaction with an id, left running
            answer = field.post(SITREPS, json=sitrep(line("shelter", admin1="SD05", reached=5)))
            assert answer.status_code == 201, answer.text
            page = coordinator.get("/api/v1/clusters/shelter/feed")
            assert [item["admin1"] for item in page.json()["items"]] == ["SD05"]
            connection.rollback()
    finally:
        other.dispose()


def test_an_import_that_may_amend_locks_those_sitreps_before_their_slots(migrated: str) -> None:
    """An amendment locks its sitrep, then its slots; an import in mode update or upsert
    takes them in the same order (the sitreps it may amend first, then every slot at once),
    so that it and an amendment never hold one each and wait for the other's."""
    if not postgres():
        pytest.skip("PostgreSQL only: SQLite has one writer at a time")
    field = make_user("field", countries=["SDN"])
    body = sitrep(line("shelter", admin1="SD06", reached=5))
    with new_session(writes=True) as session:
        officer = auth.authenticate(session, token=field)
        assert officer is not None
        stored = sitreps_service.submit(
            session, data=SitrepCreate.model_validate(body), user=officer
        )
        session.commit()
        stored_id = stored.id
    sheet = sitrep(line("shelter", admin1="SD06", reached=9), line("wash", admin1="SD06"))
    with new_session(writes=True) as importing:
        sitreps_service.lock_slots_of(
            importing, [SitrepCreate.model_validate(sheet)], with_their_sitreps=True
        )
        with get_engine().connect() as other:
            other.exec_driver_sql("SET lock_timeout = '100ms'")
            row_free = True
            try:
                other.exec_driver_sql(f"SELECT id FROM sitreps WHERE id = {stored_id} FOR UPDATE")
            except OperationalError:  # the lock timeout: another transaction holds the row
                row_free = False
            other.rollback()
        assert not row_free, "the sitrep the import may amend was not locked first"
        importing.rollback()
