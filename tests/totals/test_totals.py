"""Totals: the counting rules of DOMAIN.md ("How people are counted") and GET /api/v1/totals.

Most tests call the services directly (sitreps.submit / amend / withdraw, then
totals.totals) and compare whole rows; a few go through HTTP for the query parameters,
the response shape and the permissions.
"""

import random
from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.auth import service as auth
from app.auth.models import Role, User
from app.sitreps.models import Sitrep
from tests.counting import (
    FIELD,
    FIGURES,
    all_group_bys,
    amend,
    as_live,
    crisis,
    expected_totals,
    figures,
    month,
    row,
    rows,
    submit,
    withdraw,
)
from tests.factories import assert_problem, line

# --- helpers ---------------------------------------------------------------------------


@pytest.fixture
def analyst(session: Session) -> User:
    return auth.create_user(session, name="analyst", role=Role.hq)


@pytest.fixture
def officer(session: Session) -> User:
    return auth.create_user(session, name="officer", role=Role.field, countries=["SDN", "TCD"])


def submit_worked_example(session: Session, user: User) -> None:
    """DOMAIN.md's worked example: SDN 2024."""
    submit(
        session,
        user,
        line("shelter", admin1="SD01", reached=1000, new=1000),
        line("wash", admin1="SD01", reached=1500, new=1500),
        **month(1),
    )
    submit(
        session,
        user,
        line("shelter", admin1="SD01", reached=1200, new=300),
        line("wash", admin1="SD01", reached=1500, new=0),
        **month(2),
    )
    submit(session, user, line("health", admin1="SD02", reached=400, new=400), **month(3))


WORKED_EXAMPLE = [row(**figures(3200, 1900, 5600, lines=5))]
WORKED_EXAMPLE_BY_SECTOR = [
    row(sector="health", **figures(400, 400, 400, lines=1)),
    row(sector="shelter", **figures(1300, 1300, 2200, lines=2)),
    row(sector="wash", **figures(1500, 1500, 3000, lines=2)),
]


# --- 1. the worked example -------------------------------------------------------------


def test_worked_example(session: Session, analyst: User, officer: User) -> None:
    submit_worked_example(session, officer)

    assert rows(session, analyst, countries=["SDN"], years=[2024]) == WORKED_EXAMPLE
    by_sector = rows(session, analyst, "sector", countries=["SDN"], years=[2024])
    assert by_sector == WORKED_EXAMPLE_BY_SECTOR
    assert all(r["people_reached_unique"] == r["people_reached"] for r in by_sector)


def test_worked_example_over_http(session: Session, officer: User, api) -> None:
    submit_worked_example(session, officer)
    session.commit()
    analyst = api("hq")

    response = analyst.get("/api/v1/totals?country=SDN&year=2024")
    assert response.status_code == 200, response.text
    assert response.json() == {"rows": WORKED_EXAMPLE}

    response = analyst.get("/api/v1/totals?country=SDN&year=2024&group_by=sector")
    assert response.status_code == 200, response.text
    assert response.json() == {"rows": WORKED_EXAMPLE_BY_SECTOR}


def test_people_reached_new_defaults_to_people_reached(
    session: Session, analyst: User, officer: User
) -> None:
    submit(session, officer, line("shelter", reached=700), **month(4))
    assert rows(session, analyst) == [row(**figures(700, 700, 700, lines=1))]


# --- 2. years --------------------------------------------------------------------------


