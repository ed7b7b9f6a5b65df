"""The pre-aggregated totals cells against the from-scratch recount.

Totals are read from ``totals_cells``, which every submission, amendment and withdrawal
keeps up to date. Over random sequences of those writes (hypothesis), three things must
agree exactly: the totals the service answers (cells), the same statement over every line
(``source=LINES``, a from-scratch GROUP BY), and DOMAIN.md's rules written out in Python
over the live data the test kept itself. The cells must also equal a rebuild from the lines.
"""

from collections import defaultdict
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.auth import service as auth
from app.auth.models import Role, User
from app.clusters import catalog
from app.clusters import service as clusters
from app.errors import Conflict
from app.pagination import encode_cursor
from app.sectors.catalog import SECTORS
from app.sitreps.models import Sitrep, SitrepLine, SitrepRevision
from app.totals import service as totals
from app.totals import summaries
from app.totals.models import TotalsCell, TotalsPlace, TotalsSlot
from tests.counting import (
    all_group_bys,
    amend,
    as_live,
    crisis,
    expected_totals,
    submit,
    withdraw,
)
from tests.factories import wait_for_feed_watermark

LOCATIONS = {
    "SDN": [(None, None), ("SD01", None), ("SD01", "SD01001"), ("SD02", None)],
    "TCD": [(None, None), ("TCD14", None), ("TCD14", "TCD1401")],
}
# Periods that overlap (a week inside a month) and periods in two years, so that slot
# conflicts happen and amendments move lines from one year to another.
PERIODS = [
    ("2023-12-01", "2023-12-31"),
    ("2024-01-01", "2024-01-31"),
    ("2024-01-08", "2024-01-14"),
    ("2024-02-01", "2024-02-29"),
    ("2024-03-01", "2024-03-31"),
]
# Slots drawn half the time, so that several periods of one slot make chains: lines that
# give people_reached_cumulative stand for their increase over the period before.
HOT_SLOTS = {
    "SDN": [
        ("shelter", "hod", "response", ("SD01", None)),
        ("wash", "hod", "response", (None, None)),
    ],
    "TCD": [("health", "prd", "recovery", ("TCD14", None))],
}


@st.composite
def lines_for(draw: st.DrawFn, country: str) -> list[dict[str, Any]]:
    slots = draw(
        st.lists(
            st.sampled_from(HOT_SLOTS[country])
            | st.tuples(
                st.sampled_from(["shelter", "wash", "health"]),
                st.sampled_from(["hod", "prd"]),
                st.sampled_from(["response", "recovery"]),
                st.sampled_from(LOCATIONS[country]),
            ),
            min_size=1,
            max_size=5,
            unique=True,
        )
    )
    result = []
    for sector, division, phase, (admin1, admin2) in slots:
        reached = draw(st.integers(0, 2_000))
        figures: dict[str, Any] = {"people_reached": reached}
        given = draw(st.sampled_from(["new", "cumulative", "neither"]))
        if given == "new":
            figures["people_reached_new"] = draw(st.integers(0, reached))
        elif given == "cumulative":
            figures["people_reached_cumulative"] = draw(st.integers(reached, reached + 4_000))
        if draw(st.booleans()):
            # Women, men, girls, boys adding up to people_reached, as the API requires.
            cuts = sorted(draw(st.lists(st.integers(0, reached), min_size=3, max_size=3)))
            parts = [cuts[0], cuts[1] - cuts[0], cuts[2] - cuts[1], reached - cuts[2]]
            figures["disaggregation"] = dict(
                zip(("women", "men", "girls", "boys"), parts, strict=True)
            )
        result.append(
            {
                "sector": sector,
                "division": division,
                "phase": phase,
                "admin1": admin1,
                "admin2": admin2,
                **figures,
                "people_targeted": draw(st.none() | st.integers(0, 3_000)),
            }
        )
    return result


