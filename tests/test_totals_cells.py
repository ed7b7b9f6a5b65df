"""The pre-aggregated totals cells against the from-scratch recount.

Totals are read from ``totals_cells``, which every submission, amendment and withdrawal
keeps up to date. Over random sequences of those writes (hypothesis), three things must
agree exactly: the totals the service answers (cells), the same statement over every line
(``source=LINES``, a from-scratch GROUP BY), and DOMAIN.md's rules written out in Python
over the live data the test kept itself. The cells must also equal a rebuild from the lines.
"""

from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.auth import service as auth
from app.auth.models import Role, User
from app.errors import Conflict
from app.sectors.service import SECTORS
from app.sitreps.models import Sitrep, SitrepLine, SitrepRevision
from app.totals import service as totals
from app.totals.models import TotalsCell, TotalsPlace, TotalsSlot
from tests.test_totals import (
    all_group_bys,
    amend,
    as_live,
    crisis,
    expected_totals,
    submit,
    withdraw,
)

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
]


@st.composite
def lines_for(draw: st.DrawFn, country: str) -> list[dict[str, Any]]:
    slots = draw(
        st.lists(
            st.tuples(
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
        result.append(
            {
                "sector": sector,
                "division": division,
                "phase": phase,
                "admin1": admin1,
                "admin2": admin2,
                "people_reached": reached,
                "people_reached_new": draw(st.integers(0, reached)),
                "people_targeted": draw(st.none() | st.integers(0, 3_000)),
            }
        )
    return result


@pytest.fixture
def people(session: Session) -> tuple[User, User, list[int]]:
    hq = auth.create_user(session, name="analyst", role=Role.hq)
    officer = auth.create_user(session, name="officer", role=Role.field, countries=["SDN", "TCD"])
    crises = [
        crisis(session, hq, "Conflict", ["SDN", "TCD"]),
        crisis(session, hq, "Floods", ["SDN"]),
    ]
    return hq, officer, crises


def forget_sitreps(session: Session) -> None:
    summaries = (TotalsCell, TotalsPlace, TotalsSlot)
    for model in (AuditEvent, SitrepRevision, SitrepLine, Sitrep, *summaries):
        session.execute(delete(model))


def slots(session: Session) -> list[tuple[Any, ...]]:
    table = TotalsSlot.__table__
    return [tuple(row) for row in session.execute(select(table).order_by(*table.primary_key))]


def places(session: Session) -> list[tuple[Any, ...]]:
    table = TotalsPlace.__table__
    return [tuple(row) for row in session.execute(select(table).order_by(*table.primary_key))]


def cells(session: Session) -> list[tuple[Any, ...]]:
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
            if action == "amend":
                handles[sitrep_id] = amend(session, officer, handles[sitrep_id], *lines, **header)
            else:
                s = submit(session, officer, *lines, **header)
                handles[s.id] = s
                sitrep_id = s.id
        except Conflict:
            continue  # the slot is held for that period: nothing was written
        live[sitrep_id] = (header, lines)
    session.flush()

    expected_lines = [ln for header, body in live.values() for ln in as_live(header, body)]
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
    assert all(row[-1] > 0 for row in kept_cells + kept_places + kept_slots)
    totals.rebuild_cells(session)
    assert cells(session) == kept_cells
    assert places(session) == kept_places
    assert slots(session) == kept_slots


def test_places_have_a_column_for_every_sector() -> None:
    assert set(totals.PLACE_SECTORS) == set(SECTORS)
    assert set(totals.PLACE_SECTORS) <= set(TotalsPlace.__table__.columns.keys())


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
    assert [(c[0], c[-1]) for c in cells(session)] == [(2025, 1)]
    assert (
        date(2025, 1, 31).year
        == totals.totals(session, query=totals.TotalsQuery(), user=hq).rows[0].year
    )
