"""Cumulative figures (DOMAIN.md, "Cumulative figures"), through the HTTP API.

A line may give people_reached_cumulative (people reached since 1 January) instead of
people_reached_new; it stands for the increase over the slot's latest earlier live period
of the year. Amending or withdrawing an earlier period changes what later ones stand for,
in totals, in the sitreps' reads and in the feed, at once.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest

from tests.factories import Api, amend, assert_problem, current, line, sitrep, submit, withdraw

SITREPS = "/api/v1/sitreps"
FEED = "/api/v1/clusters/shelter/feed"
MONTHS = {
    1: ("2024-01-01", "2024-01-31"),
    2: ("2024-02-01", "2024-02-29"),
    3: ("2024-03-01", "2024-03-31"),
}


def cumulative(month: int, ytd: int, reached: int | None = None, **extra: Any) -> dict[str, Any]:
    """A sitrep of one month with one shelter line at SD01 giving a year-to-date figure."""
    start, end = MONTHS[month]
    body = line(reached=ytd if reached is None else reached, people_reached_cumulative=ytd)
    return sitrep({**body, **extra}, start=start, end=end)


def new_reach(client: Api, *sitreps: dict[str, Any]) -> list[int]:
    return [current(client, s["id"])["lines"][0]["people_reached_new"] for s in sitreps]


def reached(hq: Api) -> int:
    rows = hq.get("/api/v1/totals?country=SDN&year=2024").json()["rows"]
    assert len(rows) == 1, rows
    return int(rows[0]["people_reached"])


@pytest.fixture
def chain(field: Api) -> list[dict[str, Any]]:
    """DOMAIN.md's example: January 800, February 1,100, March 1,450 people this year."""
    return [
        submit(field, cumulative(1, 800)),
        submit(field, cumulative(2, 1100, reached=600)),
        submit(field, cumulative(3, 1450, reached=700)),
    ]


class Consumer:
    """A feed consumer: applies every page in order, upserting by line_id."""

    def __init__(self, client: Api) -> None:
        self.client = client
        self.lines: dict[int, dict[str, Any]] = {}
        self.cursor: str | None = None

    def pull(self) -> list[dict[str, Any]]:
        seen = []
        while True:
            params: dict[str, Any] = {"limit": 2}
            if self.cursor:
                params["since"] = self.cursor
            page = self.client.get(FEED, params=params).json()
            for item in page["items"]:
                seen.append(item)
                if item["status"] == "withdrawn":
                    self.lines.pop(item["line_id"], None)
                else:
                    self.lines[item["line_id"]] = item
            self.cursor = page["next_cursor"]
            if len(page["items"]) < 2:
                return seen

    def per_slot(self) -> dict[tuple[Any, ...], int]:
        sums: dict[tuple[Any, ...], int] = defaultdict(int)
        for item in self.lines.values():
            key = (
                item["country"],
                int(item["period_end"][:4]),
                item["sector"],
                item["division"],
                item["phase"],
                item["crisis_id"],
                item["admin1"],
            )
            sums[key] += item["people_reached_new"]
        return dict(sums)


def totals_per_slot(hq: Api) -> dict[tuple[Any, ...], int]:
    rows = hq.get(
        "/api/v1/totals", params={"group_by": "sector,division,phase,crisis,admin1"}
    ).json()["rows"]
    return {
        (
            r["country"],
            r["year"],
            r["sector"],
            r["division"],
            r["phase"],
            r["crisis_id"],
            r["admin1"],
        ): r["people_reached"]
        for r in rows
    }


# --- DOMAIN.md's example ----------------------------------------------------------------