def test_a_line_counts_in_the_year_its_period_ends(
    session: Session, analyst: User, officer: User
) -> None:
    submit(
        session,
        officer,
        line("shelter", admin1="TCD14", reached=70),
        country="TCD",
        **month(6, 2023),
    )
    submit(session, officer, line("wash", admin1="SD02", reached=30), **month(2, 2025))
    submit(session, officer, line("shelter", reached=100), start="2023-12-20", end="2024-01-10")
    submit(session, officer, line("shelter", reached=50), start="2023-12-01", end="2023-12-19")
    submit(session, officer, line("health", reached=5), start="2024-12-31", end="2025-01-01")
    submit(session, officer, line("cash", reached=9), start="2024-12-31", end="2024-12-31")

    assert rows(session, analyst) == [
        row("SDN", 2023, **figures(50, 50, 50, lines=1)),
        row("SDN", 2024, **figures(109, 100, 109, lines=2)),
        row("SDN", 2025, **figures(35, 35, 35, lines=2)),
        row("TCD", 2023, **figures(70, 70, 70, lines=1)),
    ]
    assert rows(session, analyst, years=[2024]) == [
        row("SDN", 2024, **figures(109, 100, 109, lines=2))
    ]
    assert rows(session, analyst, years=[2023]) == [
        row("SDN", 2023, **figures(50, 50, 50, lines=1)),
        row("TCD", 2023, **figures(70, 70, 70, lines=1)),
    ]
    assert rows(session, analyst, "sector", years=[2025]) == [
        row("SDN", 2025, sector="health", **figures(5, 5, 5, lines=1)),
        row("SDN", 2025, sector="wash", **figures(30, 30, 30, lines=1)),
    ]


def test_years_filter_over_http(session: Session, officer: User, api) -> None:
    submit(session, officer, line(reached=10), **month(3, 2023))
    submit(session, officer, line(reached=20), **month(3, 2024))
    submit(session, officer, line(reached=40), **month(3, 2025))
    session.commit()
    analyst = api("hq")

    response = analyst.get("/api/v1/totals", params={"year": "2025,2023"})
    assert response.status_code == 200, response.text
    assert response.json()["rows"] == [
        row("SDN", 2023, **figures(10, 10, 10, lines=1)),
        row("SDN", 2025, **figures(40, 40, 40, lines=1)),
    ]


# --- 3. locations ----------------------------------------------------------------------


def test_each_reported_location_is_its_own_location(
    session: Session, analyst: User, officer: User
) -> None:
    sd01_admin2 = ["SD01001", "SD01002"]
    submit(
        session,
        officer,
        line("shelter", admin1=None, reached=500),
        line("wash", admin1="SD01", reached=300),
        line("health", admin1="SD01", admin2=sd01_admin2[0], reached=200),
        **month(5),
    )
    assert rows(session, analyst) == [row(**figures(1000, 500 + 300 + 200, 1000, lines=3))]

    # Two sectors at one location: the larger one. Country-wide, SD01 and SD01/SD01001
    # stay apart (SD01's 300 is not the max over its admin2 areas, nor is country-wide).
    submit(
        session,
        officer,
        line("cccm", admin1=None, reached=700),
        line("cash", admin1="SD01", admin2=sd01_admin2[0], reached=150),
        line("health", admin1="SD01", admin2=sd01_admin2[1], reached=80),
        **month(6),
    )
    unique = max(500, 700) + 300 + max(200, 150) + 80
    assert rows(session, analyst) == [row(**figures(1930, unique, 1930, lines=6))]

    by_admin1 = rows(session, analyst, "admin1")
    assert by_admin1 == [
        row(admin1="SD01", **figures(300 + 200 + 150 + 80, 300 + 200 + 80, 730, lines=4)),
        row(admin1=None, **figures(1200, 700, 1200, lines=2)),
    ]
    assert sum(r["people_reached_unique"] for r in by_admin1) == unique


def test_same_sector_at_one_location_adds_up_over_periods(
    session: Session, analyst: User, officer: User
) -> None:
    submit(session, officer, line("wash", admin1=None, reached=100, new=100), **month(1))
    submit(session, officer, line("wash", admin1=None, reached=120, new=60), **month(2))
    submit(session, officer, line("shelter", admin1=None, reached=150, new=150), **month(2))
    # wash 160 beats shelter 150 at the country-wide location
    assert rows(session, analyst) == [row(**figures(310, 160, 370, lines=3))]


# --- 4. amendments and withdrawals -----------------------------------------------------


