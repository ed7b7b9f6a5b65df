"""The counting rules written out plainly, and the service-level helpers the tests of
totals share: submit, amend and withdraw through the services, the expected rows, and a
plain-Python oracle of DOMAIN.md's rules (expected_totals, split_reach) that the summaries
are checked against."""

import calendar
import itertools
import math
from collections import defaultdict
from datetime import date
from fractions import Fraction
from typing import Any

from sqlalchemy.orm import Session

from app.auth.models import User
from app.crises import service as crises
from app.crises.schemas import CrisisCreate
from app.sitreps import reads
from app.sitreps import service as sitreps
from app.sitreps.models import Sitrep
from app.sitreps.schemas import SitrepCreate
from app.totals import service as totals
from tests.factories import sitrep

# Every figure of a totals row: those the summaries add up, then the needs'.
FIGURES = (*totals.FIGURES, "people_in_need", "coverage")
# group_by names in the order rows are sorted by, and the row field each one fills.
GROUPS = ("sector", "division", "phase", "crisis", "admin1")
FIELD = {"crisis": "crisis_id"}
SLOT_FIELDS = ("sector", "division", "phase", "admin1", "admin2")


def month(m: int, year: int = 2024) -> dict[str, str]:
    """sitrep() keyword arguments for one calendar month."""
    last = calendar.monthrange(year, m)[1]
    return {"start": f"{year}-{m:02d}-01", "end": f"{year}-{m:02d}-{last:02d}"}


def body(*lines: dict[str, Any], **header: Any) -> SitrepCreate:
    return SitrepCreate.model_validate(sitrep(*lines, **header))


def submit(session: Session, user: User, *lines: dict[str, Any], **header: Any) -> Sitrep:
    return sitreps.submit(session, data=body(*lines, **header), user=user)


def amend(session: Session, user: User, s: Sitrep, *lines: dict[str, Any], **header: Any) -> Sitrep:
    return sitreps.amend(
        session, sitrep_id=s.id, data=body(*lines, **header), if_match=reads.etag(s), user=user
    )


def withdraw(session: Session, user: User, s: Sitrep) -> Sitrep:
    return sitreps.withdraw(
        session, sitrep_id=s.id, reason="reported twice", if_match=reads.etag(s), user=user
    )


def crisis(session: Session, user: User, name: str, countries: list[str]) -> int:
    data = CrisisCreate(name=name, kind="conflict", countries=countries, started_on="2023-04-15")
    return crises.create(session, data=data, user=user).id


def rows(session: Session, user: User, *group_by: str, **filters: Any) -> list[dict[str, Any]]:
    """totals.totals() as the API shows it: only the fields that were set."""
    query = totals.TotalsQuery(group_by=tuple(group_by), **filters)
    result = totals.totals(session, query=query, user=user)
    return [row.model_dump(exclude_unset=True) for row in result.rows]


def row(country: str = "SDN", year: int = 2024, **fields: Any) -> dict[str, Any]:
    """An expected row (the targets are 0 unless the figures say otherwise; no needs are
    loaded here, so people_in_need and coverage are null: tests/test_needs.py has them)."""
    return {
        "country": country,
        "year": year,
        "people_targeted": 0,
        "people_targeted_unique": 0,
        "people_in_need": None,
        "coverage": None,
        **fields,
    }


def figures(
    reached: int,
    unique: int,
    in_periods: int,
    lines: int,
    targeted: int = 0,
    targeted_unique: int | None = None,
    split: tuple[int, int, int, int] = (0, 0, 0, 0),
) -> dict:
    """A row's figures; ``split`` is women, men, girls, boys (the rest of the reach is
    not disaggregated)."""
    return {
        "people_reached": reached,
        "people_reached_unique": unique,
        "people_reached_in_periods": in_periods,
        "people_targeted": targeted,
        "people_targeted_unique": targeted if targeted_unique is None else targeted_unique,
        **dict(zip(PARTS, split, strict=True)),
        "people_reached_not_disaggregated": reached - sum(split),
        "lines": lines,
    }


PARTS = ("women", "men", "girls", "boys")


def split_reach(new: int, given: dict[str, int] | None) -> dict[str, int]:
    """A line's new reach by sex and age, by the largest remainder, written out plainly:
    each part the whole people of new * part / sum, the people left over one each to the
    largest fractions, ties in PARTS order; no disaggregation (or one of 0): all of it not
    disaggregated."""
    total = sum(given.values()) if given else 0
    if not given or total == 0:
        return {**dict.fromkeys(PARTS, 0), "people_reached_not_disaggregated": new}
    exact = [Fraction(new * given[part], total) for part in PARTS]
    parts = [math.floor(x) for x in exact]
    for i in sorted(range(4), key=lambda i: (parts[i] - exact[i], i))[: new - sum(parts)]:
        parts[i] += 1
    return {**dict(zip(PARTS, parts, strict=True)), "people_reached_not_disaggregated": 0}