def counted_lines(live: dict[int, tuple[dict[str, Any], list[dict[str, Any]]]]) -> list[dict]:
    """The live lines as DOMAIN.md counts them, worked out plainly: along each slot's year,
    in period order, a cumulative figure stands for its increase over the year-to-date reach
    before it (the cumulative figure before, plus the new reach given since)."""
    chains: dict[tuple[Any, ...], list[tuple[str, dict[str, Any], dict[str, Any]]]] = defaultdict(
        list
    )
    counted = []
    for header, body in live.values():
        figures = [{"people_reached_new": None, **sent} for sent in body]
        for sent, ln in zip(body, as_live(header, figures), strict=True):
            key = (ln["country"], ln["crisis_id"], ln["year"], *slot_of(ln))
            chains[key].append((header["end"], sent, ln))
            counted.append(ln)
    for members in chains.values():
        ytd = 0
        for _end, sent, ln in sorted(members, key=lambda m: m[0]):
            if sent.get("people_reached_cumulative") is not None:
                ln["new"] = sent["people_reached_cumulative"] - ytd
                ytd = sent["people_reached_cumulative"]
            else:
                ln["new"] = sent.get("people_reached_new", sent["people_reached"])
                ytd += ln["new"]
    return counted


def slot_of(ln: dict[str, Any]) -> tuple[Any, ...]:
    return (ln["sector"], ln["division"], ln["phase"], ln["admin1"], ln["admin2"])


@pytest.fixture
def people(session: Session) -> tuple[User, User, list[int]]:
    hq = auth.create_user(session, name="analyst", role=Role.hq)
    officer = auth.create_user(session, name="officer", role=Role.field, countries=["SDN", "TCD"])
    crises = [
        crisis(session, hq, "Conflict", ["SDN", "TCD"]),
        crisis(session, hq, "Floods", ["SDN"]),
    ]
    return hq, officer, crises


@pytest.fixture
def coordinator(session: Session) -> User:
    return auth.create_user(
        session, name="coordinator", role=Role.coordinator, clusters_=["shelter", "wash"]
    )


def forget_sitreps(session: Session) -> None:
    summaries.write_changes(session)
    for model in (
        AuditEvent,
        SitrepRevision,
        SitrepLine,
        Sitrep,
        TotalsCell,
        TotalsPlace,
        TotalsSlot,
    ):
        session.execute(delete(model))


def slots(session: Session) -> list[tuple[Any, ...]]:
    summaries.write_changes(session)
    table = TotalsSlot.__table__
    return [tuple(row) for row in session.execute(select(table).order_by(*table.primary_key))]


def places(session: Session) -> list[tuple[Any, ...]]:
    summaries.write_changes(session)
    table = TotalsPlace.__table__
    return [tuple(row) for row in session.execute(select(table).order_by(*table.primary_key))]