def test_only_the_latest_revision_counts(session: Session, analyst: User, officer: User) -> None:
    first = submit(
        session,
        officer,
        line("shelter", admin1="SD01", reached=1000, new=1000, people_targeted=2000),
        line("wash", admin1="SD01", reached=500, new=500),
        **month(1),
    )
    assert rows(session, analyst) == [row(**figures(1500, 1000, 1500, lines=2, targeted=2000))]

    # Revision 2: new figures for shelter, wash dropped, cccm added.
    amend(
        session,
        officer,
        first,
        line("shelter", admin1="SD01", reached=900, new=800),
        line("cccm", admin1="SD03", reached=40),
        **month(1),
    )
    assert first.revision == 2
    assert rows(session, analyst, "sector") == [
        row(sector="cccm", **figures(40, 40, 40, lines=1)),
        row(sector="shelter", **figures(800, 800, 900, lines=1)),
    ]

    # Revision 3: wash comes back with other figures; only revision 3 counts.
    amend(
        session,
        officer,
        first,
        line("shelter", admin1="SD01", reached=900, new=800),
        line("wash", admin1="SD01", reached=200),
        **month(1),
    )
    assert rows(session, analyst, "sector") == [
        row(sector="shelter", **figures(800, 800, 900, lines=1)),
        row(sector="wash", **figures(200, 200, 200, lines=1)),
    ]
    assert rows(session, analyst) == [row(**figures(1000, 800, 1100, lines=2))]


def test_amending_the_period_moves_lines_to_its_new_year(
    session: Session, analyst: User, officer: User
) -> None:
    s = submit(session, officer, line("health", reached=60), **month(1, 2024))
    amend(session, officer, s, line("health", reached=60), **month(12, 2023))
    assert rows(session, analyst) == [row("SDN", 2023, **figures(60, 60, 60, lines=1))]
    assert rows(session, analyst, years=[2024]) == []


def test_withdrawn_sitreps_do_not_count(session: Session, analyst: User, officer: User) -> None:
    kept = submit(session, officer, line("shelter", reached=100), **month(1))
    gone = submit(
        session, officer, line("wash", reached=300), line("health", reached=50), **month(2)
    )
    amended_then_gone = submit(session, officer, line("cash", reached=10), **month(3))
    amend(session, officer, amended_then_gone, line("cash", reached=20), **month(3))
    withdraw(session, officer, gone)
    withdraw(session, officer, amended_then_gone)

    assert kept.status == "submitted"
    assert rows(session, analyst, "sector") == [
        row(sector="shelter", **figures(100, 100, 100, lines=1))
    ]

    # The withdrawn sitrep's slot may be reported again; only the new sitrep counts.
    submit(session, officer, line("wash", reached=30), **month(2))
    assert rows(session, analyst) == [row(**figures(130, 100, 130, lines=2))]


def test_nothing_live_means_no_rows(session: Session, analyst: User, officer: User) -> None:
    s = submit(session, officer, line("shelter", reached=100), **month(1))
    withdraw(session, officer, s)
    assert rows(session, analyst) == []
    assert rows(session, analyst, "sector", "admin1") == []


# --- 5. people_targeted and lines ------------------------------------------------------


def test_people_targeted_sums_yearly_targets_with_missing_as_zero(
    session: Session, analyst: User, officer: User
) -> None:
    submit(
        session,
        officer,
        line("shelter", admin1="SD01", reached=100, people_targeted=1000),
        line("wash", admin1="SD01", reached=100),
        line("wash", admin1="SD02", reached=10, people_targeted=250),
        **month(1),
    )
    submit(
        session, officer, line("shelter", admin1="SD01", reached=0, people_targeted=0), **month(2)
    )

    # February restates shelter's yearly target at SD01 as 0: it replaces January's 1,000.
    assert rows(session, analyst) == [row(**figures(210, 110, 210, lines=4, targeted=250))]
    assert rows(session, analyst, "sector") == [
        row(sector="shelter", **figures(100, 100, 100, lines=2, targeted=0)),
        row(sector="wash", **figures(110, 110, 110, lines=2, targeted=250)),
    ]
    # Targets only of sitreps that are not withdrawn.
    s = submit(
        session, officer, line("cash", admin1=None, reached=1, people_targeted=5), **month(3)
    )
    assert rows(session, analyst)[0]["people_targeted"] == 255
    withdraw(session, officer, s)
    assert rows(session, analyst)[0]["people_targeted"] == 250