def test_the_domain_example_counts_the_year_once(
    field: Api, hq: Api, api: Callable[..., Api], chain: list[dict[str, Any]]
) -> None:
    assert [s["lines"][0]["people_reached_new"] for s in chain] == [800, 300, 350]
    assert new_reach(field, *chain) == [800, 300, 350]
    assert [current(field, s["id"])["lines"][0]["people_reached_cumulative"] for s in chain] == [
        800,
        1100,
        1450,
    ]
    rows = hq.get("/api/v1/totals?country=SDN&year=2024").json()["rows"]
    assert rows == [
        {
            "country": "SDN",
            "year": 2024,
            "people_reached": 1450,
            "people_reached_unique": 1450,
            "people_reached_in_periods": 800 + 600 + 700,
            "people_targeted": 0,
            "people_targeted_unique": 0,
            "women": 0,
            "men": 0,
            "girls": 0,
            "boys": 0,
            "people_reached_not_disaggregated": 1450,
            "lines": 3,
            "people_in_need": None,
            "coverage": None,
        }
    ]
    items = api("coordinator", clusters=["shelter"]).get(FEED).json()["items"]
    assert [(i["people_reached_new"], i["people_reached_cumulative"]) for i in items] == [
        (800, 800),
        (300, 1100),
        (350, 1450),
    ]


def test_withdrawing_february_leaves_march_standing_for_it(
    field: Api, hq: Api, api: Callable[..., Api], chain: list[dict[str, Any]]
) -> None:
    consumer = Consumer(api("coordinator", clusters=["shelter"]))
    consumer.pull()
    january, february, march = chain
    assert withdraw(field, february).status_code == 200
    assert reached(hq) == 1450
    assert new_reach(field, january, march) == [800, 650]
    changes = consumer.pull()
    # February's line goes, March's comes again with what it stands for now: same line and
    # revision, a later position in the feed.
    assert [(i["sitrep_id"], i["status"], i["people_reached_new"]) for i in changes] == [
        (february["id"], "withdrawn", 300),
        (march["id"], "submitted", 650),
    ]
    assert changes[1]["line_id"] == march["lines"][0]["id"]
    assert changes[1]["revision"] == 1
    assert consumer.per_slot() == totals_per_slot(hq)


def test_amending_january_changes_what_the_later_months_stand_for(
    field: Api, hq: Api, api: Callable[..., Api], chain: list[dict[str, Any]]
) -> None:
    consumer = Consumer(api("coordinator", clusters=["shelter"]))
    consumer.pull()
    january = chain[0]
    assert amend(field, january, cumulative(1, 900)).status_code == 200
    assert reached(hq) == 1450
    assert new_reach(field, *chain) == [900, 200, 350]
    changes = consumer.pull()
    assert [(i["sitrep_id"], i["revision"], i["people_reached_new"]) for i in changes] == [
        (january["id"], 2, 900),
        (chain[1]["id"], 1, 200),
    ]
    assert consumer.per_slot() == totals_per_slot(hq)
    # The revisions keep what the office sent, and the figure counted at the time.
    revisions = field.get(f"{SITREPS}/{january['id']}/revisions").json()["items"]
    assert [r["lines"][0]["people_reached_cumulative"] for r in revisions] == [800, 900]


def test_a_feed_consumer_holds_the_totals_after_any_corrections(
    field: Api, hq: Api, api: Callable[..., Api], chain: list[dict[str, Any]]
) -> None:
    consumer = Consumer(api("coordinator", clusters=["shelter"]))
    consumer.pull()
    january, february, march = chain
    # Another slot of the same months, given as new reach, and its own cumulative chain.
    submit(
        field, sitrep(line(admin1="SD02", reached=50, new=40), start="2024-02-01", end="2024-02-29")
    )
    assert amend(field, january, cumulative(1, 1000)).status_code == 200
    consumer.pull()
    assert consumer.per_slot() == totals_per_slot(hq)
    assert withdraw(field, february).status_code == 200
    consumer.pull()
    assert consumer.per_slot() == totals_per_slot(hq)
    # February again, as new reach: March stands for the rest.
    submit(field, sitrep(line(reached=500, new=200), start="2024-02-01", end="2024-02-29"))
    consumer.pull()
    assert consumer.per_slot() == totals_per_slot(hq)
    assert new_reach(field, january, march) == [1000, 250]
    assert withdraw(field, {**january}).status_code == 200
    consumer.pull()
    assert consumer.per_slot() == totals_per_slot(hq)
    assert new_reach(field, march) == [1450 - 200]
    assert reached(hq) == 1450 + 40


# --- refusals -----------------------------------------------------------------------------


