"""Batches written as sets (issue 11, item 3): app.sitreps.batches.

The set path must answer, and leave in the database, exactly what writing the batch one
sitrep at a time (``batches.submit_each``, each in a savepoint) does. Each test here runs a
batch both ways on the same data, in the same session: one sitrep at a time in a savepoint
that is rolled back (PostgreSQL's sequences are set back with it), then as a set, and
compares the answers byte for byte and every row written (but the transaction id).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from app.audit import service as audit_service
from app.auth import service as auth
from app.auth.models import Role, User
from app.crises import service as crises
from app.crises.schemas import CrisisCreate
from app.db import Base, get_engine
from app.sitreps import batches, bodies
from app.sitreps import service as sitreps
from app.totals import summaries
from tests.factories import Api, line, sitrep

NOW = datetime(2024, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both ways write the same timestamps."""
    for module in (batches, sitreps, audit_service):
        monkeypatch.setattr(module, "utcnow", lambda: NOW)


@pytest.fixture
def officer(session: Session) -> User:
    user = auth.create_user(
        session, name="officer", role=Role.field, countries=["SDN"], clusters_=()
    )
    session.commit()
    return user


def crisis(session: Session) -> int:
    user = auth.create_user(session, name="hq", role=Role.hq, countries=(), clusters_=())
    data = CrisisCreate.model_validate(
        {"name": "Sudan war", "kind": "conflict", "countries": ["SDN"], "started_on": "2023-04-15"}
    )
    crisis_id = crises.create(session, data=data, user=user).id
    session.commit()
    return crisis_id


def stored(session: Session, *items: dict[str, Any], user: User) -> list[int]:
    """Sitreps already in the database, committed."""
    ids = [sitreps.submit(session, data=bodies.validated(item), user=user).id for item in items]
    session.commit()
    return ids


def cumulative(month: int, ytd: int, **extra: Any) -> dict[str, Any]:
    return sitrep(
        line(reached=min(ytd, 100), people_reached_cumulative=ytd, **extra),
        start=f"2024-{month:02d}-01",
        end=f"2024-{month:02d}-28",
    )


def _sequences(session: Session) -> list[tuple[str, int | None]]:
    if session.get_bind().dialect.name != "postgresql":
        return []  # SQLite hands out rowids again once a write is rolled back
    rows = session.execute(
        text("SELECT schemaname || '.' || sequencename, last_value FROM pg_sequences")
    )
    return [(name, last) for name, last in rows]


def _set_back(session: Session, sequences: list[tuple[str, int | None]]) -> None:
    for name, last in sequences:
        if last is None:
            session.execute(text("SELECT setval(:name, 1, false)"), {"name": name})
        else:
            session.execute(text("SELECT setval(:name, :last, true)"), {"name": name, "last": last})


def _rows(session: Session) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, but the writing transaction's id."""
    summaries.write_changes(session)
    session.flush()
    state = {}
    for table in Base.metadata.sorted_tables:
        query = select(table).order_by(*table.primary_key.columns)
        state[table.name] = [
            {k: v for k, v in row.items() if k != "feed_xid"}
            for row in session.execute(query).mappings()
        ]
    return state


class Spy:
    def __init__(self) -> None:
        self.one_at_a_time = 0


@pytest.fixture
def both_ways(
    session: Session, frozen: None, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[dict[str, Any], bool]]:
    def run(items: list[Any], user: User) -> tuple[dict[str, Any], bool]:
        sequences = _sequences(session)
        one_by_one = session.begin_nested()
        with monkeypatch.context() as m:
            m.setattr(batches, "_write_set", lambda *args, **kwargs: None)
            expected = batches.submit_batch(session, items=items, user=user)
        expected_rows = _rows(session)
        one_by_one.rollback()
        _set_back(session, sequences)

        spy = Spy()
        each = batches.submit_each

        def counted_each(*args: Any, **kwargs: Any) -> Any:
            spy.one_at_a_time += 1
            return each(*args, **kwargs)

        with monkeypatch.context() as m:
            m.setattr(batches, "submit_each", counted_each)
            got = batches.submit_batch(session, items=items, user=user)
        assert got.model_dump_json() == expected.model_dump_json()
        got_rows = _rows(session)
        for name in expected_rows:
            assert got_rows[name] == expected_rows[name], name
        return got.model_dump(mode="json"), spy.one_at_a_time == 0

    return run


def statuses(body: dict[str, Any]) -> list[int]:
    return [r["status"] for r in body["results"]]


# --- the same answer and the same rows as one at a time --------------------------------


