"""Sitreps over HTTP: submission, validation, the one-sitrep-per-slot rule, reads and lists,
amendments with If-Match, revisions and withdrawal (DOMAIN.md "Sitreps", API.md)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from httpx import Response

from tests.factories import Api, assert_problem, line, sitrep

SITREPS = "/api/v1/sitreps"

ApiFactory = Callable[..., Api]


# --- helpers ---------------------------------------------------------------------------


def submit(client: Api, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(SITREPS, json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def submit_response(client: Api, body: dict[str, Any]) -> Response:
    response = client.post(SITREPS, json=body)
    assert response.status_code == 201, response.text
    return response


def etag_of(client: Api, sitrep_id: int) -> str:
    response = client.get(f"{SITREPS}/{sitrep_id}")
    assert response.status_code == 200, response.text
    return response.headers["ETag"]


def amend(client: Api, sitrep_id: int, body: dict[str, Any], if_match: str) -> Response:
    return client.put(f"{SITREPS}/{sitrep_id}", json=body, headers={"If-Match": if_match})


def withdraw(
    client: Api, sitrep_id: int, reason: str | None = "duplicate", if_match: str | None = "*"
) -> Response:
    headers = {} if if_match is None else {"If-Match": if_match}
    body = None if reason is None else {"reason": reason}
    return client.request("DELETE", f"{SITREPS}/{sitrep_id}", json=body, headers=headers)


def create_crisis(hq: Api, countries: list[str] | None = None, name: str = "Sudan war") -> int:
    response = hq.post(
        "/api/v1/crises",
        json={
            "name": name,
            "kind": "conflict",
            "countries": countries or ["SDN", "TCD"],
            "started_on": "2023-04-15",
        },
    )
    assert response.status_code == 201, response.text
    crisis_id: int = response.json()["id"]
    return crisis_id


def validation_errors(response: Response) -> list[dict[str, Any]]:
    """The `errors` of a 422 problem, each checked to have a loc and a msg."""
    body = assert_problem(response, 422)
    errors: list[dict[str, Any]] = body["errors"]
    assert errors, body
    for error in errors:
        assert isinstance(error["loc"], list) and error["loc"], error
        assert isinstance(error["msg"], str) and error["msg"], error
    return errors


def error_at(response: Response, loc: list[Any]) -> dict[str, Any]:
    """The one validation error at exactly this loc."""
    errors = validation_errors(response)
    matching = [error for error in errors if error["loc"] == loc]
    assert len(matching) == 1, f"no single error at {loc}: {errors}"
    return matching[0]


def list_all(client: Api, **params: Any) -> list[dict[str, Any]]:
    response = client.get(SITREPS, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"items", "next_cursor"}
    items: list[dict[str, Any]] = body["items"]
    return items


def ids(items: list[dict[str, Any]]) -> list[int]:
    return [item["id"] for item in items]


def assert_nothing_written(client: Api) -> None:
    assert list_all(client) == []


def today() -> date:
    return datetime.now(UTC).date()


def cursor_for(kind: str, key: list[Any]) -> str:
    raw = json.dumps({"k": kind, "v": key}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- submission ------------------------------------------------------------------------


def test_submit_returns_the_sitrep_with_location_and_etag(api: ApiFactory) -> None:
    field = api("field", countries=["SDN"], name="amina.field")
    body = sitrep(
        line(
            reached=1200,
            new=300,
            people_targeted=1500,
            disaggregation={"women": 400, "men": 300, "girls": 260, "boys": 240},
            persons_with_disabilities=30,
            indicators={"households_assisted": 240, "shelter_kits": 12},
        ),
        line("wash", admin1="SD01", admin2="SD01001", reached=500),
        narrative="Displacement continued from Khartoum.",
    )
    response = field.post(SITREPS, json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    sitrep_id = created["id"]
    assert isinstance(sitrep_id, int)
    assert response.headers["Location"] == f"/api/v1/sitreps/{sitrep_id}"
    assert response.headers["ETag"] == f'"{sitrep_id}-1-submitted"'

    assert created["revision"] == 1
    assert created["status"] == "submitted"
    assert created["submitted_by"] == "amina.field"
    assert created["withdrawn_at"] is None
    assert created["withdrawal_reason"] is None
    assert created["country"] == "SDN"
    assert created["crisis_id"] is None
    assert created["period_start"] == "2024-03-01"
    assert created["period_end"] == "2024-03-31"
    assert created["narrative"] == "Displacement continued from Khartoum."
    submitted_at = parse_time(created["submitted_at"])
    created_at = parse_time(created["created_at"])
    assert submitted_at.tzinfo is not None and created_at.tzinfo is not None
    assert abs(datetime.now(UTC) - submitted_at) < timedelta(minutes=5)

    first, second = created["lines"]
    assert isinstance(first["id"], int) and isinstance(second["id"], int)
    assert first["id"] != second["id"]
    assert {k: v for k, v in first.items() if k != "id"} == {
        "sector": "shelter",
        "division": "hod",
        "phase": "response",
        "admin1": "SD01",
        "admin2": None,
        "people_reached": 1200,
        "people_reached_new": 300,
        "people_reached_cumulative": None,
        "people_targeted": 1500,
        "disaggregation": {"women": 400, "men": 300, "girls": 260, "boys": 240},
        "persons_with_disabilities": 30,
        "indicators": {"households_assisted": 240, "shelter_kits": 12},
    }
    # people_reached_new defaults to people_reached.
    assert second["people_reached"] == 500
    assert second["people_reached_new"] == 500
    assert second["admin2"] == "SD01001"
    assert second["people_targeted"] is None
    assert second["disaggregation"] is None
    assert second["indicators"] == {}

    read = field.get(f"{SITREPS}/{sitrep_id}")
    assert read.status_code == 200
    assert read.json() == created
    assert read.headers["ETag"] == response.headers["ETag"]


def test_codes_are_normalised_to_upper_case(field: Api) -> None:
    created = submit(field, sitrep(line(admin1="sd01", admin2=" sd01001 "), country="sdn"))
    assert created["country"] == "SDN"
    assert created["lines"][0]["admin1"] == "SD01"
    assert created["lines"][0]["admin2"] == "SD01001"


def test_country_wide_line_without_location(field: Api) -> None:
    created = submit(field, sitrep(line(admin1=None)))
    assert created["lines"][0]["admin1"] is None
    assert created["lines"][0]["admin2"] is None


def test_admin_may_submit_for_any_country(admin: Api) -> None:
    created = submit(admin, sitrep(line(admin1="TCD14"), country="TCD"))
    assert created["country"] == "TCD"


@pytest.mark.parametrize(
    ("role", "scope"),
    [
        ("hq", {}),
        ("coordinator", {"clusters": ["shelter"]}),
        ("coordinator", {"clusters": ["shelter"], "countries": ["SDN"]}),
        ("field", {"countries": ["TCD"]}),
    ],
)
def test_who_may_not_submit(
    api: ApiFactory, hq: Api, role: str, scope: dict[str, list[str]]
) -> None:
    response = api(role, **scope).post(SITREPS, json=sitrep())
    assert_problem(response, 403)
    assert_nothing_written(hq)


def test_submit_needs_a_token(client: Any, hq: Api) -> None:
    assert_problem(client.post(SITREPS, json=sitrep()), 401)
    assert_nothing_written(hq)


# --- validation ------------------------------------------------------------------------


def test_unknown_country(field: Api, hq: Api) -> None:
    response = field.post(SITREPS, json=sitrep(line(admin1=None), country="XXX"))
    error = error_at(response, ["body", "country"])
    assert "XXX" in error["msg"]
    assert_nothing_written(hq)


@pytest.mark.parametrize(
    ("overrides", "loc", "words"),
    [
        pytest.param({"admin1": "TCD14"}, ["admin1"], ["TCD14", "TCD"], id="admin1-of-other"),
        pytest.param({"admin1": "SD99"}, ["admin1"], ["SD99"], id="unknown-admin1"),
        pytest.param(
            {"admin1": "SD01001"}, ["admin1"], ["SD01001"], id="admin2-code-given-as-admin1"
        ),
        pytest.param(
            {"admin1": "SD01", "admin2": "SD99999"}, ["admin2"], ["SD99999"], id="unknown-admin2"
        ),
        pytest.param(
            {"admin1": "SD05", "admin2": "SD01001"},
            ["admin2"],
            ["SD01001", "SD05"],
            id="admin2-not-under-admin1",
        ),
        pytest.param(
            {"admin1": None, "admin2": "SD01001"},
            ["admin1"],
            ["SD01"],
            id="admin2-without-admin1",
        ),
        pytest.param(
            {"reached": 100, "new": 101}, ["people_reached_new"], ["101"], id="new-over-reached"
        ),
        pytest.param(
            {"disaggregation": {"women": 10, "men": 10, "girls": 10, "boys": 10}},
            ["disaggregation"],
            ["40", "100"],
            id="disaggregation-sum",
        ),
        pytest.param(
            {"persons_with_disabilities": 101},
            ["persons_with_disabilities"],
            ["101"],
            id="disabilities-over-reached",
        ),
        pytest.param(
            {"indicators": {"latrines": 3}},
            ["indicators", "latrines"],
            ["wash"],
            id="indicator-of-other-sector",
        ),
        pytest.param(
            {"indicators": {"rooms": 3}}, ["indicators", "rooms"], ["rooms"], id="no-indicator"
        ),
        pytest.param(
            {"indicators": {"households_assisted": "2.5"}},
            ["indicators", "households_assisted"],
            ["whole number"],
            id="fractional-count",
        ),
        pytest.param(
            {"indicators": {"households_assisted": 1_000_000_001}},
            ["indicators", "households_assisted"],
            ["households_assisted"],
            id="count-over-a-billion",
        ),
    ],
)
def test_line_rule(
    field: Api, hq: Api, overrides: dict[str, Any], loc: list[str], words: list[str]
) -> None:
    response = field.post(SITREPS, json=sitrep(line(**overrides)))
    error = error_at(response, ["body", "lines", 0, *loc])
    for word in words:
        assert word in error["msg"], error
    assert_nothing_written(hq)


@pytest.mark.parametrize(
    ("overrides", "loc"),
    [
        pytest.param({"reached": 1_000_000_001}, ["people_reached"], id="over-a-billion"),
        pytest.param({"reached": -1}, ["people_reached"], id="negative"),
        pytest.param({"reached": "12"}, ["people_reached"], id="string"),
        pytest.param({"reached": 12.0}, ["people_reached"], id="float"),
        pytest.param({"reached": 12.5}, ["people_reached"], id="fraction"),
        pytest.param({"reached": True}, ["people_reached"], id="bool"),
        pytest.param({"reached": None}, ["people_reached"], id="null"),
        pytest.param({"new": -5}, ["people_reached_new"], id="negative-new"),
        pytest.param({"people_targeted": -1}, ["people_targeted"], id="negative-targeted"),
        pytest.param(
            {"disaggregation": {"women": 50, "men": 50, "girls": 0}},
            ["disaggregation", "boys"],
            id="disaggregation-incomplete",
        ),
        pytest.param(
            {"indicators": {"households_assisted": -1}},
            ["indicators", "households_assisted"],
            id="negative-indicator",
        ),
        pytest.param({"sector": "food"}, ["sector"], id="unknown-sector"),
        pytest.param({"division": "ops"}, ["division"], id="unknown-division"),
        pytest.param({"phase": "relief"}, ["phase"], id="unknown-phase"),
        pytest.param({"colour": "red"}, ["colour"], id="unknown-field-in-line"),
        pytest.param({"id": 5}, ["id"], id="line-id-is-server-owned"),
    ],
)
def test_line_schema(field: Api, hq: Api, overrides: dict[str, Any], loc: list[str]) -> None:
    response = field.post(SITREPS, json=sitrep(line(**overrides)))
    error_at(response, ["body", "lines", 0, *loc])
    assert_nothing_written(hq)


def test_one_billion_people_is_the_limit(field: Api) -> None:
    created = submit(field, sitrep(line(reached=1_000_000_000)))
    assert created["lines"][0]["people_reached"] == 1_000_000_000


def test_edge_figures_are_accepted(field: Api) -> None:
    created = submit(
        field,
        sitrep(
            line(
                reached=100,
                new=100,
                disaggregation={"women": 100, "men": 0, "girls": 0, "boys": 0},
                persons_with_disabilities=100,
                people_targeted=0,
            ),
            line("health", reached=0, new=0, indicators={"consultations": 0}),
        ),
    )
    first, second = created["lines"]
    assert first["people_reached_new"] == 100
    assert first["persons_with_disabilities"] == 100
    assert first["people_targeted"] == 0
    assert second["people_reached"] == 0
    assert second["indicators"] == {"consultations": 0}


def test_cash_usd_is_a_decimal(field: Api) -> None:
    created = submit(
        field,
        sitrep(line("cash", indicators={"cash_usd": "1234.5", "transfers": 12})),
    )
    assert created["lines"][0]["indicators"] == {"cash_usd": "1234.50", "transfers": 12}
    read = field.get(f"{SITREPS}/{created['id']}").json()
    assert read["lines"][0]["indicators"] == {"cash_usd": "1234.50", "transfers": 12}


def test_cash_usd_with_more_than_cents_is_refused(field: Api, hq: Api) -> None:
    response = field.post(SITREPS, json=sitrep(line("cash", indicators={"cash_usd": "1.234"})))
    error_at(response, ["body", "lines", 0, "indicators", "cash_usd"])
    assert_nothing_written(hq)


def test_cash_usd_not_a_number_is_refused(field: Api, hq: Api) -> None:
    response = field.post(SITREPS, json=sitrep(line("cash", indicators={"cash_usd": "NaN"})))
    error_at(response, ["body", "lines", 0, "indicators", "cash_usd"])
    assert_nothing_written(hq)


@pytest.mark.parametrize("amount", [1000, "1000", "1000.00"])
def test_cash_usd_whole_amount_is_still_a_decimal(field: Api, amount: Any) -> None:
    """A whole-dollar cash_usd keeps the decimal string form (it used to come back as the
    JSON number 1000 when LineRead.indicators was `dict[str, int | Decimal]`)."""
    created = submit(field, sitrep(line("cash", indicators={"cash_usd": amount})))
    assert created["lines"][0]["indicators"] == {"cash_usd": "1000.00"}
    read = field.get(f"{SITREPS}/{created['id']}").json()
    assert read["lines"][0]["indicators"] == {"cash_usd": "1000.00"}


def test_whole_count_indicator_written_as_decimal_is_an_integer(field: Api) -> None:
    created = submit(field, sitrep(line(indicators={"households_assisted": "12.00"})))
    assert created["lines"][0]["indicators"] == {"households_assisted": 12}


@pytest.mark.parametrize(
    ("start", "end", "loc"),
    [
        pytest.param("2024-03-31", "2024-03-01", "period_end", id="ends-before-start"),
        pytest.param("2023-01-01", "2024-01-02", "period_end", id="367-days"),
        pytest.param("2024-02-30", "2024-03-31", "period_start", id="no-such-date"),
        pytest.param("03/01/2024", "2024-03-31", "period_start", id="not-iso"),
    ],
)
def test_period_rule(field: Api, hq: Api, start: str, end: str, loc: str) -> None:
    response = field.post(SITREPS, json=sitrep(start=start, end=end))
    error_at(response, ["body", loc])
    assert_nothing_written(hq)


def test_period_of_366_days_is_accepted(field: Api) -> None:
    created = submit(field, sitrep(start="2023-01-01", end="2024-01-01"))
    assert created["period_end"] == "2024-01-01"


def test_single_day_period_is_accepted(field: Api) -> None:
    created = submit(field, sitrep(start="2024-03-05", end="2024-03-05"))
    assert created["period_start"] == created["period_end"] == "2024-03-05"


def test_period_starting_in_the_future_is_refused(field: Api, hq: Api) -> None:
    start = today() + timedelta(days=3)
    end = start + timedelta(days=6)
    response = field.post(SITREPS, json=sitrep(start=start.isoformat(), end=end.isoformat()))
    error = error_at(response, ["body", "period_start"])
    assert "not started" in error["msg"]
    assert_nothing_written(hq)


def test_current_week_is_accepted(field: Api) -> None:
    start = today() - timedelta(days=2)
    end = start + timedelta(days=6)
    created = submit(field, sitrep(start=start.isoformat(), end=end.isoformat()))
    assert created["period_start"] == start.isoformat()


def test_unknown_crisis(field: Api, hq: Api) -> None:
    response = field.post(SITREPS, json=sitrep(crisis_id=999))
    error = error_at(response, ["body", "crisis_id"])
    assert "999" in error["msg"]
    assert_nothing_written(hq)


@pytest.mark.parametrize("crisis_id", [0, -1, "1", 1.5])
def test_crisis_id_must_be_a_positive_integer(field: Api, hq: Api, crisis_id: Any) -> None:
    response = field.post(SITREPS, json=sitrep(crisis_id=crisis_id))
    error_at(response, ["body", "crisis_id"])
    assert_nothing_written(hq)


def test_crisis_not_covering_the_country(field: Api, hq: Api) -> None:
    crisis_id = create_crisis(hq, countries=["TCD"], name="Chad floods")
    response = field.post(SITREPS, json=sitrep(crisis_id=crisis_id))
    error = error_at(response, ["body", "crisis_id"])
    assert "TCD" in error["msg"] and "SDN" in error["msg"]
    assert_nothing_written(hq)


def test_crisis_covering_the_country(field: Api, hq: Api) -> None:
    crisis_id = create_crisis(hq)
    created = submit(field, sitrep(crisis_id=crisis_id))
    assert created["crisis_id"] == crisis_id


def test_repeated_slot_within_one_sitrep(field: Api, hq: Api) -> None:
    response = field.post(
        SITREPS, json=sitrep(line(reached=10), line("wash"), line(reached=20, admin1="sd01"))
    )
    error = error_at(response, ["body", "lines", 2])
    assert "lines[0]" in error["msg"]
    # Same sector and admin1 but another phase, division or admin2 is another slot.
    submit(
        field,
        sitrep(
            line(),
            line(phase="recovery"),
            line(division="prd"),
            line(admin2="SD01001"),
        ),
    )


def test_repeated_slot_at_index_one(field: Api, hq: Api) -> None:
    response = field.post(SITREPS, json=sitrep(line(reached=10), line(reached=20)))
    error_at(response, ["body", "lines", 1])
    assert_nothing_written(hq)


def test_every_problem_is_reported_at_once(field: Api, hq: Api) -> None:
    response = field.post(
        SITREPS,
        json=sitrep(
            line(admin1="TCD14"),
            line("wash", reached=100, new=200),
            line("cash", indicators={"latrines": 1}),
            line(
                "health", reached=10, disaggregation={"women": 1, "men": 1, "girls": 1, "boys": 1}
            ),
            line("cccm", reached=10, persons_with_disabilities=11),
            line(admin1="TCD14"),
            start="2024-03-31",
            end="2024-03-01",
            crisis_id=999,
        ),
    )
    locs = [error["loc"] for error in validation_errors(response)]
    expected = [
        ["body", "period_end"],
        ["body", "crisis_id"],
        ["body", "lines", 0, "admin1"],
        ["body", "lines", 1, "people_reached_new"],
        ["body", "lines", 2, "indicators", "latrines"],
        ["body", "lines", 3, "disaggregation"],
        ["body", "lines", 4, "persons_with_disabilities"],
        ["body", "lines", 5, "admin1"],
        ["body", "lines", 5],
    ]
    assert sorted(map(str, locs)) == sorted(map(str, expected))
    body = response.json()
    assert body["detail"].endswith(f"(and {len(expected) - 1} more)")
    assert_nothing_written(hq)


def test_every_schema_problem_is_reported_at_once(field: Api, hq: Api) -> None:
    response = field.post(
        SITREPS,
        json=sitrep(line(reached=-1), line(reached="12"), line(sector="food"), start="tomorrow"),
    )
    locs = [error["loc"] for error in validation_errors(response)]
    for loc in (
        ["body", "period_start"],
        ["body", "lines", 0, "people_reached"],
        ["body", "lines", 1, "people_reached"],
        ["body", "lines", 2, "sector"],
    ):
        assert loc in locs, locs
    assert_nothing_written(hq)


@pytest.mark.parametrize(
    "field_name",
    ["id", "revision", "status", "submitted_by", "submitted_at", "created_at", "colour"],
)
def test_unknown_and_server_owned_fields_are_refused(field: Api, hq: Api, field_name: str) -> None:
    body = {**sitrep(), field_name: "x" if field_name != "id" else 1}
    error = error_at(field.post(SITREPS, json=body), ["body", field_name])
    assert "not permitted" in error["msg"]
    assert_nothing_written(hq)


@pytest.mark.parametrize("missing", ["country", "period_start", "period_end", "lines"])
def test_required_fields(field: Api, hq: Api, missing: str) -> None:
    body = sitrep()
    del body[missing]
    error_at(field.post(SITREPS, json=body), ["body", missing])
    assert_nothing_written(hq)


@pytest.mark.parametrize("missing", ["sector", "division", "phase", "people_reached"])
def test_required_line_fields(field: Api, hq: Api, missing: str) -> None:
    body_line = line()
    del body_line[missing]
    error_at(field.post(SITREPS, json=sitrep(body_line)), ["body", "lines", 0, missing])
    assert_nothing_written(hq)


@pytest.mark.parametrize(
    "content",
    [b'{"country": "SDN", "lines": [', b"country=SDN", b"", b"[1, 2", b"\xff\xfe"],
)
def test_malformed_json_body(field: Api, hq: Api, content: bytes) -> None:
    response = field.post(SITREPS, content=content, headers={"Content-Type": "application/json"})
    errors = validation_errors(response)
    assert errors[0]["loc"][0] == "body"
    assert "Traceback" not in response.text
    assert 'File "' not in response.text
    assert "app/" not in response.text
    assert_nothing_written(hq)


@pytest.mark.parametrize("body", [[], "sitrep", 5, None])
def test_body_that_is_not_an_object(field: Api, hq: Api, body: Any) -> None:
    validation_errors(field.post(SITREPS, json=body))
    assert_nothing_written(hq)


def test_narrative_too_long(field: Api, hq: Api) -> None:
    error_at(field.post(SITREPS, json=sitrep(narrative="x" * 20_001)), ["body", "narrative"])
    assert_nothing_written(hq)


def test_narrative_with_a_nul_character_is_not_a_server_error(field: Api) -> None:
    """BUG on PostgreSQL: a NUL character in the narrative is a 500 (PostgreSQL text cannot
    hold NUL; psycopg raises DataError). It should be refused as a 422 or stored faithfully,
    the same on both databases."""
    response = field.post(SITREPS, json=sitrep(narrative="before\u0000after"))
    assert response.status_code != 500, response.text
    if response.status_code == 201:
        assert response.json()["narrative"] == "before\u0000after"
    else:
        error_at(response, ["body", "narrative"])


# --- the slot rule ---------------------------------------------------------------------


def test_second_sitrep_for_a_slot_and_overlapping_period_is_a_conflict(field: Api, hq: Api) -> None:
    first = submit(field, sitrep(line(), line("wash", admin1="SD02")))
    response = field.post(
        SITREPS,
        json=sitrep(
            line("health"), line("wash", admin1="SD02"), start="2024-03-15", end="2024-04-14"
        ),
    )
    body = assert_problem(response, 409)
    assert body["conflicting_sitrep_id"] == first["id"]
    assert f"Sitrep {first['id']}" in body["detail"]
    assert "SD02" in body["detail"]
    assert body["slot"] == {
        "crisis_id": None,
        "country": "SDN",
        "sector": "wash",
        "division": "hod",
        "phase": "response",
        "admin1": "SD02",
        "admin2": None,
    }
    # The refused sitrep wrote nothing.
    assert ids(list_all(hq)) == [first["id"]]


def test_conflict_when_periods_share_one_day(field: Api) -> None:
    first = submit(field, sitrep())
    response = field.post(SITREPS, json=sitrep(start="2024-03-31", end="2024-04-06"))
    assert assert_problem(response, 409)["conflicting_sitrep_id"] == first["id"]
    response = field.post(SITREPS, json=sitrep(start="2024-02-25", end="2024-03-01"))
    assert assert_problem(response, 409)["conflicting_sitrep_id"] == first["id"]


def test_conflict_from_another_user_and_with_a_crisis(api: ApiFactory, hq: Api) -> None:
    crisis_id = create_crisis(hq)
    first = submit(api("field", countries=["SDN"]), sitrep(crisis_id=crisis_id))
    response = api("admin").post(
        SITREPS, json=sitrep(crisis_id=crisis_id, start="2024-03-10", end="2024-03-16")
    )
    body = assert_problem(response, 409)
    assert body["conflicting_sitrep_id"] == first["id"]
    assert body["slot"]["crisis_id"] == crisis_id


def test_conflict_for_a_country_wide_slot(field: Api) -> None:
    first = submit(field, sitrep(line(admin1=None)))
    body = assert_problem(field.post(SITREPS, json=sitrep(line(admin1=None))), 409)
    assert body["conflicting_sitrep_id"] == first["id"]
    # A located line is another slot than the country-wide one.
    submit(field, sitrep(line(admin1="SD01")))


@pytest.mark.parametrize(
    "second",
    [
        pytest.param(sitrep(start="2024-04-01", end="2024-04-30"), id="next-period"),
        pytest.param(sitrep(start="2024-02-01", end="2024-02-29"), id="previous-period"),
        pytest.param(sitrep(line(admin1="SD02")), id="other-admin1"),
        pytest.param(sitrep(line(admin2="SD01001")), id="other-admin2"),
        pytest.param(sitrep(line("wash")), id="other-sector"),
        pytest.param(sitrep(line(division="prd")), id="other-division"),
        pytest.param(sitrep(line(phase="recovery")), id="other-phase"),
    ],
)
def test_other_slot_or_period_is_allowed(field: Api, hq: Api, second: dict[str, Any]) -> None:
    first = submit(field, sitrep())
    created = submit(field, second)
    assert ids(list_all(hq)) == [created["id"], first["id"]]


def test_other_crisis_is_another_slot(field: Api, hq: Api) -> None:
    war = create_crisis(hq, name="Sudan war")
    floods = create_crisis(hq, name="Sudan floods")
    first = submit(field, sitrep(crisis_id=war))
    second = submit(field, sitrep(crisis_id=floods))
    third = submit(field, sitrep(crisis_id=None))
    assert ids(list_all(hq)) == [third["id"], second["id"], first["id"]]


def test_other_country_is_another_slot(admin: Api) -> None:
    submit(admin, sitrep(line(admin1=None), country="SDN"))
    submit(admin, sitrep(line(admin1=None), country="TCD"))


def test_withdrawn_sitrep_frees_its_slots(field: Api, hq: Api) -> None:
    first = submit(field, sitrep())
    assert_problem(field.post(SITREPS, json=sitrep()), 409)
    assert withdraw(field, first["id"]).status_code == 200
    second = submit(field, sitrep())
    assert second["id"] != first["id"]


def test_amendment_dropping_a_line_frees_its_slot(field: Api) -> None:
    first = submit(field, sitrep(line(), line(admin1="SD02")))
    body = assert_problem(field.post(SITREPS, json=sitrep(line())), 409)
    assert body["conflicting_sitrep_id"] == first["id"]

    etag = etag_of(field, first["id"])
    assert amend(field, first["id"], sitrep(line(admin1="SD02")), etag).status_code == 200
    submit(field, sitrep(line()))
    # The slot still held is still refused.
    body = assert_problem(field.post(SITREPS, json=sitrep(line(admin1="SD02"))), 409)
    assert body["conflicting_sitrep_id"] == first["id"]


def test_amendment_moving_a_period_onto_another_sitrep_is_a_conflict(field: Api) -> None:
    march = submit(field, sitrep())
    april = submit(field, sitrep(start="2024-04-01", end="2024-04-30"))
    etag = etag_of(field, april["id"])
    response = amend(field, april["id"], sitrep(start="2024-03-15", end="2024-04-30"), etag)
    body = assert_problem(response, 409)
    assert body["conflicting_sitrep_id"] == march["id"]
    # Unchanged.
    read = field.get(f"{SITREPS}/{april['id']}")
    assert read.json()["revision"] == 1
    assert read.json()["period_start"] == "2024-04-01"
    assert read.headers["ETag"] == etag


def test_amendment_does_not_conflict_with_itself(field: Api) -> None:
    created = submit(field, sitrep())
    etag = etag_of(field, created["id"])
    response = amend(field, created["id"], sitrep(line(reached=150), end="2024-04-02"), etag)
    assert response.status_code == 200, response.text


def test_readding_a_dropped_line(field: Api) -> None:
    created = submit(field, sitrep(line(), line("wash")))
    response = amend(field, created["id"], sitrep(line("wash")), etag_of(field, created["id"]))
    assert response.status_code == 200
    response = amend(
        field, created["id"], sitrep(line("wash"), line(reached=7)), response.headers["ETag"]
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["revision"] == 3
    readded = next(ln for ln in body["lines"] if ln["sector"] == "shelter")
    assert readded["people_reached"] == 7
    assert len({ln["id"] for ln in body["lines"]}) == 2
    # Still a single live holder of the slot.
    conflict = assert_problem(field.post(SITREPS, json=sitrep()), 409)
    assert conflict["conflicting_sitrep_id"] == created["id"]


# --- reads -----------------------------------------------------------------------------


def test_read_unknown_sitrep(field: Api) -> None:
    body = assert_problem(field.get(f"{SITREPS}/4242"), 404)
    assert "4242" in body["detail"]
    assert_problem(field.get(f"{SITREPS}/4242/revisions"), 404)


def test_read_with_a_bad_id(field: Api) -> None:
    validation_errors(field.get(f"{SITREPS}/abc"))


@pytest.mark.parametrize("sitrep_id", [0, -1, 2**31, 2**63, 2**70])
def test_read_with_an_out_of_range_id_is_not_a_server_error(field: Api, sitrep_id: int) -> None:
    """Ids beyond the 32-bit key columns must never reach the driver (they used to be a 500:
    PostgreSQL "integer out of range" from 2**31, SQLite OverflowError from 2**63)."""
    for response in (
        field.get(f"{SITREPS}/{sitrep_id}"),
        field.get(f"{SITREPS}/{sitrep_id}/revisions"),
        amend(field, sitrep_id, sitrep(), "*"),
        withdraw(field, sitrep_id),
    ):
        assert response.status_code in (404, 422), response.text
        assert_problem(response, response.status_code)


def test_largest_id_is_a_plain_not_found(field: Api) -> None:
    assert_problem(field.get(f"{SITREPS}/{2**31 - 1}"), 404)


@pytest.mark.parametrize("crisis_id", [2**31, 2**63, 2**70])
def test_out_of_range_crisis_id_is_not_a_server_error(field: Api, hq: Api, crisis_id: int) -> None:
    """The same for crisis_id, in a sitrep body and as a list filter."""
    error_at(field.post(SITREPS, json=sitrep(crisis_id=crisis_id)), ["body", "crisis_id"])
    response = hq.get(SITREPS, params={"crisis_id": crisis_id})
    assert response.status_code in (200, 422), response.text
    if response.status_code == 200:
        assert response.json() == {"items": [], "next_cursor": None}
    else:
        error_at(response, ["query", "crisis_id"])
    assert_nothing_written(hq)


def test_read_permissions(api: ApiFactory, admin: Api) -> None:
    created = submit(admin, sitrep())
    url = f"{SITREPS}/{created['id']}"
    for reader in (
        api("hq"),
        api("field", countries=["SDN"]),
        api("field", countries=["TCD", "SDN"]),
    ):
        response = reader.get(url)
        assert response.status_code == 200
        assert response.json()["id"] == created["id"]
        assert reader.get(f"{url}/revisions").status_code == 200
    # Outside a field officer's countries a sitrep answers as a missing one (API.md).
    for outsider, status in (
        (api("field", countries=["TCD"]), 404),
        (api("coordinator", clusters=["shelter"]), 403),
    ):
        assert_problem(outsider.get(url), status)
        assert_problem(outsider.get(f"{url}/revisions"), status)


def test_reads_need_a_token(client: Any, field: Api) -> None:
    created = submit(field, sitrep())
    assert_problem(client.get(f"{SITREPS}/{created['id']}"), 401)
    assert_problem(client.get(SITREPS), 401)


# --- lists -----------------------------------------------------------------------------


def test_list_is_newest_first_with_latest_revisions(field: Api, hq: Api) -> None:
    first = submit(field, sitrep(line(admin1="SD01")))
    second = submit(field, sitrep(line(admin1="SD02")))
    amend(field, first["id"], sitrep(line(admin1="SD01", reached=999)), "*")
    body = hq.get(SITREPS).json()
    assert body["next_cursor"] is None
    assert ids(body["items"]) == [second["id"], first["id"]]
    assert body["items"][1]["revision"] == 2
    assert body["items"][1]["lines"][0]["people_reached"] == 999
    assert body["items"][0] == hq.get(f"{SITREPS}/{second['id']}").json()


def test_list_of_nothing(hq: Api) -> None:
    assert hq.get(SITREPS).json() == {"items": [], "next_cursor": None}


def test_paginate_through_five_sitreps(field: Api, hq: Api) -> None:
    created = [submit(field, sitrep(line(admin1=f"SD0{n}")))["id"] for n in range(1, 6)]
    seen: list[int] = []
    pages = 0
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        response = hq.get(SITREPS, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        assert len(body["items"]) <= 2
        seen += ids(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str) and cursor
        assert pages < 10
    assert pages == 3
    assert seen == sorted(created, reverse=True)
    assert len(set(seen)) == 5


def test_page_that_ends_exactly_on_the_last_item(field: Api, hq: Api) -> None:
    for n in (1, 2):
        submit(field, sitrep(line(admin1=f"SD0{n}")))
    body = hq.get(SITREPS, params={"limit": 2}).json()
    assert len(body["items"]) == 2
    assert body["next_cursor"] is None


def test_default_and_maximum_limit(field: Api, hq: Api) -> None:
    submit(field, sitrep())
    assert len(hq.get(SITREPS, params={"limit": 1000}).json()["items"]) == 1
    error_at(hq.get(SITREPS, params={"limit": 1001}), ["query", "limit"])
    error_at(hq.get(SITREPS, params={"limit": 0}), ["query", "limit"])
    error_at(hq.get(SITREPS, params={"limit": "ten"}), ["query", "limit"])


def test_default_limit_is_100(field: Api, hq: Api) -> None:
    # 101 sitreps: one slot each, on consecutive single days.
    start = date(2023, 1, 1)
    for n in range(101):
        day = (start + timedelta(days=n)).isoformat()
        submit(field, sitrep(start=day, end=day))
    body = hq.get(SITREPS).json()
    assert len(body["items"]) == 100
    assert body["next_cursor"] is not None
    rest = hq.get(SITREPS, params={"cursor": body["next_cursor"]}).json()
    assert len(rest["items"]) == 1
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        "%%%",
        "é",
        cursor_for("sitreps", ["1"]),
        cursor_for("sitreps", [1, 2]),
        cursor_for("sitreps", [True]),
        cursor_for("revisions", [1]),
        cursor_for("feed", [1]),
        base64.urlsafe_b64encode(b'"just a string"').decode(),
    ],
)
def test_malformed_cursor(hq: Api, cursor: str) -> None:
    body = assert_problem(hq.get(SITREPS, params={"cursor": cursor}), 400)
    assert "cursor" in body["detail"]


def test_cursor_of_the_revisions_list_is_not_a_sitreps_cursor(field: Api, hq: Api) -> None:
    created = submit(field, sitrep())
    amend(field, created["id"], sitrep(line(reached=5)), "*")
    page = hq.get(f"{SITREPS}/{created['id']}/revisions", params={"limit": 1}).json()
    assert page["next_cursor"] is not None
    assert_problem(hq.get(SITREPS, params={"cursor": page["next_cursor"]}), 400)
    assert_problem(
        hq.get(f"{SITREPS}/{created['id']}/revisions", params={"cursor": "nonsense"}), 400
    )


@pytest.mark.parametrize("key", [2**63, 2**70, -(2**70)])
def test_cursor_with_an_out_of_range_key_is_malformed(field: Api, hq: Api, key: int) -> None:
    """A crafted cursor must not carry an oversized integer to the driver (it used to be a
    500 on SQLite)."""
    created = submit(field, sitrep())
    assert_problem(hq.get(SITREPS, params={"cursor": cursor_for("sitreps", [key])}), 400)
    revisions = f"{SITREPS}/{created['id']}/revisions"
    assert_problem(hq.get(revisions, params={"cursor": cursor_for("revisions", [key])}), 400)


def test_filter_by_country(admin: Api, hq: Api) -> None:
    sudan = submit(admin, sitrep(line(admin1="SD01")))
    chad = submit(admin, sitrep(line(admin1="TCD14"), country="TCD"))
    assert ids(list_all(hq, country="TCD")) == [chad["id"]]
    assert ids(list_all(hq, country="sdn")) == [sudan["id"]]
    assert ids(list_all(hq, country="SDN,TCD")) == [chad["id"], sudan["id"]]
    assert ids(list_all(hq, country="SDN, TCD,")) == [chad["id"], sudan["id"]]
    assert list_all(hq, country="ETH") == []
    error_at(hq.get(SITREPS, params={"country": "XXX"}), ["query", "country"])
    # An empty filter is no filter.
    assert ids(list_all(hq, country="")) == [chad["id"], sudan["id"]]


def test_filter_by_crisis(field: Api, hq: Api) -> None:
    war = create_crisis(hq, name="Sudan war")
    floods = create_crisis(hq, name="Sudan floods")
    in_war = submit(field, sitrep(crisis_id=war))
    in_floods = submit(field, sitrep(crisis_id=floods))
    submit(field, sitrep())
    assert ids(list_all(hq, crisis_id=war)) == [in_war["id"]]
    assert ids(list_all(hq, crisis_id=floods)) == [in_floods["id"]]
    assert list_all(hq, crisis_id=999) == []
    error_at(hq.get(SITREPS, params={"crisis_id": "war"}), ["query", "crisis_id"])


def test_filter_by_period(field: Api, hq: Api) -> None:
    jan = submit(field, sitrep(start="2024-01-01", end="2024-01-31"))["id"]
    feb = submit(field, sitrep(start="2024-02-01", end="2024-02-29"))["id"]
    mar = submit(field, sitrep(start="2024-03-01", end="2024-03-31"))["id"]
    # period_from: the period ends on or after it.
    assert ids(list_all(hq, period_from="2024-02-15")) == [mar, feb]
    assert ids(list_all(hq, period_from="2024-02-29")) == [mar, feb]
    assert ids(list_all(hq, period_from="2024-03-01")) == [mar]
    # period_to: the period starts on or before it.
    assert ids(list_all(hq, period_to="2024-02-10")) == [feb, jan]
    assert ids(list_all(hq, period_to="2024-02-01")) == [feb, jan]
    assert ids(list_all(hq, period_to="2024-01-31")) == [jan]
    # Both: overlapping the window.
    assert ids(list_all(hq, period_from="2024-02-10", period_to="2024-02-20")) == [feb]
    assert ids(list_all(hq, period_from="2024-01-31", period_to="2024-03-01")) == [mar, feb, jan]
    assert list_all(hq, period_from="2024-04-01") == []
    error_at(hq.get(SITREPS, params={"period_from": "March"}), ["query", "period_from"])


def test_period_filter_follows_amendments(field: Api, hq: Api) -> None:
    created = submit(field, sitrep(start="2024-01-01", end="2024-01-31"))
    assert list_all(hq, period_from="2024-03-01") == []
    amend(field, created["id"], sitrep(start="2024-03-01", end="2024-03-31"), "*")
    assert ids(list_all(hq, period_from="2024-03-01")) == [created["id"]]


def test_filter_by_status(field: Api, hq: Api) -> None:
    kept = submit(field, sitrep(line(admin1="SD01")))
    gone = submit(field, sitrep(line(admin1="SD02")))
    assert withdraw(field, gone["id"]).status_code == 200
    assert ids(list_all(hq, status="submitted")) == [kept["id"]]
    assert ids(list_all(hq, status="withdrawn")) == [gone["id"]]
    assert ids(list_all(hq)) == [gone["id"], kept["id"]]
    validation_errors(hq.get(SITREPS, params={"status": "deleted"}))


def test_filters_combine_with_pagination(field: Api, hq: Api) -> None:
    war = create_crisis(hq)
    in_war = [
        submit(field, sitrep(line(admin1=f"SD0{n}"), crisis_id=war))["id"] for n in range(1, 4)
    ]
    submit(field, sitrep(line(admin1="SD01")))
    first = hq.get(SITREPS, params={"crisis_id": war, "limit": 2}).json()
    assert ids(first["items"]) == [in_war[2], in_war[1]]
    rest = hq.get(
        SITREPS, params={"crisis_id": war, "limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert ids(rest["items"]) == [in_war[0]]
    assert rest["next_cursor"] is None


def test_field_officers_list_only_their_countries(api: ApiFactory, admin: Api) -> None:
    sudan = submit(admin, sitrep(line(admin1="SD01")))
    chad = submit(admin, sitrep(line(admin1="TCD14"), country="TCD"))
    submit(admin, sitrep(line(admin1=None), country="ETH"))
    sudan_officer = api("field", countries=["SDN"])
    assert ids(list_all(sudan_officer)) == [sudan["id"]]
    assert ids(list_all(sudan_officer, country="SDN")) == [sudan["id"]]
    assert_problem(sudan_officer.get(SITREPS, params={"country": "TCD"}), 403)
    assert_problem(sudan_officer.get(SITREPS, params={"country": "SDN,TCD"}), 403)
    both = api("field", countries=["SDN", "TCD"])
    assert ids(list_all(both)) == [chad["id"], sudan["id"]]
    assert ids(list_all(both, country="TCD")) == [chad["id"]]
    assert len(list_all(api("hq"))) == 3
    assert len(list_all(admin)) == 3


def test_coordinators_cannot_list_sitreps(api: ApiFactory, field: Api) -> None:
    submit(field, sitrep())
    assert_problem(api("coordinator", clusters=["shelter"]).get(SITREPS), 403)
    assert_problem(api("coordinator", clusters=["shelter"], countries=["SDN"]).get(SITREPS), 403)


# --- amendments ------------------------------------------------------------------------


def test_amend_replaces_figures_as_a_new_revision(api: ApiFactory, field: Api) -> None:
    crisis_id = create_crisis(api("hq"))
    created_response = submit_response(
        field,
        sitrep(
            line(reached=1000, new=400, indicators={"households_assisted": 200}),
            line("wash", admin1="SD02", reached=50),
            narrative="First report.",
        ),
    )
    created = created_response.json()
    sitrep_id = created["id"]
    first_etag = created_response.headers["ETag"]
    shelter_id, wash_id = (ln["id"] for ln in created["lines"])

    response = amend(
        field,
        sitrep_id,
        sitrep(
            line(reached=1200, indicators={"shelter_kits": 5}),
            line("health", admin1="SD03", reached=70, new=60),
            narrative="Corrected figures.",
            crisis_id=crisis_id,
            start="2024-03-01",
            end="2024-03-30",
        ),
        first_etag,
    )
    assert response.status_code == 200, response.text
    amended = response.json()
    assert response.headers["ETag"] == f'"{sitrep_id}-2-submitted"'
    assert response.headers["ETag"] != first_etag
    assert amended["id"] == sitrep_id
    assert amended["revision"] == 2
    assert amended["status"] == "submitted"
    assert amended["narrative"] == "Corrected figures."
    assert amended["crisis_id"] == crisis_id
    assert amended["period_end"] == "2024-03-30"
    assert amended["created_at"] == created["created_at"]
    assert parse_time(amended["submitted_at"]) >= parse_time(created["submitted_at"])

    shelter, health = amended["lines"]
    # Same sector/division/phase/location: same line id, figures replaced whole.
    assert shelter["id"] == shelter_id
    assert shelter["people_reached"] == 1200
    assert shelter["people_reached_new"] == 1200
    assert shelter["indicators"] == {"shelter_kits": 5}
    # A new slot: a new line id, not the dropped wash line's.
    assert health["sector"] == "health"
    assert health["id"] not in (shelter_id, wash_id)
    assert health["people_reached_new"] == 60
    assert "wash" not in {ln["sector"] for ln in amended["lines"]}

    read = field.get(f"{SITREPS}/{sitrep_id}")
    assert read.json() == amended
    assert read.headers["ETag"] == response.headers["ETag"]


def test_amend_without_if_match(field: Api) -> None:
    created = submit(field, sitrep())
    response = field.put(f"{SITREPS}/{created['id']}", json=sitrep(line(reached=5)))
    body = assert_problem(response, 428)
    assert "If-Match" in body["detail"]
    assert field.get(f"{SITREPS}/{created['id']}").json() == created


def test_amend_with_a_stale_etag(field: Api) -> None:
    created_response = submit_response(field, sitrep())
    sitrep_id = created_response.json()["id"]
    first_etag = created_response.headers["ETag"]
    second = amend(field, sitrep_id, sitrep(line(reached=200)), first_etag)
    assert second.status_code == 200

    stale = amend(field, sitrep_id, sitrep(line(reached=300)), first_etag)
    body = assert_problem(stale, 412)
    assert body["current_etag"] == second.headers["ETag"]
    read = field.get(f"{SITREPS}/{sitrep_id}").json()
    assert read["revision"] == 2
    assert read["lines"][0]["people_reached"] == 200
    revisions = field.get(f"{SITREPS}/{sitrep_id}/revisions").json()["items"]
    assert [r["revision"] for r in revisions] == [1, 2]


@pytest.mark.parametrize(
    "if_match",
    ['"999-1-submitted"', "garbage", "", 'W/"{id}-1-submitted"', '"{id}-1-withdrawn"'],
)
def test_amend_with_a_wrong_etag(field: Api, if_match: str) -> None:
    created = submit(field, sitrep())
    response = amend(
        field, created["id"], sitrep(line(reached=5)), if_match.format(id=created["id"])
    )
    assert_problem(response, 412)
    assert field.get(f"{SITREPS}/{created['id']}").json()["revision"] == 1


def test_amend_with_a_list_of_etags_or_star(field: Api) -> None:
    created = submit_response(field, sitrep())
    sitrep_id = created.json()["id"]
    etags = f'"{sitrep_id}-9-submitted", {created.headers["ETag"]}'
    response = amend(field, sitrep_id, sitrep(line(reached=5)), etags)
    assert response.status_code == 200, response.text
    assert response.json()["revision"] == 2
    response = amend(field, sitrep_id, sitrep(line(reached=6)), "*")
    assert response.status_code == 200, response.text
    assert response.json()["revision"] == 3
    assert response.json()["lines"][0]["people_reached"] == 6
    assert response.headers["ETag"] == f'"{sitrep_id}-3-submitted"'


def test_amend_cannot_change_the_country(admin: Api) -> None:
    created = submit(admin, sitrep())
    response = amend(admin, created["id"], sitrep(line(admin1="TCD14"), country="TCD"), "*")
    error = error_at(response, ["body", "country"])
    assert "SDN" in error["msg"]
    assert admin.get(f"{SITREPS}/{created['id']}").json() == created


def test_amend_is_validated_like_a_submission(field: Api) -> None:
    created = submit(field, sitrep())
    response = amend(
        field,
        created["id"],
        sitrep(
            line(reached=10, new=20), line(admin1="TCD14"), start="2024-04-01", end="2024-03-01"
        ),
        "*",
    )
    locs = [error["loc"] for error in validation_errors(response)]
    assert ["body", "lines", 0, "people_reached_new"] in locs
    assert ["body", "lines", 1, "admin1"] in locs
    assert ["body", "period_end"] in locs
    assert field.get(f"{SITREPS}/{created['id']}").json() == created
    error_at(amend(field, created["id"], {**sitrep(), "revision": 2}, "*"), ["body", "revision"])


def test_amend_unknown_sitrep(field: Api) -> None:
    assert_problem(amend(field, 4242, sitrep(), "*"), 404)
    assert_problem(amend(field, 4242, sitrep(), '"4242-1-submitted"'), 404)


def test_amend_withdrawn_sitrep_is_a_conflict(field: Api) -> None:
    created = submit(field, sitrep())
    withdrawn = withdraw(field, created["id"])
    assert withdrawn.status_code == 200
    response = amend(field, created["id"], sitrep(line(reached=5)), withdrawn.headers["ETag"])
    body = assert_problem(response, 409)
    assert "withdrawn" in body["detail"]
    assert_problem(amend(field, created["id"], sitrep(line(reached=5)), "*"), 409)
    read = field.get(f"{SITREPS}/{created['id']}").json()
    assert read["status"] == "withdrawn"
    assert read["revision"] == 1


def test_revisions_keep_every_version(api: ApiFactory, field: Api) -> None:
    admin = api("admin", name="hq.admin")
    created = submit(
        field,
        sitrep(
            line(reached=1000, new=400, indicators={"households_assisted": 200}),
            line("wash", admin1="SD02", reached=50),
            narrative="First report.",
        ),
    )
    sitrep_id = created["id"]
    response = amend(
        admin,
        sitrep_id,
        sitrep(line(reached=1200), narrative="Corrected.", end="2024-03-30"),
        etag_of(admin, sitrep_id),
    )
    assert response.status_code == 200
    amended = response.json()
    assert amended["submitted_by"] == "hq.admin"

    page = field.get(f"{SITREPS}/{sitrep_id}/revisions")
    assert page.status_code == 200
    body = page.json()
    assert body["next_cursor"] is None
    first, second = body["items"]
    revision_fields = {
        "revision",
        "country",
        "crisis_id",
        "period_start",
        "period_end",
        "narrative",
        "lines",
        "submitted_by",
        "submitted_at",
    }
    # Revision 1 is exactly what was first accepted.
    assert first == {k: created[k] for k in revision_fields}
    assert first["lines"][0]["people_reached"] == 1000
    assert first["lines"][0]["indicators"] == {"households_assisted": 200}
    assert len(first["lines"]) == 2
    assert first["submitted_by"] == created["submitted_by"]
    # Revision 2 is the amendment.
    assert second == {k: amended[k] for k in revision_fields}
    assert second["narrative"] == "Corrected."
    assert second["period_end"] == "2024-03-30"
    assert second["submitted_by"] == "hq.admin"
    assert [ln["people_reached"] for ln in second["lines"]] == [1200]
    assert second["lines"][0]["id"] == first["lines"][0]["id"]


def test_revisions_are_paginated(field: Api) -> None:
    created = submit(field, sitrep())
    for reached in (2, 3, 4):
        assert amend(field, created["id"], sitrep(line(reached=reached)), "*").status_code == 200
    url = f"{SITREPS}/{created['id']}/revisions"
    seen: list[int] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = field.get(url, params=params).json()
        seen += [item["revision"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [1, 2, 3, 4]
    reached = [item["lines"][0]["people_reached"] for item in field.get(url).json()["items"]]
    assert reached == [100, 2, 3, 4]


# --- withdrawal ------------------------------------------------------------------------


def test_withdraw(field: Api, hq: Api) -> None:
    created_response = submit_response(field, sitrep(narrative="To be withdrawn."))
    created = created_response.json()
    sitrep_id = created["id"]
    response = withdraw(
        field,
        sitrep_id,
        reason="  Reported twice by mistake.  ",
        if_match=created_response.headers["ETag"],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "withdrawn"
    assert body["withdrawal_reason"] == "Reported twice by mistake."
    withdrawn_at = parse_time(body["withdrawn_at"])
    assert abs(datetime.now(UTC) - withdrawn_at) < timedelta(minutes=5)
    assert body["revision"] == 1
    assert body["lines"] == created["lines"]
    assert body["narrative"] == "To be withdrawn."
    assert response.headers["ETag"] == f'"{sitrep_id}-1-withdrawn"'
    assert response.headers["ETag"] != created_response.headers["ETag"]

    read = hq.get(f"{SITREPS}/{sitrep_id}")
    assert read.json() == body
    assert read.headers["ETag"] == response.headers["ETag"]
    revisions = hq.get(f"{SITREPS}/{sitrep_id}/revisions").json()["items"]
    assert len(revisions) == 1
    assert revisions[0]["lines"] == created["lines"]
    assert revisions[0]["narrative"] == "To be withdrawn."
    assert ids(list_all(hq)) == [sitrep_id]


def test_withdraw_after_amendment_keeps_every_revision(field: Api) -> None:
    created = submit(field, sitrep())
    amended = amend(field, created["id"], sitrep(line(reached=5)), "*")
    response = withdraw(field, created["id"], if_match=amended.headers["ETag"])
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == f'"{created["id"]}-2-withdrawn"'
    assert response.json()["revision"] == 2
    revisions = field.get(f"{SITREPS}/{created['id']}/revisions").json()["items"]
    assert [r["lines"][0]["people_reached"] for r in revisions] == [100, 5]


def test_withdraw_without_if_match(field: Api) -> None:
    created = submit(field, sitrep())
    body = assert_problem(withdraw(field, created["id"], if_match=None), 428)
    assert "If-Match" in body["detail"]
    assert field.get(f"{SITREPS}/{created['id']}").json()["status"] == "submitted"


def test_withdraw_with_a_stale_etag(field: Api) -> None:
    created = submit_response(field, sitrep())
    sitrep_id = created.json()["id"]
    amended = amend(field, sitrep_id, sitrep(line(reached=5)), created.headers["ETag"])
    assert amended.status_code == 200
    body = assert_problem(withdraw(field, sitrep_id, if_match=created.headers["ETag"]), 412)
    assert body["current_etag"] == amended.headers["ETag"]
    assert field.get(f"{SITREPS}/{sitrep_id}").json()["status"] == "submitted"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        pytest.param(None, ["body"], id="no-body"),
        pytest.param({}, ["body", "reason"], id="no-reason"),
        pytest.param({"reason": ""}, ["body", "reason"], id="empty"),
        pytest.param({"reason": "   "}, ["body", "reason"], id="blank"),
        pytest.param({"reason": None}, ["body", "reason"], id="null"),
        pytest.param({"reason": "x" * 2001}, ["body", "reason"], id="too-long"),
        pytest.param({"reason": "dup", "force": True}, ["body", "force"], id="unknown-field"),
    ],
)
def test_withdraw_needs_a_reason(field: Api, body: Any, loc: list[str]) -> None:
    created = submit(field, sitrep())
    response = field.request(
        "DELETE", f"{SITREPS}/{created['id']}", json=body, headers={"If-Match": "*"}
    )
    error_at(response, loc)
    assert field.get(f"{SITREPS}/{created['id']}").json()["status"] == "submitted"


def test_withdraw_twice_is_a_conflict(field: Api) -> None:
    created = submit(field, sitrep())
    first = withdraw(field, created["id"], reason="first")
    assert first.status_code == 200
    body = assert_problem(
        withdraw(field, created["id"], reason="again", if_match=first.headers["ETag"]), 409
    )
    assert "withdrawn" in body["detail"]
    assert_problem(withdraw(field, created["id"], reason="again", if_match="*"), 409)
    read = field.get(f"{SITREPS}/{created['id']}").json()
    assert read["withdrawal_reason"] == "first"
    assert read["withdrawn_at"] == first.json()["withdrawn_at"]


def test_withdraw_unknown_sitrep(field: Api) -> None:
    assert_problem(withdraw(field, 4242), 404)


def test_withdrawal_reason_with_a_nul_character_is_not_a_server_error(field: Api) -> None:
    """BUG on PostgreSQL: like the narrative, a NUL in the reason is a 500."""
    created = submit(field, sitrep())
    response = withdraw(field, created["id"], reason="dup\u0000licate")
    assert response.status_code != 500, response.text


# --- who may change a sitrep -------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "scope", "status"),
    [
        # Another country's sitrep answers as a missing one (API.md).
        ("field", {"countries": ["TCD"]}, 404),
        ("hq", {}, 403),
        ("coordinator", {"clusters": ["shelter"]}, 403),
        ("coordinator", {"clusters": ["shelter"], "countries": ["SDN"]}, 403),
    ],
)
def test_who_may_not_amend_or_withdraw(
    api: ApiFactory, field: Api, role: str, scope: dict[str, list[str]], status: int
) -> None:
    created = submit_response(field, sitrep())
    sitrep_id = created.json()["id"]
    etag = created.headers["ETag"]
    outsider = api(role, **scope)
    assert_problem(amend(outsider, sitrep_id, sitrep(line(reached=5)), etag), status)
    assert_problem(withdraw(outsider, sitrep_id, if_match=etag), status)
    # Forbidden (or not found) comes before the precondition.
    assert_problem(outsider.put(f"{SITREPS}/{sitrep_id}", json=sitrep()), status)
    read = field.get(f"{SITREPS}/{sitrep_id}")
    assert read.json() == created.json()
    assert read.headers["ETag"] == etag


def test_another_officer_of_the_country_may_amend(api: ApiFactory, field: Api) -> None:
    created = submit(field, sitrep())
    colleague = api("field", countries=["TCD", "SDN"], name="colleague")
    response = amend(colleague, created["id"], sitrep(line(reached=5)), "*")
    assert response.status_code == 200, response.text
    assert response.json()["submitted_by"] == "colleague"


def test_admin_may_amend_and_withdraw_any_sitrep(api: ApiFactory) -> None:
    chad_officer = api("field", countries=["TCD"])
    admin = api("admin")
    created = submit(chad_officer, sitrep(line(admin1="TCD14"), country="TCD"))
    amended = amend(
        admin, created["id"], sitrep(line(admin1="TCD14", reached=7), country="TCD"), "*"
    )
    assert amended.status_code == 200, amended.text
    assert amended.json()["revision"] == 2
    withdrawn = withdraw(admin, created["id"], reason="merged", if_match=amended.headers["ETag"])
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "withdrawn"
    assert chad_officer.get(f"{SITREPS}/{created['id']}").json()["withdrawal_reason"] == "merged"


# --- concurrency -----------------------------------------------------------------------


def test_concurrent_submissions_for_one_slot_admit_exactly_one(field: Api, hq: Api) -> None:
    """The slot check runs under the write lock: racing submissions of the same slot end
    with one sitrep and conflicts naming it, never two live sitreps."""
    racers = 6
    barrier = threading.Barrier(racers)

    def race(n: int) -> Response:
        barrier.wait()
        return field.post(SITREPS, json=sitrep(line(reached=100 + n)))

    with ThreadPoolExecutor(max_workers=racers) as pool:
        responses = list(pool.map(race, range(racers)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (racers - 1), [r.text for r in responses]
    winner = next(r.json()["id"] for r in responses if r.status_code == 201)
    for response in responses:
        if response.status_code == 409:
            assert response.json()["conflicting_sitrep_id"] == winner
    assert ids(list_all(hq)) == [winner]


def test_concurrent_amendments_with_one_etag_admit_exactly_one(field: Api) -> None:
    created = submit_response(field, sitrep())
    sitrep_id = created.json()["id"]
    etag = created.headers["ETag"]
    racers = 6
    barrier = threading.Barrier(racers)

    def race(n: int) -> Response:
        barrier.wait()
        return amend(field, sitrep_id, sitrep(line(reached=200 + n)), etag)

    with ThreadPoolExecutor(max_workers=racers) as pool:
        responses = list(pool.map(race, range(racers)))
    assert sorted(r.status_code for r in responses) == [200] + [412] * (racers - 1)
    winner = next(r.json() for r in responses if r.status_code == 200)
    revisions = field.get(f"{SITREPS}/{sitrep_id}/revisions").json()["items"]
    assert [r["revision"] for r in revisions] == [1, 2]
    assert revisions[1]["lines"] == winner["lines"]


def test_a_sitrep_without_lines_is_refused(api) -> None:
    field = api("field", countries=["SDN"])
    body = assert_problem(field.post("/api/v1/sitreps", json={**sitrep(), "lines": []}), 422)
    assert body["errors"][0]["loc"] == ["body", "lines"]
    assert field.get("/api/v1/sitreps").json()["items"] == []