def test_a_decreasing_cumulative_figure_is_a_conflict_naming_the_earlier_sitrep(
    field: Api, hq: Api
) -> None:
    january = submit(field, cumulative(1, 800))
    response = field.post(SITREPS, json=cumulative(2, 700, reached=300))
    problem = assert_problem(response, 409)
    assert f"sitrep {january['id']}" in problem["detail"]
    assert problem["conflicting_sitrep_id"] == january["id"]
    assert len(field.get(SITREPS).json()["items"]) == 1
    assert reached(hq) == 800


def test_an_amendment_that_would_make_a_later_figure_go_down_names_the_later_sitrep(
    field: Api, hq: Api, chain: list[dict[str, Any]]
) -> None:
    january, february, _march = chain
    problem = assert_problem(amend(field, january, cumulative(1, 1200)), 409)
    assert f"Sitrep {february['id']}" in problem["detail"]
    assert problem["conflicting_sitrep_id"] == february["id"]
    assert current(field, january["id"])["revision"] == 1
    assert new_reach(field, *chain) == [800, 300, 350]
    assert reached(hq) == 1450


def test_inserting_an_earlier_period_moves_the_later_figures(field: Api, hq: Api) -> None:
    january = submit(field, cumulative(1, 800))
    march = submit(field, cumulative(3, 1450, reached=700))
    assert new_reach(field, march) == [650]
    # A February of 700 new people would put the year at 1,500 before March's 1,450.
    too_many = sitrep(line(reached=700, new=700), start="2024-02-01", end="2024-02-29")
    problem = assert_problem(field.post(SITREPS, json=too_many), 409)
    assert problem["conflicting_sitrep_id"] == march["id"]
    submit(field, sitrep(line(reached=600, new=300), start="2024-02-01", end="2024-02-29"))
    assert new_reach(field, january, march) == [800, 350]
    assert reached(hq) == 1450


def test_a_batch_may_hold_several_periods_of_one_chain(field: Api, hq: Api) -> None:
    batch = {"sitreps": [cumulative(1, 800), cumulative(2, 1100, reached=600)]}
    answer = field.post(f"{SITREPS}/batch", json=batch).json()
    assert answer["accepted"] == 2, answer
    assert [r["sitrep"]["lines"][0]["people_reached_new"] for r in answer["results"]] == [
        800,
        300,
    ]
    # One that goes down is refused on its own, naming the earlier sitrep of the batch.
    batch = {"sitreps": [cumulative(3, 1000, reached=100)]}
    answer = field.post(f"{SITREPS}/batch", json=batch).json()
    assert answer["results"][0]["status"] == 409
    assert answer["results"][0]["problem"]["conflicting_sitrep_id"] == answer_id(field, 2)
    assert reached(hq) == 1100


def answer_id(field: Api, month: int) -> int:
    items = field.get(SITREPS).json()["items"]
    return next(s["id"] for s in items if s["period_start"] == MONTHS[month][0])


def test_giving_new_and_cumulative_is_a_422_at_the_line(field: Api) -> None:
    body = cumulative(1, 800, people_reached_new=800)
    problem = assert_problem(field.post(SITREPS, json=body), 422)
    assert ["body", "lines", 0, "people_reached_cumulative"] in [
        e["loc"] for e in problem["errors"]
    ]


def test_a_cumulative_figure_below_the_periods_reach_is_a_422(field: Api) -> None:
    problem = assert_problem(field.post(SITREPS, json=cumulative(1, 800, reached=900)), 422)
    assert problem["errors"] == [
        {
            "loc": ["body", "lines", 0, "people_reached_cumulative"],
            "msg": "800 is less than people_reached (900): everyone reached in the period was "
            "reached this year",
        }
    ]


def test_a_new_year_starts_again(field: Api, hq: Api) -> None:
    submit(
        field,
        sitrep(
            line(reached=900, people_reached_cumulative=900), start="2023-12-01", end="2023-12-31"
        ),
    )
    january = submit(field, cumulative(1, 800))
    assert new_reach(field, january) == [800]
    assert reached(hq) == 800


# --- yearly targets -----------------------------------------------------------------------


def month_of(m: int) -> dict[str, str]:
    last = calendar.monthrange(2024, m)[1]
    return {"start": f"2024-{m:02d}-01", "end": f"2024-{m:02d}-{last:02d}"}