def test_a_mixed_batch_is_written_as_a_set(
    session: Session, officer: User, both_ways: Callable[..., tuple[dict[str, Any], bool]]
) -> None:
    crisis_id = crisis(session)
    [held, _january, april] = stored(
        session,
        sitrep(line("shelter", admin1="SD07")),
        cumulative(1, 800),
        sitrep(
            line("health", admin1="SD05", people_targeted=900),
            start="2024-04-01",
            end="2024-04-30",
        ),
        user=officer,
    )
    items = [
        # 0: indicators that jsonb stores in another order, a disaggregation, a target
        sitrep(
            line(
                "shelter",
                admin1="SD01",
                reached=40,
                new=30,
                people_targeted=500,
                indicators={"shelter_kits": 5, "households_assisted": 3},
            )
            | {"disaggregation": {"women": 10, "men": 10, "girls": 10, "boys": 10}},
            crisis_id=crisis_id,
        ),
        sitrep(line(admin1="SD99")),  # 1: 422
        sitrep(line(admin1=None), country="TCD"),  # 2: 403
        sitrep(line("shelter", admin1="SD01"), crisis_id=crisis_id),  # 3: 409, item 0
        sitrep(line("shelter", admin1="SD07")),  # 4: 409, stored
        cumulative(2, 1100),  # 5: after January, stored
        cumulative(3, 1450),  # 6: after February, of the batch
        42,  # 7: 422
        sitrep(line("wash", admin1="SD02", people_targeted=100)),  # 8
        sitrep(  # 9: restates item 8's target
            line("wash", admin1="SD02", people_targeted=150), start="2024-04-01", end="2024-04-30"
        ),
        sitrep(  # 10: restates the target of a stored sitrep
            line("health", admin1="SD05", people_targeted=1000),
            start="2024-05-01",
            end="2024-05-31",
        ),
        sitrep(line("cash", admin1="SD03", indicators={"cash_usd": "1234.5", "transfers": 7})),
        sitrep(line("cccm", admin1=None), line("cccm", admin1="SD04"), narrative=None),
    ]
    body, as_a_set = both_ways(items, officer)
    assert as_a_set
    assert statuses(body) == [201, 422, 403, 409, 409, 201, 201, 422, 201, 201, 201, 201, 201]
    ids = [r["sitrep"]["id"] for r in body["results"] if r["sitrep"]]
    assert ids == sorted(ids)
    assert body["results"][3]["problem"]["conflicting_sitrep_id"] == ids[0]
    assert body["results"][4]["problem"]["conflicting_sitrep_id"] == held
    assert [body["results"][i]["sitrep"]["lines"][0]["people_reached_new"] for i in (5, 6)] == [
        300,
        350,
    ]
    assert april  # its target is now 0: the rows compared say so


def test_sitreps_of_several_countries(
    session: Session, both_ways: Callable[..., tuple[dict[str, Any], bool]]
) -> None:
    admin = auth.create_user(session, name="admin", role=Role.admin, countries=(), clusters_=())
    session.commit()
    items = [
        sitrep(line(admin1=None), country="TCD"),
        sitrep(),
        sitrep(line(admin1=None), country="SSD"),
        sitrep(line(admin1=None), country="TCD", start="2024-03-15", end="2024-04-15"),
    ]
    body, as_a_set = both_ways(items, admin)
    assert as_a_set
    assert statuses(body) == [201, 201, 201, 409]


def test_overlapping_periods_within_the_batch(
    session: Session, officer: User, both_ways: Callable[..., tuple[dict[str, Any], bool]]
) -> None:
    items = [
        sitrep(start="2024-03-01", end="2024-03-31"),
        sitrep(line(admin1="SD02"), line(), start="2024-03-31", end="2024-04-30"),
        sitrep(start="2024-04-01", end="2024-04-30"),
        sitrep(line(admin1="SD02"), start="2024-04-15", end="2024-04-20"),
        sitrep(line(admin1="SD01"), line(admin1="SD99")),
    ]
    body, as_a_set = both_ways(items, officer)
    assert as_a_set
    assert statuses(body) == [201, 409, 201, 201, 422]
    first = body["results"][0]["sitrep"]["id"]
    assert body["results"][1]["problem"]["conflicting_sitrep_id"] == first
    assert f"Sitrep {first} " in body["results"][1]["problem"]["detail"]


# --- where the order of the writes decides, one sitrep at a time -----------------------


def test_a_cumulative_figure_going_down_is_refused_as_one_at_a_time(
    session: Session, officer: User, both_ways: Callable[..., tuple[dict[str, Any], bool]]
) -> None:
    [january] = stored(session, cumulative(1, 800), user=officer)
    items = [sitrep(line(admin1="SD02")), cumulative(2, 500), sitrep(line(admin1="SD03"))]
    body, as_a_set = both_ways(items, officer)
    assert not as_a_set
    assert statuses(body) == [201, 409, 201]
    assert body["results"][1]["problem"]["conflicting_sitrep_id"] == january


def test_a_batch_with_an_earlier_period_after_a_cumulative_one(
    session: Session, officer: User, both_ways: Callable[..., tuple[dict[str, Any], bool]]
) -> None:
    items = [cumulative(3, 1450), cumulative(2, 1100), cumulative(1, 800)]
    body, as_a_set = both_ways(items, officer)
    assert not as_a_set
    assert statuses(body) == [201, 201, 201]