# --- 6. group_by and filters -----------------------------------------------------------


@pytest.fixture
def mixed(session: Session, analyst: User, officer: User) -> int:
    """Lines across divisions, phases, a crisis and none, admin1 and country-wide, in
    SDN 2024; returns the crisis id."""
    crisis_id = crisis(session, analyst, "Sudan conflict", ["SDN", "TCD"])
    submit(
        session,
        officer,
        line("shelter", division="hod", phase="response", admin1="SD01", reached=100),
        line("wash", division="pcca", phase="preparedness", admin1="SD02", reached=50),
        **month(1),
    )
    submit(
        session,
        officer,
        line("shelter", division="hod", phase="response", admin1="SD01", reached=200),
        line("health", division="prd", phase="recovery", admin1=None, reached=30),
        crisis_id=crisis_id,
        **month(1),
    )
    return crisis_id


def test_group_by_crisis_puts_no_crisis_last(session: Session, analyst: User, mixed: int) -> None:
    assert rows(session, analyst, "crisis") == [
        row(crisis_id=mixed, **figures(230, 200 + 30, 230, lines=2)),
        row(crisis_id=None, **figures(150, 150, 150, lines=2)),
    ]


def test_group_by_division(session: Session, analyst: User, mixed: int) -> None:
    assert rows(session, analyst, "division") == [
        row(division="hod", **figures(300, 300, 300, lines=2)),
        row(division="pcca", **figures(50, 50, 50, lines=1)),
        row(division="prd", **figures(30, 30, 30, lines=1)),
    ]


def test_group_by_phase(session: Session, analyst: User, mixed: int) -> None:
    assert rows(session, analyst, "phase") == [
        row(phase="preparedness", **figures(50, 50, 50, lines=1)),
        row(phase="recovery", **figures(30, 30, 30, lines=1)),
        row(phase="response", **figures(300, 300, 300, lines=2)),
    ]


def test_group_by_admin1_puts_country_wide_last(
    session: Session, analyst: User, mixed: int
) -> None:
    assert rows(session, analyst, "admin1") == [
        row(admin1="SD01", **figures(300, 300, 300, lines=2)),
        row(admin1="SD02", **figures(50, 50, 50, lines=1)),
        row(admin1=None, **figures(30, 30, 30, lines=1)),
    ]


def test_group_by_several_fields(session: Session, analyst: User, mixed: int) -> None:
    assert rows(session, analyst, "sector", "crisis", "admin1") == [
        row(sector="health", crisis_id=mixed, admin1=None, **figures(30, 30, 30, lines=1)),
        row(sector="shelter", crisis_id=mixed, admin1="SD01", **figures(200, 200, 200, lines=1)),
        row(sector="shelter", crisis_id=None, admin1="SD01", **figures(100, 100, 100, lines=1)),
        row(sector="wash", crisis_id=None, admin1="SD02", **figures(50, 50, 50, lines=1)),
    ]


def test_rows_hold_only_country_year_the_groups_and_the_figures(
    session: Session, officer: User, mixed: int, api
) -> None:
    session.commit()
    analyst = api("hq")
    for group_by in all_group_bys():
        params = {"group_by": ",".join(group_by)} if group_by else {}
        response = analyst.get("/api/v1/totals", params=params)
        assert response.status_code == 200, (group_by, response.text)
        got = response.json()["rows"]
        expected_keys = {"country", "year", *(FIELD.get(g, g) for g in group_by), *FIGURES}
        assert got, group_by
        assert all(set(r) == expected_keys for r in got), (group_by, got)


def test_group_by_over_http(session: Session, officer: User, mixed: int, api) -> None:
    session.commit()
    analyst = api("hq")

    response = analyst.get("/api/v1/totals", params={"group_by": "crisis"})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "rows": [
            row(crisis_id=mixed, **figures(230, 230, 230, lines=2)),
            row(crisis_id=None, **figures(150, 150, 150, lines=2)),
        ]
    }
    response = analyst.get("/api/v1/totals", params={"group_by": "division,phase"})
    assert response.status_code == 200, response.text
    assert response.json()["rows"] == [
        row(division="hod", phase="response", **figures(300, 300, 300, lines=2)),
        row(division="pcca", phase="preparedness", **figures(50, 50, 50, lines=1)),
        row(division="prd", phase="recovery", **figures(30, 30, 30, lines=1)),
    ]


