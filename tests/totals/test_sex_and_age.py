"""Totals by sex and age (issue 10 item 4): each line's new reach split in the proportions of
its own disaggregation by the largest remainder (app.totals.summaries), the rest not
disaggregated, the sums exact; directly for the rule, and through the HTTP API."""

import random
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.sitreps.schemas import SITREP_APRIL_EXAMPLE, SITREP_EXAMPLE
from app.totals import service as totals
from app.totals import summaries
from app.totals.models import TotalsCell
from tests.counting import PARTS, split_reach
from tests.factories import line, sitrep

SPLIT = (*PARTS, "people_reached_not_disaggregated")
TOTALS = "/api/v1/totals"


def cell_splits(session: Session, lines: list[tuple[int, dict[str, int] | None]]) -> list[dict]:
    """The sex and age split the summaries keep for each of ``lines`` (new reach,
    disaggregation), each written alone into a cell of its own."""
    added = [
        (
            *(2024, "SDN", "wash", "hod", "response", None, "SD01", f"SD01{i:03d}", new, new, 0),
            *(None if given is None else given[part] for part in PARTS),
        )
        for i, (new, given) in enumerate(lines)
    ]
    summaries.apply_changes(session, removed=[], added=added)
    summaries.write_changes(session)
    cells = session.scalars(select(TotalsCell).order_by(TotalsCell.admin2)).all()
    return [
        {
            **{part: getattr(cell, part) for part in PARTS},
            "people_reached_not_disaggregated": cell.not_disaggregated,
        }
        for cell in cells
    ]


def test_the_largest_remainder_rule(session: Session) -> None:
    cases = [
        # 300 of 1,200 (the API's example): exact quarters, nothing left over.
        (300, {"women": 400, "men": 300, "girls": 260, "boys": 240}),
        # 10 in thirds: 3.33 each, the one left over to women (ties in PARTS order).
        (10, {"women": 1, "men": 1, "girls": 1, "boys": 0}),
        # 2 in quarters: 0.5 each, one each to women and men.
        (2, {"women": 5, "men": 5, "girls": 5, "boys": 5}),
        # 150 of 400 (the April example): 48.75, 37.5, 33.75, 30: women and girls get one.
        (150, {"women": 130, "men": 100, "girls": 90, "boys": 80}),
        # a larger remainder later in the order wins over an earlier one.
        (7, {"women": 1, "men": 2, "girls": 0, "boys": 0}),
        # no disaggregation, or one of 0: not disaggregated.
        (500, None),
        (40, {"women": 0, "men": 0, "girls": 0, "boys": 0}),
        (0, {"women": 3, "men": 0, "girls": 0, "boys": 1}),
        # figures past 32 bits once multiplied.
        (2_000_000_000, {"women": 1_999_999_999, "men": 1, "girls": 0, "boys": 0}),
    ]
    got = cell_splits(session, cases)
    assert got[:5] == [
        {"women": 100, "men": 75, "girls": 65, "boys": 60, "people_reached_not_disaggregated": 0},
        {"women": 4, "men": 3, "girls": 3, "boys": 0, "people_reached_not_disaggregated": 0},
        {"women": 1, "men": 1, "girls": 0, "boys": 0, "people_reached_not_disaggregated": 0},
        {"women": 49, "men": 37, "girls": 34, "boys": 30, "people_reached_not_disaggregated": 0},
        {"women": 2, "men": 5, "girls": 0, "boys": 0, "people_reached_not_disaggregated": 0},
    ]
    assert got[5:8] == [
        {**dict.fromkeys(PARTS, 0), "people_reached_not_disaggregated": 500},
        {**dict.fromkeys(PARTS, 0), "people_reached_not_disaggregated": 40},
        {**dict.fromkeys(PARTS, 0), "people_reached_not_disaggregated": 0},
    ]
    assert got[8]["women"] == 1_999_999_999 and got[8]["men"] == 1
    assert got == [split_reach(new, given) for new, given in cases]


def test_the_split_always_adds_up(session: Session) -> None:
    rng = random.Random(7)
    cases = []
    for _ in range(400):
        reached = rng.choice([0, 1, 2, 3, 7, 99, rng.randint(0, 100_000)])
        cuts = sorted(rng.randint(0, reached) for _ in range(3))
        given = dict(
            zip(
                PARTS,
                [cuts[0], cuts[1] - cuts[0], cuts[2] - cuts[1], reached - cuts[2]],
                strict=True,
            )
        )
        cases.append((rng.randint(0, reached), given))
    got = cell_splits(session, cases)
    assert got == [split_reach(new, given) for new, given in cases]
    assert all(sum(g.values()) == new for g, (new, _given) in zip(got, cases, strict=True))


def split_of(row: dict[str, Any]) -> dict[str, int]:
    return {name: row[name] for name in SPLIT}