def cells(session: Session) -> list[tuple[Any, ...]]:
    """The cells as this transaction sees them, with its own changes."""
    summaries.write_changes(session)
    return [
        tuple(row)
        for row in session.execute(
            select(TotalsCell.__table__).order_by(*TotalsCell.__table__.primary_key)
        )
    ]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_cells_equal_the_recount_after_any_writes(
    session: Session, people: tuple[User, User, list[int]], data: st.DataObject
) -> None:
    hq, officer, crisis_ids = people
    forget_sitreps(session)
    live: dict[int, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    handles: dict[int, Sitrep] = {}
    for _ in range(data.draw(st.integers(1, 12), label="writes")):
        action = data.draw(
            st.sampled_from(["submit", "amend", "withdraw"]) if live else st.just("submit")
        )
        if action == "withdraw":
            sitrep_id = data.draw(st.sampled_from(sorted(live)))
            withdraw(session, officer, handles[sitrep_id])
            del live[sitrep_id]
            continue
        country = (
            live[sitrep_id][0]["country"]
            if action == "amend" and (sitrep_id := data.draw(st.sampled_from(sorted(live))))
            else data.draw(st.sampled_from(["SDN", "TCD"]))
        )
        start, end = data.draw(st.sampled_from(PERIODS))
        crises = [None, crisis_ids[0]] + ([crisis_ids[1]] if country == "SDN" else [])
        header = {
            "country": country,
            "crisis_id": data.draw(st.sampled_from(crises)),
            "start": start,
            "end": end,
        }
        lines = data.draw(lines_for(country))
        try:
            with session.begin_nested():
                if action == "amend":
                    handles[sitrep_id] = amend(
                        session, officer, handles[sitrep_id], *lines, **header
                    )
                else:
                    s = submit(session, officer, *lines, **header)
                    handles[s.id] = s
                    sitrep_id = s.id
        except Conflict as exc:
            # The slot is held for that period, or a cumulative figure would go down:
            # nothing was written. The latter only when it would.
            if "cumulative" in exc.detail:
                trial = dict(live)
                trial[-1 if action == "submit" else sitrep_id] = (header, lines)
                assert any(ln["new"] < 0 for ln in counted_lines(trial)), exc.detail
            continue
        live[sitrep_id] = (header, lines)
    summaries.write_changes(session)

    expected_lines = counted_lines(live)
    # The service refused every write that would have made a figure go down.
    assert all(ln["new"] >= 0 for ln in expected_lines)
    stored = {
        line_id: new
        for line_id, new in session.execute(
            select(SitrepLine.id, SitrepLine.people_reached_new).where(
                SitrepLine.status == "submitted"
            )
        )
    }
    for group_by in [*all_group_bys()[:6], ("sector", "admin1"), ("crisis", "division", "phase")]:
        for filters in (
            {},
            {"years": [2024]},
            {"countries": ["SDN"], "sectors": ["wash", "health"]},
        ):
            query = totals.TotalsQuery(group_by=group_by, **filters)
            from_cells = [
                dict(r)
                for r in session.execute(
                    totals.totals_select(query, countries=filters.get("countries"))
                ).mappings()
            ]
            from_lines = [
                dict(r)
                for r in session.execute(
                    totals.totals_select(
                        query, countries=filters.get("countries"), source=totals.LINES
                    )
                ).mappings()
            ]
            assert from_cells == from_lines, (group_by, filters)
            # ... and both are DOMAIN.md's rules, over what the test knows is live.
            kept = [
                ln
                for ln in expected_lines
                if ln["year"] in filters.get("years", [ln["year"]])
                and ln["country"] in filters.get("countries", [ln["country"]])
                and ln["sector"] in filters.get("sectors", [ln["sector"]])
            ]
            shown = [
                r.model_dump(exclude_unset=True)
                for r in totals.totals(session, query=query, user=hq).rows
            ]
            assert shown == expected_totals(kept, group_by), (group_by, filters)

    # The cells are exactly what a rebuild from the lines gives: no drift, no empty cells.
    kept_cells, kept_places, kept_slots = cells(session), places(session), slots(session)
    for model in (TotalsCell, TotalsPlace, TotalsSlot):
        assert session.scalar(select(func.count()).where(model.lines <= 0)) == 0
    totals.rebuild(session)
    # ... and the rebuild finds every line's figure already settled along its chain.
    assert {
        line_id: new
        for line_id, new in session.execute(
            select(SitrepLine.id, SitrepLine.people_reached_new).where(
                SitrepLine.status == "submitted"
            )
        )
    } == stored
    assert cells(session) == kept_cells
    assert places(session) == kept_places
    assert slots(session) == kept_slots


def test_places_have_a_column_for_every_sector() -> None:
    assert set(summaries.SECTORS) == set(SECTORS)
    assert set(summaries.SECTORS) <= set(TotalsPlace.__table__.columns.keys())


def test_withdrawing_the_last_line_of_a_cell_removes_the_cell(session: Session, people) -> None:
    hq, officer, _ = people
    s = submit(
        session,
        officer,
        {
            "sector": "wash",
            "admin1": "SD01",
            "admin2": None,
            "division": "hod",
            "phase": "response",
            "people_reached": 10,
        },
        country="SDN",
        start="2024-03-01",
        end="2024-03-31",
    )
    assert len(cells(session)) == 1
    assert len(places(session)) == len(slots(session)) == 1
    withdraw(session, officer, s)
    assert cells(session) == places(session) == slots(session) == []
    assert totals.totals(session, query=totals.TotalsQuery(), user=hq).rows == []


def test_amending_the_period_into_another_year_moves_the_cell(session: Session, people) -> None:
    hq, officer, _ = people
    line = {
        "sector": "wash",
        "admin1": "SD01",
        "admin2": None,
        "division": "hod",
        "phase": "response",
        "people_reached": 10,
    }
    s = submit(session, officer, line, country="SDN", start="2024-12-01", end="2024-12-31")
    assert [c[0] for c in cells(session)] == [2024]
    amend(session, officer, s, line, country="SDN", start="2025-01-01", end="2025-01-31")
    assert [(c[0], c[11]) for c in cells(session)] == [(2025, 1)]  # year, lines
    assert (
        date(2025, 1, 31).year
        == totals.totals(session, query=totals.TotalsQuery(), user=hq).rows[0].year
    )


# --- chains: cumulative figures corrected out of order ------------------------------------

CHAIN_MONTHS = [
    ("2023-12-01", "2023-12-31"),
    ("2024-01-01", "2024-01-31"),
    ("2024-02-01", "2024-02-29"),
    ("2024-03-01", "2024-03-31"),
    ("2024-04-01", "2024-04-30"),
]
CHAIN_SLOTS = [("shelter", "SD01"), ("wash", "SD01"), ("shelter", "SD02")]


@st.composite
def chain_lines(draw: st.DrawFn) -> list[dict[str, Any]]:
    result = []
    for sector, admin1 in draw(st.lists(st.sampled_from(CHAIN_SLOTS), min_size=1, unique=True)):
        reached = draw(st.integers(0, 1_000))
        figures: dict[str, Any] = {"people_reached": reached}
        given = draw(st.sampled_from(["new", "cumulative", "cumulative", "neither"]))
        if given == "new":
            figures["people_reached_new"] = draw(st.integers(0, reached))
        elif given == "cumulative":
            figures["people_reached_cumulative"] = reached + draw(st.integers(0, 3_000))
        result.append(
            {
                "sector": sector,
                "division": "hod",
                "phase": "response",
                "admin1": admin1,
                "admin2": None,
                **figures,
                "people_targeted": draw(st.none() | st.integers(0, 5_000)),
            }
        )
    return result


def _pull(
    session: Session, coordinator: User, cursors: dict[str, str], held: dict[int, dict]
) -> None:
    """What a feed consumer does: applies every page of each cluster since its cursor."""
    for code in ("shelter", "wash"):
        while True:
            page = clusters.feed(
                session,
                cluster=catalog.CLUSTERS[code],
                countries=None,
                since=cursors[code],
                limit=3,
                user=coordinator,
            )
            for item in page.items:
                if item["status"] == "withdrawn":
                    held.pop(item["line_id"], None)
                else:
                    held[item["line_id"]] = item
            cursors[code] = page.next_cursor
            if len(page.items) < 3:
                break


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_cumulative_chains_follow_every_correction(
    session: Session,
    people: tuple[User, User, list[int]],
    coordinator: User,
    data: st.DataObject,
) -> None:
    """Monthly sitreps of a few slots, given as new reach, as year-to-date reach or as
    neither, submitted, amended (to other months too) and withdrawn in any order: the
    summaries, the recount, the rebuild and a feed consumer all hold DOMAIN.md's figures,
    and a refusal happens exactly when a year-to-date figure would go down."""
    hq, officer, _crisis_ids = people
    forget_sitreps(session)
    start = encode_cursor("feed", [0])
    cursors = {"shelter": start, "wash": start}
    held: dict[int, dict[str, Any]] = {}
    live: dict[int, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    handles: dict[int, Sitrep] = {}
    for _ in range(data.draw(st.integers(1, 10), label="writes")):
        action = data.draw(
            st.sampled_from(["submit", "submit", "amend", "withdraw"])
            if live
            else st.just("submit")
        )
        target = data.draw(st.sampled_from(sorted(live))) if action != "submit" else -1
        if action == "withdraw":
            withdraw(session, officer, handles[target])
            del live[target]
        else:
            period_start, end = data.draw(st.sampled_from(CHAIN_MONTHS))
            header = {"country": "SDN", "crisis_id": None, "start": period_start, "end": end}
            lines = data.draw(chain_lines())
            trial = {**live, target: (header, lines)}
            try:
                with session.begin_nested():
                    if action == "amend":
                        handles[target] = amend(session, officer, handles[target], *lines, **header)
                    else:
                        s = submit(session, officer, *lines, **header)
                        target = s.id
                        handles[target] = s
            except Conflict as exc:
                if "cumulative" in exc.detail:
                    assert any(ln["new"] < 0 for ln in counted_lines(trial)), exc.detail
                else:
                    assert "overlaps" in exc.detail
                continue
            # Accepted: then no figure went down.
            assert all(ln["new"] >= 0 for ln in counted_lines(trial))
            live[target] = (header, lines)
        # Each write commits, as a request does; the consumer reads what is committed.
        session.commit()
        _pull(session, coordinator, cursors, held)

    expected = counted_lines(live)
    for group_by in [(), ("sector",), ("admin1",), ("sector", "admin1")]:
        query = totals.TotalsQuery(group_by=group_by)
        shown = [
            r.model_dump(exclude_unset=True)
            for r in totals.totals(session, query=query, user=hq).rows
        ]
        assert shown == expected_totals(expected, group_by), group_by
        summaries.write_changes(session)
        recount = session.execute(totals.totals_select(query, countries=None, source=totals.LINES))
        assert [dict(r) for r in recount.mappings()] == [
            dict(r) for r in session.execute(totals.totals_select(query, countries=None)).mappings()
        ]
    # The consumer's lines are the live lines, with the figures totals count, once the
    # feed serves every write (another transaction may have held them back a moment).
    session.commit()
    wait_for_feed_watermark()
    _pull(session, coordinator, cursors, held)
    by_slot: dict[tuple[Any, ...], int] = defaultdict(int)
    for item in held.values():
        by_slot[(item["period_end"].year, item["sector"], item["admin1"])] += item[
            "people_reached_new"
        ]
    recounted: dict[tuple[Any, ...], int] = defaultdict(int)
    for ln in expected:
        recounted[(ln["year"], ln["sector"], ln["admin1"])] += ln["new"]
    assert by_slot == recounted
    assert len(held) == len(expected)

    kept = cells(session), places(session), slots(session)
    totals.rebuild(session)
    assert (cells(session), places(session), slots(session)) == kept


def test_changes_of_a_transaction_that_ended_never_reach_the_next(session: Session) -> None:
    """Changes wait for their own transaction's commit; a session closed (or rolled back)
    before it forgets them, so a session used again does not apply them later."""
    change = (
        2024,
        "SDN",
        "wash",
        "hod",
        "response",
        None,
        "SD01",
        None,
        5,
        5,
        0,
        None,
        None,
        None,
        None,
    )
    summaries.apply_changes(session, removed=[], added=[change])
    session.close()
    summaries.apply_changes(session, removed=[], added=[])
    session.commit()
    assert cells(session) == []
    summaries.apply_changes(session, removed=[], added=[change])
    session.rollback()
    session.commit()
    assert cells(session) == []