@pytest.fixture
def two_countries(session: Session, analyst: User, officer: User) -> int:
    """SDN and TCD, 2023 and 2024, several sectors; returns the crisis id."""
    crisis_id = crisis(session, analyst, "Lake Chad", ["SDN", "TCD"])
    submit(
        session,
        officer,
        line("shelter", admin1="SD01", reached=100),
        line("wash", division="pcca", phase="preparedness", admin1="SD01", reached=80),
        **month(5, 2024),
    )
    submit(
        session,
        officer,
        line("health", division="prd", phase="recovery", admin1="SD02", reached=20),
        crisis_id=crisis_id,
        **month(6, 2024),
    )
    submit(session, officer, line("shelter", admin1="SD01", reached=7), **month(5, 2023))
    submit(
        session,
        officer,
        line("shelter", admin1="TCD14", reached=400),
        line("cash", admin1="TCD14", reached=600),
        country="TCD",
        crisis_id=crisis_id,
        **month(5, 2024),
    )
    return crisis_id


def test_filters(session: Session, analyst: User, two_countries: int) -> None:
    assert rows(session, analyst) == [
        row("SDN", 2023, **figures(7, 7, 7, lines=1)),
        row("SDN", 2024, **figures(200, 120, 200, lines=3)),
        row("TCD", 2024, **figures(1000, 600, 1000, lines=2)),
    ]
    assert rows(session, analyst, countries=["TCD"]) == [
        row("TCD", 2024, **figures(1000, 600, 1000, lines=2))
    ]
    assert rows(session, analyst, countries=["TCD", "SDN"], years=[2023]) == [
        row("SDN", 2023, **figures(7, 7, 7, lines=1))
    ]
    # A sector filter narrows the unique estimate too: without cash, shelter is TCD's max.
    assert rows(session, analyst, sectors=["shelter", "wash"], years=[2024]) == [
        row("SDN", 2024, **figures(180, 100, 180, lines=2)),
        row("TCD", 2024, **figures(400, 400, 400, lines=1)),
    ]
    assert rows(session, analyst, divisions=["pcca", "prd"]) == [
        row("SDN", 2024, **figures(100, 100, 100, lines=2))
    ]
    assert rows(session, analyst, "phase", phases=["recovery"]) == [
        row("SDN", 2024, phase="recovery", **figures(20, 20, 20, lines=1))
    ]
    assert rows(session, analyst, crisis_id=two_countries) == [
        row("SDN", 2024, **figures(20, 20, 20, lines=1)),
        row("TCD", 2024, **figures(1000, 600, 1000, lines=2)),
    ]


def test_filters_over_http(session: Session, officer: User, two_countries: int, api) -> None:
    session.commit()
    analyst = api("hq")

    def get(**params: Any) -> list[dict[str, Any]]:
        response = analyst.get("/api/v1/totals", params=params)
        assert response.status_code == 200, (params, response.text)
        return response.json()["rows"]

    assert get(country="tcd,SDN", year="2024") == [
        row("SDN", 2024, **figures(200, 120, 200, lines=3)),
        row("TCD", 2024, **figures(1000, 600, 1000, lines=2)),
    ]
    assert get(country="SDN", year="2023,2024", sector="shelter") == [
        row("SDN", 2023, **figures(7, 7, 7, lines=1)),
        row("SDN", 2024, **figures(100, 100, 100, lines=1)),
    ]
    assert get(division="pcca", group_by="sector") == [
        row("SDN", 2024, sector="wash", **figures(80, 80, 80, lines=1))
    ]
    assert get(phase="preparedness,recovery") == [
        row("SDN", 2024, **figures(100, 100, 100, lines=2))
    ]
    assert get(crisis_id=str(two_countries), group_by="crisis") == [
        row("SDN", 2024, crisis_id=two_countries, **figures(20, 20, 20, lines=1)),
        row("TCD", 2024, crisis_id=two_countries, **figures(1000, 600, 1000, lines=2)),
    ]
    assert get(country="TCD", year="2023") == []