def assert_summaries_equal_recount(
    session: Session, *group_bys: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Totals from the summaries equal a from-scratch recount of the lines, for each
    grouping (by default sector and admin1); returns the last grouping's rows."""
    kept: list[dict[str, Any]] = []
    for group_by in group_bys or (("sector", "admin1"),):
        query = totals.TotalsQuery(group_by=group_by)
        recount = session.execute(totals.totals_select(query, countries=None, source=totals.LINES))
        kept = [
            dict(r) for r in session.execute(totals.totals_select(query, countries=None)).mappings()
        ]
        assert kept == [dict(r) for r in recount.mappings()], group_by
    return kept


def all_group_bys() -> list[tuple[str, ...]]:
    return [c for n in range(len(GROUPS) + 1) for c in itertools.combinations(GROUPS, n)]


def expected_totals(live: list[dict[str, Any]], group_by: tuple[str, ...]) -> list[dict[str, Any]]:
    """DOMAIN.md's counting rules, written out plainly in Python, over the live lines
    (each a dict with country, year, crisis_id, sector, division, phase, admin1, admin2,
    end (the period's), reached, new, targeted). The year's target of a slot and location
    is the one its latest line that states a target states."""
    fields = [FIELD.get(g, g) for g in GROUPS if g in group_by]
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for ln in live:
        if ln["targeted"] is not None:
            chain = tuple(ln[f] for f in ("country", "crisis_id", "year", *SLOT_FIELDS))
            if chain not in latest or ln["end"] > latest[chain]["end"]:
                latest[chain] = ln
    carriers = {id(ln) for ln in latest.values()}

    def year_target(ln: dict[str, Any]) -> int:
        return int(ln["targeted"]) if id(ln) in carriers else 0

    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for ln in live:
        groups[(ln["country"], ln["year"], *(ln[f] for f in fields))].append(ln)
    result = []
    for key in sorted(groups, key=lambda k: [(v is None, v) for v in k]):
        members = groups[key]
        sector_reach: dict[tuple[Any, ...], int] = defaultdict(int)
        sector_target: dict[tuple[Any, ...], int] = defaultdict(int)
        for ln in members:
            sector_reach[(ln["admin1"], ln["admin2"], ln["sector"])] += ln["new"]
            sector_target[(ln["admin1"], ln["admin2"], ln["sector"])] += year_target(ln)
        top: dict[tuple[Any, ...], int] = defaultdict(int)
        top_target: dict[tuple[Any, ...], int] = defaultdict(int)
        for (admin1, admin2, sector), reach in sector_reach.items():
            top[(admin1, admin2)] = max(top[(admin1, admin2)], reach)
            top_target[(admin1, admin2)] = max(
                top_target[(admin1, admin2)], sector_target[(admin1, admin2, sector)]
            )
        result.append(
            {
                "country": key[0],
                "year": key[1],
                **dict(zip(fields, key[2:], strict=True)),
                "people_reached": sum(ln["new"] for ln in members),
                "people_reached_unique": sum(top.values()),
                "people_reached_in_periods": sum(ln["reached"] for ln in members),
                "people_targeted": sum(year_target(ln) for ln in members),
                "people_targeted_unique": sum(top_target.values()),
                **{
                    name: sum(split_reach(ln["new"], ln.get("split"))[name] for ln in members)
                    for name in (*PARTS, "people_reached_not_disaggregated")
                },
                "lines": len(members),
                # No needs are loaded here: tests/test_needs.py has them.
                "people_in_need": None,
                "coverage": None,
            }
        )
    return result


def as_live(header: dict[str, Any], lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "country": header["country"],
            "year": date.fromisoformat(header["end"]).year,
            "end": header["end"],
            "crisis_id": header["crisis_id"],
            "sector": ln["sector"],
            "division": ln["division"],
            "phase": ln["phase"],
            "admin1": ln["admin1"],
            "admin2": ln["admin2"],
            "reached": ln["people_reached"],
            "new": ln["people_reached_new"],
            "targeted": ln["people_targeted"],
            "split": ln.get("disaggregation"),
        }
        for ln in lines
    ]
