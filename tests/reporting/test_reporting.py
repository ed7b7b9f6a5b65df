"""Reporting completeness: GET /api/v1/reporting/completeness, over HTTP.

Which country offices sent a sitrep for which month: the counts, the state of each month,
which countries are offices, the user's scope and bad input."""

from typing import Any

import pytest

from tests.factories import Api, assert_problem, line, register_crisis, sitrep

URL = "/api/v1/reporting/completeness"


def _submit(officer: Api, country: str, admin1: str, start: str, end: str, **kw: Any) -> int:
    body = sitrep(line(admin1=admin1), country=country, start=start, end=end, **kw)
    response = officer.post("/api/v1/sitreps", json=body)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _grid(body: dict[str, Any]) -> dict[str, str]:
    """Each office's months as a string: R reported, . missing, - not due, x not expected."""
    letter = {"reported": "R", "missing": ".", "not_due": "-", "not_expected": "x"}
    return {o["country"]: "".join(letter[m["state"]] for m in o["months"]) for o in body["offices"]}


@pytest.fixture
def world(api) -> dict[str, Any]:
    """SDN reports January, March, a period across April and May, and a withdrawn June, in
    a crisis of SDN and TCD started in 2023; TCD never reports; HTI starts reporting in
    August 2024 outside any crisis; AFG reported in 2023 only."""
    hq = api("hq")
    officer = api("field", countries=["SDN", "TCD", "HTI", "AFG"])
    crisis = register_crisis(hq, ["SDN", "TCD"], name="Conflict")
    _submit(officer, "SDN", "SD01", "2024-01-01", "2024-01-31", crisis_id=crisis)
    _submit(officer, "SDN", "SD01", "2024-03-01", "2024-03-31", crisis_id=crisis)
    # A second sitrep for March, for another place: two sitreps in one month.
    _submit(officer, "SDN", "SD02", "2024-03-01", "2024-03-31", crisis_id=crisis)
    _submit(officer, "SDN", "SD01", "2024-04-20", "2024-05-10", crisis_id=crisis)
    withdrawn = _submit(officer, "SDN", "SD01", "2024-06-01", "2024-06-30", crisis_id=crisis)
    etag = officer.get(f"/api/v1/sitreps/{withdrawn}").headers["ETag"]
    response = officer.delete(
        f"/api/v1/sitreps/{withdrawn}", json={"reason": "Duplicate."}, headers={"If-Match": etag}
    )
    assert response.status_code == 200, response.text
    _submit(officer, "HTI", "HT01", "2024-08-01", "2024-08-31")
    _submit(officer, "AFG", "AF01", "2023-05-01", "2023-05-31")
    return {"hq": hq, "officer": officer, "crisis": crisis}


def test_counts_and_states_per_office_and_month(world: dict[str, Any]) -> None:
    response = world["hq"].get(URL, params={"year": 2024, "as_of": "2024-10-15"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["year"] == 2024 and body["as_of"] == "2024-10-15"
    assert body["years"] == [2023, 2024]
    assert [o["country"] for o in body["offices"]] == ["AFG", "HTI", "SDN", "TCD"]
    sdn = next(o for o in body["offices"] if o["country"] == "SDN")
    assert [m["sitreps"] for m in sdn["months"]] == [1, 0, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    assert [m["month"] for m in sdn["months"]] == list(range(1, 13))
    assert _grid(body) == {
        # AFG reported once in 2023: expected ever since, so every month is missing.
        "AFG": ".........---",
        # HTI's first sitrep is in August: the months before are not expected of it.
        "HTI": "xxxxxxxR.---",
        # The withdrawn June sitrep does not count; April-May touches both months.
        "SDN": "R.RRR....---",
        # TCD is an office because it is a country of a crisis, though it never reported.
        "TCD": ".........---",
    }
    assert {o["country"]: o["missing"] for o in body["offices"]} == {
        "AFG": 9,
        "HTI": 1,
        "SDN": 5,
        "TCD": 9,
    }
    assert sdn["reporting_since"] == "2023-04-15"  # the crisis began before the first sitrep
    assert sdn["last_period_end"] == "2024-05-10"
    assert next(o for o in body["offices"] if o["country"] == "TCD")["last_period_end"] is None
    assert next(o for o in body["offices"] if o["country"] == "SDN")["name"] == "Sudan"


def test_year_defaults_to_the_latest_year_with_sitreps(world: dict[str, Any]) -> None:
    body = world["hq"].get(URL, params={"as_of": "2026-02-10"}).json()
    assert body["year"] == 2024
    assert body["years"] == [2023, 2024, 2026]  # the current year is always offered


def test_a_year_without_sitreps_and_before_any_office(world: dict[str, Any]) -> None:
    body = world["hq"].get(URL, params={"year": 2020, "as_of": "2024-10-15"}).json()
    assert set(_grid(body).values()) == {"x" * 12}
    assert all(o["missing"] == 0 for o in body["offices"])


def test_crisis_filter_keeps_its_sitreps_and_countries(world: dict[str, Any]) -> None:
    params = {"year": 2024, "as_of": "2025-01-15", "crisis_id": world["crisis"]}
    body = world["hq"].get(URL, params=params).json()
    assert _grid(body) == {"SDN": "R.RRR.......", "TCD": "............"}


def test_no_offices_at_all(api) -> None:
    body = api("hq").get(URL, params={"as_of": "2024-10-15"}).json()
    assert body == {"year": 2024, "as_of": "2024-10-15", "years": [2024], "offices": []}


def test_field_officer_sees_only_own_countries(api, world: dict[str, Any]) -> None:
    officer = api("field", countries=["SDN"])
    body = officer.get(URL, params={"year": 2024, "as_of": "2024-10-15"}).json()
    assert [o["country"] for o in body["offices"]] == ["SDN"]
    assert officer.get(URL, params={"country": "SDN", "year": 2024}).status_code == 200
    problem = assert_problem(officer.get(URL, params={"country": "TCD"}), 403)
    assert "TCD" in problem["detail"]
    assert_problem(officer.get(URL, params={"country": "SDN,TCD"}), 403)


def test_hq_may_narrow_to_countries(world: dict[str, Any]) -> None:
    body = world["hq"].get(URL, params={"country": "tcd,SDN", "year": 2024}).json()
    assert [o["country"] for o in body["offices"]] == ["SDN", "TCD"]


@pytest.mark.parametrize(("role", "status"), [("admin", 200), ("coordinator", 403)])
def test_roles(api, role: str, status: int) -> None:
    scope = {"clusters": ["shelter"]} if role == "coordinator" else {}
    response = api(role, **scope).get(URL)
    if status == 403:
        assert_problem(response, 403)
    else:
        assert response.status_code == 200, response.text


def test_needs_a_token(client) -> None:
    assert_problem(client.get(URL), 401)


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"year": "abc"}, ["query", "year"]),
        ({"year": "1800"}, ["query", "year"]),
        ({"year": "2024.5"}, ["query", "year"]),
        ({"as_of": "yesterday"}, ["query", "as_of"]),
        ({"as_of": "2024-02-30"}, ["query", "as_of"]),
        ({"country": "XYZ"}, ["query", "country"]),
        ({"crisis_id": "0"}, ["query", "crisis_id"]),
        ({"crisis_id": "99999999999"}, ["query", "crisis_id"]),
    ],
)
def test_bad_input_is_a_problem(api, params: dict[str, str], loc: list[str]) -> None:
    body = assert_problem(api("hq").get(URL, params=params), 422)
    assert body["errors"][0]["loc"] == loc