# --- 7. invariants over random data ----------------------------------------------------


def random_line(rng: random.Random, location: tuple[str | None, str | None]):
    reached = rng.randint(0, 5000)
    return line(
        rng.choice(["shelter", "wash", "cccm", "cash", "health"]),
        division=rng.choice(["pcca", "prd", "hod"]),
        phase=rng.choice(["preparedness", "response", "recovery"]),
        admin1=location[0],
        admin2=location[1],
        reached=reached,
        new=rng.randint(0, reached),
        people_targeted=rng.choice([None, rng.randint(0, 8000)]),
    )


def random_lines(rng: random.Random, country: str) -> list[dict[str, Any]]:
    locations = {
        "SDN": [
            (None, None),
            ("SD01", None),
            ("SD01", "SD01001"),
            ("SD01", "SD01002"),
            ("SD02", None),
            ("SD03", None),
        ],
        "TCD": [(None, None), ("TCD14", None), ("TCD14", "TCD1401")],
    }[country]
    lines: dict[str, dict[str, Any]] = {}
    for _ in range(rng.randint(1, 6)):
        candidate = random_line(rng, rng.choice(locations))
        key = "|".join(
            str(candidate[k]) for k in ("sector", "division", "phase", "admin1", "admin2")
        )
        lines.setdefault(key, candidate)  # one line per slot
    return list(lines.values())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_data_follows_the_counting_rules(
    session: Session, analyst: User, officer: User, seed: int
) -> None:
    rng = random.Random(seed)
    crisis_ids = [
        crisis(session, analyst, "Conflict", ["SDN", "TCD"]),
        crisis(session, analyst, "Floods", ["SDN"]),
    ]
    # Distinct (country, month) per sitrep, so that no two sitreps share a slot and period.
    months = rng.sample(
        [(c, y, m) for c in ("SDN", "TCD") for y in (2023, 2024, 2025) for m in range(1, 13)], 30
    )
    live: dict[int, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    submitted: list[Sitrep] = []
    for country, year, m in months:
        choices = [None, crisis_ids[0]] + ([crisis_ids[1]] if country == "SDN" else [])
        header = {"country": country, "crisis_id": rng.choice(choices), **month(m, year)}
        lines = random_lines(rng, country)
        s = submit(session, officer, *lines, **header)
        submitted.append(s)
        live[s.id] = (header, lines)
    for s in rng.sample(submitted, 8):  # amend some, sometimes into another crisis
        header, _ = live[s.id]
        if header["country"] == "SDN" and rng.random() < 0.5:
            header = {**header, "crisis_id": rng.choice([None, *crisis_ids])}
        lines = random_lines(rng, header["country"])
        amend(session, officer, s, *lines, **header)
        live[s.id] = (header, lines)
    for s in rng.sample(submitted, 4):  # withdraw some, amended or not
        withdraw(session, officer, s)
        del live[s.id]

    lines = [ln for header, body_lines in live.values() for ln in as_live(header, body_lines)]
    # people_reached_new was given explicitly on every line here.
    assert all(ln["new"] is not None for ln in lines)

    ungrouped = rows(session, analyst)
    assert ungrouped == expected_totals(lines, ())
    assert len({(r["country"], r["year"]) for r in ungrouped}) > 3
    for group_by in all_group_bys():
        got = rows(session, analyst, *group_by)
        assert got == expected_totals(lines, group_by), group_by
        for r in got:
            assert 0 <= r["people_reached_unique"] <= r["people_reached"], (group_by, r)
            assert r["people_reached"] <= r["people_reached_in_periods"], (group_by, r)
            if "sector" in group_by:
                assert r["people_reached_unique"] == r["people_reached"], (group_by, r)
        # Summed over the groups, every additive figure is the ungrouped one.
        for total in ungrouped:
            mine = [
                r for r in got if (r["country"], r["year"]) == (total["country"], total["year"])
            ]
            for name in ("people_reached", "people_reached_in_periods", "people_targeted", "lines"):
                assert sum(r[name] for r in mine) == total[name], (group_by, name)
            # The unique estimate can only grow when split (max of sums <= sum of maxes),
            # and is unchanged when split by admin1 (locations lie within one admin1).
            split_unique = sum(r["people_reached_unique"] for r in mine)
            assert split_unique >= total["people_reached_unique"], group_by
            if group_by == ("admin1",):
                assert split_unique == total["people_reached_unique"]


# --- 8. HTTP errors and permissions ----------------------------------------------------


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("group_by", "sector,country"),
        ("group_by", "admin2"),
        ("sector", "food"),
        ("sector", "shelter,nfi"),
        ("division", "ops"),
        ("phase", "relief"),
        ("year", "twenty"),
        ("year", "2024,abc"),
        ("year", "1066"),
        ("country", "XXX"),
        ("country", "SDN,ZZZ"),
        ("crisis_id", "abc"),
    ],
)
def test_bad_query_parameters(api, param: str, value: str) -> None:
    response = api("hq").get("/api/v1/totals", params={param: value})
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["query", param], problem
    assert problem["errors"][0]["msg"]