def test_a_batch_reaching_before_a_stored_cumulative_period(
    session: Session, officer: User, both_ways: Callable[..., tuple[dict[str, Any], bool]]
) -> None:
    stored(session, cumulative(3, 1450), user=officer)
    items = [cumulative(1, 800), cumulative(2, 1600)]
    body, as_a_set = both_ways(items, officer)
    assert not as_a_set
    assert statuses(body) == [201, 409]


def test_cumulative_chains_in_period_order_are_a_set(
    session: Session, officer: User, both_ways: Callable[..., tuple[dict[str, Any], bool]]
) -> None:
    items = [cumulative(1, 800), cumulative(2, 1100), cumulative(3, 1450), cumulative(4, 1450)]
    body, as_a_set = both_ways(items, officer)
    assert as_a_set
    news = [r["sitrep"]["lines"][0]["people_reached_new"] for r in body["results"]]
    assert news == [800, 300, 350, 0]


def test_a_batch_of_more_slots_than_a_statement_names(
    session: Session,
    officer: User,
    both_ways: Callable[..., tuple[dict[str, Any], bool]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(batches, "_KEYS_PER_QUERY", 2)
    items = [sitrep(line(admin1="SD01"), line(admin1="SD02")), sitrep(line(admin1="SD03"))]
    body, as_a_set = both_ways(items, officer)
    assert not as_a_set
    assert statuses(body) == [201, 201]


# --- imports in mode create ----------------------------------------------------------------


SHEET_HEADER = (
    "country,crisis_id,period_start,period_end,sector,division,phase,admin1,admin2,"
    "people_reached,people_reached_new,people_targeted,women,men,girls,boys,"
    "persons_with_disabilities,households_assisted,water_points"
)
SHEET_ROWS = [
    "SDN,,2024-03-01,2024-03-31,shelter,hod,response,SD01,,100,,,,,,,,3,",
    "SDN,,2024-03-01,2024-03-31,wash,hod,response,SD01,,50,40,200,,,,,,,2",
    "SDN,,2024-03-15,2024-04-15,shelter,hod,response,SD01,,70,,,,,,,,,",
    "SDN,,2024-04-01,2024-04-30,health,hod,response,SD99,,10,,,,,,,,,",
    "TCD,,2024-04-01,2024-04-30,health,hod,response,,,10,,,,,,,,,",
    "SDN,,2024-05-01,2024-05-31,wash,hod,response,SD01,,80,10,250,,,,,,,",
]


def test_an_import_creates_as_one_at_a_time(
    session: Session, officer: User, frozen: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.imports import service as imports
    from app.imports.schemas import ImportOptions
    from app.imports.sheets import Upload

    upload = Upload(("\n".join([SHEET_HEADER, *SHEET_ROWS]) + "\n").encode(), "text/csv")

    def run() -> str:
        report = imports.run(session, upload=upload, options=ImportOptions(), user=officer)
        return report.model_dump_json()

    sequences = _sequences(session)
    one_by_one = session.begin_nested()
    with monkeypatch.context() as m:
        m.setattr(batches, "_write_set", lambda *args, **kwargs: None)
        expected = run()
    expected_rows = _rows(session)
    one_by_one.rollback()
    _set_back(session, sequences)
    calls = []
    write_set = batches._write_set

    def spied(*args: Any, **kwargs: Any) -> Any:
        calls.append(written := write_set(*args, **kwargs))
        return written

    monkeypatch.setattr(batches, "_write_set", spied)
    assert run() == expected
    assert calls and calls[0] is not None  # written as a set
    report = json.loads(expected)
    assert (report["created"], report["refused"]) == (2, 3), report["results"]
    got_rows = _rows(session)
    for name in expected_rows:
        assert got_rows[name] == expected_rows[name], name


# --- the cost ------------------------------------------------------------------------------


@pytest.fixture
def statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(args[2])

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", count)
    yield seen
    event.remove(engine, "before_cursor_execute", count)


def test_a_batch_runs_a_bounded_number_of_statements(
    api: Callable[..., Api], statements: list[str]
) -> None:
    field = api("field", countries=["SDN"])
    items = [
        sitrep(
            line(sector, admin1=f"SD{n % 18 + 1:02d}", reached=n + 1),
            line(sector, admin1=f"SD{n % 18 + 1:02d}", admin2=None, phase="recovery"),
            start=f"2023-{n // 18 + 1:02d}-01",
            end=f"2023-{n // 18 + 1:02d}-05",
        )
        for n in range(200)
        for sector in ["shelter"]
    ]
    statements.clear()
    response = field.post("/api/v1/sitreps/batch", json={"sitreps": items})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 200
    # One sitrep at a time took about 15 statements per sitrep (3,000 here); as a set,
    # about 20 for the whole request, authentication and totals included.
    assert len(statements) <= 40, "\n".join(statements)