def test_totals_over_http_split_each_line_in_its_own_proportions(api) -> None:
    officer, analyst = api("field", countries=["SDN"]), api("hq")
    assert (
        officer.post("/api/v1/sitreps", json={**SITREP_EXAMPLE, "crisis_id": None}).status_code
        == 201
    )
    rows = analyst.get(TOTALS, params={"country": "SDN", "year": 2024, "group_by": "sector"})
    by_sector = {r["sector"]: split_of(r) for r in rows.json()["rows"]}
    assert by_sector == {
        "cash": {**dict.fromkeys(PARTS, 0), "people_reached_not_disaggregated": 500},
        "shelter": {"women": 100, "men": 75, "girls": 65, "boys": 60, **{SPLIT[-1]: 0}},
        "wash": {"women": 800, "men": 700, "girls": 520, "boys": 480, **{SPLIT[-1]: 0}},
    }
    # April's cumulative 450 stands for 150 new, split in April's own proportions.
    assert (
        officer.post(
            "/api/v1/sitreps", json={**SITREP_APRIL_EXAMPLE, "crisis_id": None}
        ).status_code
        == 201
    )
    (whole,) = analyst.get(TOTALS, params={"country": "SDN", "year": 2024}).json()["rows"]
    assert split_of(whole) == {
        "women": 100 + 49 + 800,
        "men": 75 + 37 + 700,
        "girls": 65 + 34 + 520,
        "boys": 60 + 30 + 480,
        "people_reached_not_disaggregated": 500,
    }
    assert sum(split_of(whole).values()) == whole["people_reached"] == 300 + 150 + 2500 + 500


@pytest.mark.parametrize(
    "group_by", ["", "admin1", "sector,admin1", "division,phase", "crisis", "sector,division"]
)
def test_the_split_adds_up_in_every_grouping_and_follows_amendments(api, group_by: str) -> None:
    officer, analyst = api("field", countries=["SDN"]), api("hq")
    given = {"women": 3, "men": 3, "girls": 2, "boys": 2}
    first = officer.post(
        "/api/v1/sitreps",
        json=sitrep(
            line("shelter", reached=10, new=7, disaggregation=given),
            line("wash", admin1="SD02", reached=9),
            line("health", reached=5, disaggregation={"women": 5, "men": 0, "girls": 0, "boys": 0}),
        ),
    )
    assert first.status_code == 201, first.text
    params = {"country": "SDN", "year": 2024, "group_by": group_by}
    rows = analyst.get(TOTALS, params=params).json()["rows"]
    assert all(sum(split_of(r).values()) == r["people_reached"] for r in rows)
    assert {name: sum(r[name] for r in rows) for name in SPLIT} == {
        # 7 of 3/3/2/2: 2.1, 2.1, 1.4, 1.4: the one left over to girls (0.4 ties, girls first)
        "women": 2 + 5,
        "men": 2,
        "girls": 2,
        "boys": 1,
        "people_reached_not_disaggregated": 9,
    }
    # The shelter line amended to no disaggregation: its 7 are not disaggregated any more.
    amended = officer.put(
        f"/api/v1/sitreps/{first.json()['id']}",
        json=sitrep(
            line("shelter", reached=10, new=7),
            line("wash", admin1="SD02", reached=9),
            line("health", reached=5, disaggregation={"women": 5, "men": 0, "girls": 0, "boys": 0}),
        ),
        headers={"If-Match": first.headers["ETag"]},
    )
    assert amended.status_code == 200, amended.text
    rows = analyst.get(TOTALS, params=params).json()["rows"]
    assert {name: sum(r[name] for r in rows) for name in SPLIT} == {
        "women": 5,
        "men": 0,
        "girls": 0,
        "boys": 0,
        "people_reached_not_disaggregated": 16,
    }


def test_the_recount_and_the_rebuild_give_the_split_the_writes_keep(session: Session, api) -> None:
    officer = api("field", countries=["SDN"])
    assert (
        officer.post("/api/v1/sitreps", json={**SITREP_EXAMPLE, "crisis_id": None}).status_code
        == 201
    )
    assert (
        officer.post(
            "/api/v1/sitreps", json={**SITREP_APRIL_EXAMPLE, "crisis_id": None}
        ).status_code
        == 201
    )
    query = totals.TotalsQuery(group_by=("sector", "admin1"))
    kept = [
        dict(r) for r in session.execute(totals.totals_select(query, countries=None)).mappings()
    ]
    recount = session.execute(totals.totals_select(query, countries=None, source=totals.LINES))
    assert [dict(r) for r in recount.mappings()] == kept
    totals.rebuild(session)
    rebuilt = session.execute(totals.totals_select(query, countries=None)).mappings()
    assert [dict(r) for r in rebuilt] == kept
    assert {r["sector"]: r["women"] for r in kept} == {"cash": 0, "shelter": 149, "wash": 800}