def test_no_token(client) -> None:
    problem = assert_problem(client.get("/api/v1/totals"), 401)
    assert "token" in problem["detail"].lower()


def test_bad_token(client) -> None:
    response = client.get("/api/v1/totals", headers={"Authorization": "Bearer ct_nonsense"})
    assert_problem(response, 401)


def test_coordinators_may_not_read_totals(api) -> None:
    problem = assert_problem(api("coordinator", clusters=["shelter"]).get("/api/v1/totals"), 403)
    assert "coordinator" in problem["detail"]


def submit_in_sdn_and_tcd(session: Session, officer: User) -> None:
    submit(session, officer, line("shelter", admin1="SD01", reached=100), **month(1))
    submit(session, officer, line("wash", admin1="TCD14", reached=300), country="TCD", **month(1))
    session.commit()


def test_field_officers_see_only_their_countries(session: Session, officer: User, api) -> None:
    submit_in_sdn_and_tcd(session, officer)
    sdn = row("SDN", 2024, **figures(100, 100, 100, lines=1))
    tcd = row("TCD", 2024, **figures(300, 300, 300, lines=1))

    field = api("field", countries=["SDN"])
    response = field.get("/api/v1/totals")
    assert response.status_code == 200, response.text
    assert response.json() == {"rows": [sdn]}
    response = field.get("/api/v1/totals", params={"country": "SDN", "group_by": "sector"})
    assert response.status_code == 200, response.text
    assert response.json() == {"rows": [{**sdn, "sector": "shelter"}]}

    response = api("hq").get("/api/v1/totals")
    assert response.status_code == 200, response.text
    assert response.json() == {"rows": [sdn, tcd]}
    response = api("admin").get("/api/v1/totals")
    assert response.json() == {"rows": [sdn, tcd]}


@pytest.mark.parametrize("country", ["TCD", "SDN,TCD"])
def test_field_officers_may_not_ask_for_other_countries(
    session: Session, officer: User, api, country: str
) -> None:
    submit_in_sdn_and_tcd(session, officer)
    response = api("field", countries=["SDN"]).get("/api/v1/totals", params={"country": country})
    problem = assert_problem(response, 403)
    assert "TCD" in problem["detail"]
    assert "rows" not in problem


def test_field_officer_scope_in_the_service(session: Session, officer: User) -> None:
    submit_in_sdn_and_tcd(session, officer)
    tcd_only = auth.create_user(session, name="chad-officer", role=Role.field, countries=["TCD"])
    assert rows(session, tcd_only) == [row("TCD", 2024, **figures(300, 300, 300, lines=1))]
    assert rows(session, officer) == [
        row("SDN", 2024, **figures(100, 100, 100, lines=1)),
        row("TCD", 2024, **figures(300, 300, 300, lines=1)),
    ]
