"""Batch submission (issue 3, point 2), through HTTP.

POST /api/v1/sitreps/batch takes up to settings.max_sitreps_per_batch sitreps; each is
accepted or refused on its own, written whole or not at all, with one result per sitrep in
order; 422 problems point into the batch; the whole batch is idempotent.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest
from httpx import Response
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.config import get_settings
from app.db import new_session
from app.idempotency import service as idempotency
from app.idempotency.models import IdempotencyKey
from app.sitreps.models import Sitrep, SitrepLine, SitrepRevision
from tests.factories import Api, assert_problem, line, sitrep

ApiFactory = Callable[..., Api]

SITREPS = "/api/v1/sitreps"
BATCH = "/api/v1/sitreps/batch"
VALIDATION = "urn:crisis-tracker:problem:validation"
CONFLICT = "urn:crisis-tracker:problem:conflict"
FORBIDDEN = "urn:crisis-tracker:problem:forbidden"

SUDAN_ADMIN1 = [f"SD{n:02d}" for n in range(1, 20)]


# --- helpers ---------------------------------------------------------------------------


def distinct_sitreps(n: int) -> list[dict[str, Any]]:
    """n Sudan sitreps, each for a slot of its own."""
    slots = itertools.product(
        SUDAN_ADMIN1,
        ("shelter", "wash", "cccm", "cash", "health"),
        ("pcca", "prd", "hod"),
        ("preparedness", "response", "recovery"),
    )
    return [
        sitrep(line(sector, division=division, phase=phase, admin1=admin1, reached=i + 1))
        for i, (admin1, sector, division, phase) in zip(range(n), slots, strict=False)
    ]


def post_batch(client: Api, items: list[Any], **kwargs: Any) -> Response:
    return client.post(BATCH, json={"sitreps": items}, **kwargs)


def batch_ok(client: Api, items: list[Any], **kwargs: Any) -> dict[str, Any]:
    response = post_batch(client, items, **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"accepted", "refused", "results"}
    assert [r["index"] for r in body["results"]] == list(range(len(items)))
    for result in body["results"]:
        assert set(result) == {"index", "status", "sitrep", "problem"}
        if result["status"] == 201:
            assert result["sitrep"] is not None and result["problem"] is None
        else:
            assert result["sitrep"] is None
            problem = result["problem"]
            assert problem["status"] == result["status"]
            assert problem["type"] and problem["title"] and problem["detail"]
    statuses = [r["status"] for r in body["results"]]
    assert body["accepted"] == statuses.count(201)
    assert body["refused"] == len(statuses) - statuses.count(201)
    return body


def statuses(body: dict[str, Any]) -> list[int]:
    return [r["status"] for r in body["results"]]


def errors_of(result: dict[str, Any]) -> list[dict[str, Any]]:
    problem = result["problem"]
    assert result["status"] == 422 and problem["type"] == VALIDATION, result
    errors: list[dict[str, Any]] = problem["errors"]
    assert errors
    return errors


def locs(result: dict[str, Any]) -> list[list[Any]]:
    return [error["loc"] for error in errors_of(result)]


def count(model: Any, *where: Any) -> int:
    with new_session() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def listed_ids(client: Api) -> list[int]:
    response = client.get(SITREPS, params={"limit": 1000})
    assert response.status_code == 200, response.text
    return sorted(item["id"] for item in response.json()["items"])


# --- results ---------------------------------------------------------------------------


def test_every_sitrep_of_a_batch_is_accepted_in_order(field: Api, hq: Api) -> None:
    items = distinct_sitreps(3)
    body = batch_ok(field, items)
    assert statuses(body) == [201, 201, 201]
    assert body["accepted"] == 3 and body["refused"] == 0
    created = [r["sitrep"] for r in body["results"]]
    ids = [s["id"] for s in created]
    assert ids == sorted(ids) and len(set(ids)) == 3
    for item, result in zip(items, created, strict=True):
        assert result["country"] == "SDN"
        assert result["revision"] == 1 and result["status"] == "submitted"
        assert result["lines"][0]["admin1"] == item["lines"][0]["admin1"]
        assert result["lines"][0]["people_reached"] == item["lines"][0]["people_reached"]
        assert result["submitted_by"]
        # The result is the sitrep as a read returns it.
        read = hq.get(f"{SITREPS}/{result['id']}")
        assert read.status_code == 200
        assert read.json() == result
    assert listed_ids(hq) == ids


def test_an_item_with_one_bad_line_writes_none_of_its_lines(field: Api, hq: Api) -> None:
    good_line = line("wash", admin1="SD04", reached=50)
    items = [
        sitrep(line(admin1="SD01")),
        sitrep(good_line, line(admin1="SD99")),
        sitrep(line(admin1="SD02")),
    ]
    body = batch_ok(field, items)
    assert statuses(body) == [201, 422, 201]
    assert body["accepted"] == 2 and body["refused"] == 1
    assert locs(body["results"][1]) == [["body", "sitreps", 1, "lines", 1, "admin1"]]
    assert "SD99" in errors_of(body["results"][1])[0]["msg"]

    assert count(Sitrep) == 2
    assert count(SitrepLine) == 2
    assert count(SitrepLine, SitrepLine.sector == "wash") == 0
    # The refused item's good line holds no slot: submitting it now is accepted.
    alone = field.post(SITREPS, json=sitrep(good_line))
    assert alone.status_code == 201, alone.text


def test_a_refused_item_does_not_stop_the_ones_after_it(field: Api) -> None:
    items = [sitrep(line(admin1="SD99")), *distinct_sitreps(3)]
    body = batch_ok(field, items)
    assert statuses(body) == [422, 201, 201, 201]
    assert count(Sitrep) == 3


def test_two_items_for_the_same_slot_the_second_is_a_conflict(field: Api) -> None:
    items = [sitrep(narrative="first"), sitrep(narrative="second"), sitrep(line(admin1="SD02"))]
    body = batch_ok(field, items)
    assert statuses(body) == [201, 409, 201]
    first_id = body["results"][0]["sitrep"]["id"]
    problem = body["results"][1]["problem"]
    assert problem["type"] == CONFLICT
    assert problem["conflicting_sitrep_id"] == first_id
    assert f"Sitrep {first_id}" in problem["detail"]
    assert problem["slot"]["admin1"] == "SD01" and problem["slot"]["sector"] == "shelter"
    assert count(Sitrep) == 2


def test_two_items_with_overlapping_periods_conflict(field: Api) -> None:
    items = [
        sitrep(start="2024-03-01", end="2024-03-31"),
        sitrep(start="2024-03-31", end="2024-04-30"),
        sitrep(start="2024-04-01", end="2024-04-30"),
    ]
    body = batch_ok(field, items)
    # The third overlaps only the refused second, so it goes in.
    assert statuses(body) == [201, 409, 201]


def test_an_item_conflicting_with_an_existing_sitrep(field: Api) -> None:
    existing = field.post(SITREPS, json=sitrep())
    assert existing.status_code == 201
    body = batch_ok(field, [sitrep(line(admin1="SD02")), sitrep()])
    assert statuses(body) == [201, 409]
    assert body["results"][1]["problem"]["conflicting_sitrep_id"] == existing.json()["id"]


def test_a_refused_item_holds_no_slot_within_the_batch(field: Api) -> None:
    """The slot of an item refused for another reason is free for a later item."""
    items = [sitrep(line(admin1="SD01"), line(admin1="SD99")), sitrep(line(admin1="SD01"))]
    body = batch_ok(field, items)
    assert statuses(body) == [422, 201]


# --- what a refusal says ---------------------------------------------------------------


@pytest.mark.parametrize("item", [42, "sitrep", None, [], True, 1.5])
def test_an_item_that_is_not_an_object(field: Api, item: Any) -> None:
    body = batch_ok(field, [sitrep(), item])
    assert statuses(body) == [201, 422]
    assert locs(body["results"][1]) == [["body", "sitreps", 1]]
    assert count(Sitrep) == 1


def test_several_items_that_are_not_objects(field: Api) -> None:
    body = batch_ok(field, [1, sitrep(), "x", None])
    assert statuses(body) == [422, 201, 422, 422]
    assert locs(body["results"][0]) == [["body", "sitreps", 0]]
    assert locs(body["results"][2]) == [["body", "sitreps", 2]]
    assert locs(body["results"][3]) == [["body", "sitreps", 3]]


def _without(body: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != name}


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (_without(sitrep(), "lines"), ["body", "sitreps", 2, "lines"]),
        (_without(sitrep(), "country"), ["body", "sitreps", 2, "country"]),
        ({**sitrep(), "id": 5}, ["body", "sitreps", 2, "id"]),
        ({**sitrep(), "status": "submitted"}, ["body", "sitreps", 2, "status"]),
        (sitrep(line(reached="many")), ["body", "sitreps", 2, "lines", 0, "people_reached"]),
        (sitrep(line(reached=-1)), ["body", "sitreps", 2, "lines", 0, "people_reached"]),
        (sitrep(line(sector="food")), ["body", "sitreps", 2, "lines", 0, "sector"]),
        ({**sitrep(), "period_start": "March"}, ["body", "sitreps", 2, "period_start"]),
        ({**sitrep(), "crisis_id": 999_999}, ["body", "sitreps", 2, "crisis_id"]),
        ({**sitrep(), "country": "XYZ"}, ["body", "sitreps", 2, "country"]),
        (sitrep(end="2024-02-01"), ["body", "sitreps", 2, "period_end"]),
        (
            sitrep(line(reached=10, new=20)),
            ["body", "sitreps", 2, "lines", 0, "people_reached_new"],
        ),
        (
            sitrep(line(indicators={"latrines": 3})),
            ["body", "sitreps", 2, "lines", 0, "indicators", "latrines"],
        ),
        (sitrep(narrative="a\x00b"), ["body", "sitreps", 2, "narrative"]),
    ],
    ids=[
        "missing-lines",
        "missing-country",
        "server-owned-id",
        "server-owned-status",
        "not-a-number",
        "negative",
        "unknown-sector",
        "bad-date",
        "unknown-crisis",
        "unknown-country",
        "period-backwards",
        "new-above-reached",
        "indicator-of-another-sector",
        "nul",
    ],
)
def test_422_locs_point_into_the_batch(field: Api, item: Any, expected: list[Any]) -> None:
    items = [*distinct_sitreps(2), item, *distinct_sitreps(4)[3:]]
    body = batch_ok(field, items)
    assert statuses(body) == [201, 201, 422, 201]
    assert expected in locs(body["results"][2]), locs(body["results"][2])
    for error in errors_of(body["results"][2]):
        assert error["loc"][:3] == ["body", "sitreps", 2]
        assert error["msg"]
    assert count(Sitrep) == 3


def test_every_problem_of_an_item_is_reported_at_once(field: Api) -> None:
    bad = sitrep(
        line(admin1="SD99"),
        line("wash", admin1="SD02", reached=10, new=11),
        end="2024-02-01",
    )
    body = batch_ok(field, [sitrep(), bad])
    assert sorted(map(str, locs(body["results"][1]))) == sorted(
        map(
            str,
            [
                ["body", "sitreps", 1, "period_end"],
                ["body", "sitreps", 1, "lines", 0, "admin1"],
                ["body", "sitreps", 1, "lines", 1, "people_reached_new"],
            ],
        )
    )


def test_every_schema_problem_of_an_item_is_reported_at_once(field: Api) -> None:
    bad = {**sitrep(line(reached="x", sector="food")), "bogus": 1}
    body = batch_ok(field, [bad])
    assert sorted(map(str, locs(body["results"][0]))) == sorted(
        map(
            str,
            [
                ["body", "sitreps", 0, "bogus"],
                ["body", "sitreps", 0, "lines", 0, "sector"],
                ["body", "sitreps", 0, "lines", 0, "people_reached"],
            ],
        )
    )


def test_an_item_outside_the_officers_countries_is_a_403(field: Api) -> None:
    body = batch_ok(field, [sitrep(line(admin1=None), country="TCD"), sitrep()])
    assert statuses(body) == [403, 201]
    problem = body["results"][0]["problem"]
    assert problem["type"] == FORBIDDEN and "TCD" in problem["detail"]
    assert count(Sitrep) == 1


def test_an_admin_may_batch_several_countries(admin: Api) -> None:
    items = [
        sitrep(line(admin1=None), country="TCD"),
        sitrep(),
        sitrep(line(admin1=None), country="SSD"),
    ]
    body = batch_ok(admin, items)
    assert statuses(body) == [201, 201, 201]
    assert [r["sitrep"]["country"] for r in body["results"]] == ["TCD", "SDN", "SSD"]


# --- the request as a whole ------------------------------------------------------------


def test_the_default_limit_is_500(field: Api) -> None:
    assert get_settings().max_sitreps_per_batch == 500
    items = distinct_sitreps(500)
    body = batch_ok(field, items)
    assert body["accepted"] == 500 and body["refused"] == 0
    assert count(Sitrep) == 500


def test_over_the_default_limit_is_a_422_for_the_whole_batch(field: Api) -> None:
    response = post_batch(field, distinct_sitreps(501))
    problem = assert_problem(response, 422)
    assert problem["type"] == VALIDATION
    assert [e["loc"] for e in problem["errors"]] == [["body", "sitreps"]]
    assert "500" in problem["errors"][0]["msg"]
    assert count(Sitrep) == 0


def test_the_limit_is_configurable(field: Api, settings_env: Callable[..., None]) -> None:
    settings_env(max_sitreps_per_batch="3")
    problem = assert_problem(post_batch(field, distinct_sitreps(4)), 422)
    assert [e["loc"] for e in problem["errors"]] == [["body", "sitreps"]]
    assert "at most 3" in problem["errors"][0]["msg"]
    assert count(Sitrep) == 0
    assert batch_ok(field, distinct_sitreps(3))["accepted"] == 3


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"sitreps": []}, ["body", "sitreps"]),
        ({}, ["body", "sitreps"]),
        ({"sitreps": {"country": "SDN"}}, ["body", "sitreps"]),
        ({"sitreps": [sitrep()], "dry_run": True}, ["body", "dry_run"]),
        ([sitrep()], ["body"]),
    ],
    ids=["empty", "missing", "not-a-list", "unknown-field", "a-bare-list"],
)
def test_a_malformed_batch_is_a_422(field: Api, body: Any, loc: list[Any]) -> None:
    problem = assert_problem(field.post(BATCH, json=body), 422)
    assert loc in [e["loc"] for e in problem["errors"]], problem
    assert count(Sitrep) == 0


def test_a_batch_that_is_not_json(field: Api) -> None:
    response = field.post(
        BATCH, content=b'{"sitreps": [', headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 422)
    assert count(Sitrep) == 0


@pytest.mark.parametrize("role", ["hq", "coordinator"])
def test_who_may_not_batch(api: ApiFactory, role: str) -> None:
    scope = {"clusters": ["shelter"]} if role == "coordinator" else {}
    problem = assert_problem(post_batch(api(role, **scope), [sitrep()]), 403)
    assert problem["type"] == FORBIDDEN
    assert count(Sitrep) == 0


def test_a_batch_needs_a_token(client: Any) -> None:
    assert_problem(client.post(BATCH, json={"sitreps": [sitrep()]}), 401)
    assert count(Sitrep) == 0


def test_a_batch_leaves_one_audit_event_per_accepted_sitrep(field: Api, hq: Api) -> None:
    body = batch_ok(
        field, [sitrep(), sitrep(), sitrep(line(admin1="SD99")), sitrep(line(admin1="SD02"))]
    )
    assert statuses(body) == [201, 409, 422, 201]
    accepted = sorted(r["sitrep"]["id"] for r in body["results"] if r["status"] == 201)
    with new_session() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "sitrep.submit")
        ).all()
    assert sorted(e.entity_id for e in events) == accepted  # type: ignore[type-var]
    assert count(SitrepRevision) == 2


def test_a_batchs_lines_reach_the_feed_and_totals_exactly_once(field: Api, hq: Api) -> None:
    items = [
        sitrep(line(admin1="SD01", reached=100)),
        sitrep(line(admin1="SD01", reached=900)),  # conflict, refused
        sitrep(line(admin1="SD02", reached=10), line(admin1="SD99", reached=5000)),  # refused
        sitrep(line(admin1="SD03", reached=20)),
    ]
    assert statuses(batch_ok(field, items)) == [201, 409, 422, 201]
    totals = hq.get("/api/v1/totals", params={"country": "SDN"})
    assert totals.status_code == 200, totals.text
    assert [(r["people_reached"], r["lines"]) for r in totals.json()["rows"]] == [(120, 2)]
    feed = hq.get("/api/v1/clusters/shelter/feed")
    assert feed.status_code == 200, feed.text
    assert sorted(i["people_reached"] for i in feed.json()["items"]) == [20, 100]


# --- the batch is idempotent as a whole ------------------------------------------------


def test_a_retried_batch_is_answered_from_the_first(field: Api) -> None:
    items = [sitrep(), sitrep(), sitrep(line(admin1="SD02"))]
    first = post_batch(field, items, headers={"Idempotency-Key": "backlog-1"})
    assert first.status_code == 200, first.text
    assert statuses(first.json()) == [201, 409, 201]
    retry = post_batch(field, items, headers={"Idempotency-Key": "backlog-1"})
    assert retry.status_code == 200
    assert retry.content == first.content
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert count(Sitrep) == 2

    # Without the key, the same batch runs again, and now every item is a conflict.
    again = batch_ok(field, items)
    assert statuses(again) == [409, 409, 409]
    assert count(Sitrep) == 2


def test_a_batch_key_reused_with_other_sitreps_is_a_422(field: Api) -> None:
    first = post_batch(field, [sitrep()], headers={"Idempotency-Key": "b"})
    assert first.status_code == 200
    other = post_batch(field, [sitrep(line(admin1="SD02"))], headers={"Idempotency-Key": "b"})
    problem = assert_problem(other, 422)
    assert problem["type"] == "urn:crisis-tracker:problem:idempotency-key-reused"
    assert count(Sitrep) == 1


def test_a_batch_refused_as_a_whole_keeps_no_key(field: Api) -> None:
    me = field.get("/api/v1/me").json()["id"]
    refused = post_batch(field, distinct_sitreps(501), headers={"Idempotency-Key": "big"})
    assert_problem(refused, 422)
    with new_session() as session:
        assert session.get(IdempotencyKey, (me, "big")) is None
    smaller = post_batch(field, distinct_sitreps(2), headers={"Idempotency-Key": "big"})
    assert smaller.status_code == 200, smaller.text
    assert smaller.json()["accepted"] == 2


def test_a_batch_in_flight_is_a_409(field: Api) -> None:
    me = field.get("/api/v1/me").json()["id"]
    content = json.dumps({"sitreps": [sitrep()]}).encode()
    idempotency.claim(
        user_id=me, key="busy", fingerprint=idempotency.fingerprint("POST", BATCH, content)
    )
    response = field.post(
        BATCH,
        content=content,
        headers={"Content-Type": "application/json", "Idempotency-Key": "busy"},
    )
    problem = assert_problem(response, 409)
    assert problem["type"] == "urn:crisis-tracker:problem:idempotency-key-in-use"
    assert count(Sitrep) == 0