def targets(hq: Api, **params: Any) -> list[tuple[int, int]]:
    rows = hq.get("/api/v1/totals", params={"country": "SDN", "year": 2024, **params}).json()
    return [(r["people_targeted"], r["people_targeted_unique"]) for r in rows["rows"]]


def test_a_target_restated_every_month_counts_once(field: Api, hq: Api) -> None:
    for m in range(1, 13):
        submit(field, sitrep(line("wash", reached=400, people_targeted=5000), **month_of(m)))
    assert targets(hq) == [(5000, 5000)]
    assert targets(hq, group_by="sector") == [(5000, 5000)]
    assert targets(hq, group_by="admin1") == [(5000, 5000)]
    assert targets(hq, sector="wash") == [(5000, 5000)]


def test_the_latest_period_stating_a_target_sets_it(field: Api, hq: Api) -> None:
    january = submit(field, sitrep(line(people_targeted=5000), **month_of(1)))
    february = submit(field, sitrep(line(people_targeted=6000), **month_of(2)))
    # A period silent on the target does not erase it.
    march = submit(field, sitrep(line(), **month_of(3)))
    assert targets(hq) == [(6000, 6000)]
    # Withdrawing the latest statement makes the one before count again.
    assert withdraw(field, february).status_code == 200
    assert targets(hq) == [(5000, 5000)]
    # An amendment restating it replaces it.
    assert amend(field, march, sitrep(line(people_targeted=4500), **month_of(3))).status_code == 200
    assert targets(hq) == [(4500, 4500)]
    assert (
        amend(field, january, sitrep(line(people_targeted=9000), **month_of(1))).status_code == 200
    )
    assert targets(hq) == [(4500, 4500)]
    # Each year has its own target.
    submit(field, sitrep(line(people_targeted=700), start="2023-12-01", end="2023-12-31"))
    assert targets(hq) == [(4500, 4500)]


def test_people_targeted_unique_keeps_the_largest_sector_at_each_location(
    field: Api, hq: Api
) -> None:
    for m in (1, 2):
        submit(
            field,
            sitrep(
                line("shelter", admin1="SD01", people_targeted=5000),
                line("wash", admin1="SD01", people_targeted=3000),
                line("health", admin1="SD02", people_targeted=1000),
                **month_of(m),
            ),
        )
    assert targets(hq) == [(9000, 6000)]
    assert targets(hq, group_by="admin1") == [(8000, 5000), (1000, 1000)]
    assert targets(hq, group_by="sector") == [(1000, 1000), (5000, 5000), (3000, 3000)]
    assert targets(hq, division="hod") == [(9000, 6000)]


# --- what the office sent, in every exchange format --------------------------------------


def test_feeds_exports_and_audit_carry_the_cumulative_figure(
    field: Api, hq: Api, api: Callable[..., Api], chain: list[dict[str, Any]]
) -> None:
    rows = api("coordinator", clusters=["shelter"]).get(FEED, params={"format": "hxl"}).json()
    names, tags, *values = rows
    column = tags.index("#reached+cumulative")
    assert names[column] == "people_reached_cumulative"
    assert [r[column] for r in values] == [800, 1100, 1450]
    assert [r[tags.index("#reached+new")] for r in values] == [800, 300, 350]

    csv = hq.get("/api/v1/exports/lines.csv").text.splitlines()
    header, hashtags = csv[0].split(","), csv[1].split(",")
    at = header.index("people_reached_cumulative")
    assert hashtags[at] == "#reached+cumulative"
    assert [r.split(",")[at] for r in csv[2:]] == ["800", "1100", "1450"]
    items = hq.get("/api/v1/exports/lines.json").json()["items"]
    assert [i["people_reached_cumulative"] for i in items] == [800, 1100, 1450]

    events = hq.get(
        "/api/v1/audit", params={"entity_type": "sitrep", "entity_id": chain[1]["id"]}
    ).json()["items"]
    [recorded] = events[0]["after"]["lines"]
    assert (recorded["people_reached_cumulative"], recorded["people_reached_new"]) == (1100, 300)
