"""The audit trail (issue 3, point 4), through HTTP.

Every write is recorded, in its own transaction, with who, when, what (before and after)
and the request id the response carried; GET /api/v1/audit lists the trail newest first,
for hq and admin, filtered and keyset-paginated; refused writes leave nothing; nothing in
the API changes the trail.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import Response
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from app.audit.models import AuditEvent
from app.auth.service import hash_token
from app.cli import app as cli
from app.db import new_session
from app.pagination import encode_cursor
from tests.factories import Api, assert_problem, line, make_user, sitrep

ApiFactory = Callable[..., Api]

AUDIT = "/api/v1/audit"
SITREPS = "/api/v1/sitreps"
CRISES = "/api/v1/crises"
COMMAND_LINE = "command line"
EVENT_FIELDS = {
    "id",
    "occurred_at",
    "actor",
    "action",
    "entity_type",
    "entity_id",
    "request_id",
    "before",
    "after",
}

runner = CliRunner()


# --- helpers ---------------------------------------------------------------------------


# The audit trail names its actors: this module's officer and reader have names of their
# own (tests/conftest.py's field and hq have generated ones).
@pytest.fixture
def field(api: ApiFactory) -> Api:
    return api("field", countries=["SDN"], name="amina")


@pytest.fixture
def hq(api: ApiFactory) -> Api:
    return api("hq", name="hq-reader")


def events(reader: Api, **params: Any) -> list[dict[str, Any]]:
    """Every event the filters select, following next_cursor to the end."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = reader.get(AUDIT, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        for item in body["items"]:
            assert set(item) == EVENT_FIELDS, item
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def of_action(items: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [item for item in items if item["action"] == action]


def the_event(reader: Api, **params: Any) -> dict[str, Any]:
    found = events(reader, **params)
    assert len(found) == 1, found
    return found[0]


def audit_count() -> int:
    with new_session() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def created(response: Response, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None, value
    return parsed


def set_occurred_at(event_id: int, when: datetime) -> None:
    with new_session(writes=True) as session:
        session.execute(
            update(AuditEvent).where(AuditEvent.id == event_id).values(occurred_at=when)
        )
        session.commit()


def create_crisis(hq: Api, **overrides: Any) -> Response:
    body = {
        "name": "Sudan war",
        "kind": "conflict",
        "countries": ["SDN", "TCD"],
        "started_on": "2023-04-15",
        **overrides,
    }
    return hq.post(CRISES, json=body)


# --- what is recorded ------------------------------------------------------------------


def test_a_submission_is_recorded_with_who_what_and_the_request_id(field: Api, hq: Api) -> None:
    before = datetime.now(UTC)
    response = field.post(SITREPS, json=sitrep(line(reached=120, new=20)))
    report = created(response)
    event = the_event(hq, action="sitrep.submit")
    assert event["actor"] == "amina"
    assert event["entity_type"] == "sitrep" and event["entity_id"] == report["id"]
    assert event["request_id"] == response.headers["X-Request-ID"]
    assert before - timedelta(seconds=1) <= parse_time(event["occurred_at"])
    assert parse_time(event["occurred_at"]) <= datetime.now(UTC) + timedelta(seconds=1)
    assert event["before"] is None
    after = event["after"]
    assert after["revision"] == 1 and after["country"] == "SDN"
    assert after["period_start"] == "2024-03-01" and after["period_end"] == "2024-03-31"
    assert after["narrative"] == "Displacement continued."
    [recorded] = after["lines"]
    [line_read] = report["lines"]
    assert recorded["id"] == line_read["id"]
    assert recorded["people_reached"] == 120 and recorded["people_reached_new"] == 20
    assert recorded["sector"] == "shelter" and recorded["admin1"] == "SD01"


def test_an_amendment_records_the_previous_and_the_new_revision(field: Api, hq: Api) -> None:
    first = field.post(SITREPS, json=sitrep(line(reached=100), line("wash", reached=40)))
    report = created(first)
    response = field.put(
        f"{SITREPS}/{report['id']}",
        json=sitrep(line(reached=250), narrative="Revised after verification."),
        headers={"If-Match": first.headers["ETag"]},
    )
    created(response, 200)
    event = the_event(hq, action="sitrep.amend")
    assert event["actor"] == "amina"
    assert event["entity_type"] == "sitrep" and event["entity_id"] == report["id"]
    assert event["request_id"] == response.headers["X-Request-ID"]
    before, after = event["before"], event["after"]
    assert before["revision"] == 1 and after["revision"] == 2
    assert before["narrative"] == "Displacement continued."
    assert after["narrative"] == "Revised after verification."
    assert [(ln["sector"], ln["people_reached"]) for ln in before["lines"]] == [
        ("shelter", 100),
        ("wash", 40),
    ]
    assert [(ln["sector"], ln["people_reached"]) for ln in after["lines"]] == [("shelter", 250)]
    # The kept line keeps its id from one revision to the next.
    assert after["lines"][0]["id"] == before["lines"][0]["id"]
    # "before" is what revision 1 said, exactly as the revisions list shows it.
    revisions = field.get(f"{SITREPS}/{report['id']}/revisions").json()["items"]
    assert before["lines"] == [{k: v for k, v in ln.items()} for ln in revisions[0]["lines"]]
    assert after["lines"] == revisions[1]["lines"]


def test_a_withdrawal_is_recorded_with_its_reason(field: Api, hq: Api) -> None:
    report = created(field.post(SITREPS, json=sitrep()))
    response = field.request(
        "DELETE",
        f"{SITREPS}/{report['id']}",
        json={"reason": "entered twice"},
        headers={"If-Match": "*"},
    )
    created(response, 200)
    event = the_event(hq, action="sitrep.withdraw")
    assert event["actor"] == "amina"
    assert event["entity_type"] == "sitrep" and event["entity_id"] == report["id"]
    assert event["request_id"] == response.headers["X-Request-ID"]
    assert event["before"] == {"status": "submitted", "revision": 1}
    assert event["after"] == {"status": "withdrawn", "revision": 1, "reason": "entered twice"}


def test_a_crisis_creation_is_recorded(hq: Api) -> None:
    response = create_crisis(hq, glide="CE-2023-000042-SDN", scale_up=True)
    crisis = created(response)
    event = the_event(hq, action="crisis.create")
    assert event["actor"] == "hq-reader"
    assert event["entity_type"] == "crisis" and event["entity_id"] == crisis["id"]
    assert event["request_id"] == response.headers["X-Request-ID"]
    assert event["before"] is None
    assert event["after"] == crisis


def test_user_and_token_changes_from_the_command_line_are_recorded(client: Any, hq: Api) -> None:
    result = runner.invoke(cli, ["users", "create", "omar", "--role", "field", "--country", "TCD"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    omar = Api(client, token).get("/api/v1/me").json()

    user_event = the_event(hq, action="user.create", entity_id=omar["id"])
    assert user_event["actor"] == COMMAND_LINE
    assert user_event["entity_type"] == "user"
    assert user_event["request_id"] is None
    assert user_event["before"] is None
    assert user_event["after"] == {
        "name": "omar",
        "role": "field",
        "countries": ["TCD"],
        "clusters": [],
    }

    token_events = [e for e in events(hq, action="token.issue") if e["after"] == {"user": "omar"}]
    assert len(token_events) == 1
    issued = token_events[0]
    assert issued["actor"] == COMMAND_LINE and issued["entity_type"] == "token"
    assert isinstance(issued["entity_id"], int)

    assert runner.invoke(cli, ["users", "token", "omar"]).exit_code == 0
    assert runner.invoke(cli, ["users", "revoke", "omar"]).exit_code == 0
    tokens = [e for e in events(hq, action="token.issue") if e["after"] == {"user": "omar"}]
    assert len(tokens) == 2
    revoked = the_event(hq, action="token.revoke", entity_id=omar["id"])
    assert revoked["actor"] == COMMAND_LINE and revoked["entity_type"] == "user"
    assert revoked["before"] == {"live_tokens": sorted(e["entity_id"] for e in tokens)}
    assert revoked["after"] == {"live_tokens": []}
    # Newest first: the revocation after the two issues.
    trail = [
        e["action"]
        for e in events(hq)
        if e["entity_id"] == omar["id"] or e["after"] == {"user": "omar"}
    ]
    assert trail[0] == "token.revoke"


def test_no_event_carries_a_token_or_its_hash(hq: Api) -> None:
    token = make_user("admin", name="root")
    admin = Api(hq.client, token)
    created(create_crisis(admin))
    everything = admin.get(AUDIT, params={"limit": 1000}).text
    assert token not in everything
    assert hash_token(token) not in everything
    assert hash_token(hq.token) not in everything and hq.token not in everything


def test_the_trail_is_newest_first_across_kinds_of_write(field: Api, hq: Api) -> None:
    crisis = created(create_crisis(hq))
    first = field.post(SITREPS, json=sitrep(crisis_id=crisis["id"]))
    report = created(first)
    created(
        field.put(
            f"{SITREPS}/{report['id']}",
            json=sitrep(line(reached=7), crisis_id=crisis["id"]),
            headers={"If-Match": first.headers["ETag"]},
        ),
        200,
    )
    created(
        field.request(
            "DELETE", f"{SITREPS}/{report['id']}", json={"reason": "x"}, headers={"If-Match": "*"}
        ),
        200,
    )
    trail = events(hq)
    ids = [e["id"] for e in trail]
    assert ids == sorted(ids, reverse=True)
    times = [parse_time(e["occurred_at"]) for e in trail]
    assert times == sorted(times, reverse=True)
    assert [e["action"] for e in trail[:4]] == [
        "sitrep.withdraw",
        "sitrep.amend",
        "sitrep.submit",
        "crisis.create",
    ]
    # Before them, the two users and their tokens, made by the test harness.
    assert sorted(e["action"] for e in trail[4:]) == [
        "token.issue",
        "token.issue",
        "user.create",
        "user.create",
    ]


# --- request ids -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "offered", ["field-app.42:retry-1", "550e8400-e29b-41d4-a716-446655440000", "A" * 128]
)
def test_a_sensible_client_request_id_is_kept_and_echoed(field: Api, hq: Api, offered: str) -> None:
    response = field.post(SITREPS, json=sitrep(), headers={"X-Request-ID": offered})
    created(response)
    assert response.headers["X-Request-ID"] == offered
    assert the_event(hq, action="sitrep.submit")["request_id"] == offered
    assert the_event(hq, request_id=offered)["action"] == "sitrep.submit"


@pytest.mark.parametrize(
    "offered",
    ["has space", "A" * 129, "<script>", "id;drop", "é".encode(), "a/b", ""],
    ids=["space", "129-chars", "markup", "semicolon", "non-ascii", "slash", "empty"],
)
def test_a_malformed_client_request_id_is_replaced(
    field: Api, hq: Api, offered: str | bytes
) -> None:
    response = field.post(
        SITREPS,
        json=sitrep(),
        headers={"X-Request-ID": offered},  # type: ignore[dict-item]
    )
    created(response)
    given = response.headers["X-Request-ID"]
    assert given != (offered.decode("latin-1") if isinstance(offered, bytes) else offered)
    assert re.fullmatch(r"[0-9a-f]{32}", given), given
    assert the_event(hq, action="sitrep.submit")["request_id"] == given


def test_every_response_carries_a_fresh_request_id(field: Api, hq: Api, client: Any) -> None:
    seen = {
        field.post(SITREPS, json=sitrep()).headers["X-Request-ID"],
        field.get(SITREPS).headers["X-Request-ID"],
        client.get("/healthz").headers["X-Request-ID"],
        client.get(AUDIT).headers["X-Request-ID"],  # a 401
        field.post(SITREPS, json=sitrep()).headers["X-Request-ID"],  # a 409
    }
    assert len(seen) == 5


def test_every_event_of_one_request_shares_its_request_id(field: Api, hq: Api) -> None:
    response = field.post(
        "/api/v1/sitreps/batch",
        json={"sitreps": [sitrep(line(admin1=a)) for a in ("SD01", "SD02", "SD03")]},
        headers={"X-Request-ID": "backlog-upload-7"},
    )
    assert response.status_code == 200, response.text
    recorded = events(hq, request_id="backlog-upload-7")
    assert [e["action"] for e in recorded] == ["sitrep.submit"] * 3
    assert sorted(e["entity_id"] for e in recorded) == sorted(
        r["sitrep"]["id"] for r in response.json()["results"]
    )


# --- filters and pages -----------------------------------------------------------------


@pytest.fixture
def history(api: ApiFactory, field: Api, hq: Api) -> dict[str, Any]:
    """A crisis by hq; two sitreps by amina, the first amended; one by a second officer."""
    other = api("field", countries=["SDN"], name="bashir")
    crisis = created(create_crisis(hq))
    first = field.post(SITREPS, json=sitrep(line(admin1="SD01")))
    a = created(first)
    b = created(field.post(SITREPS, json=sitrep(line(admin1="SD02"))))
    amend = field.put(
        f"{SITREPS}/{a['id']}",
        json=sitrep(line(admin1="SD01", reached=300)),
        headers={"If-Match": first.headers["ETag"], "X-Request-ID": "amend-a"},
    )
    created(amend, 200)
    c = created(other.post(SITREPS, json=sitrep(line(admin1="SD03"))))
    return {"crisis": crisis, "a": a, "b": b, "c": c}


def test_filter_by_entity(hq: Api, history: dict[str, Any]) -> None:
    a = history["a"]["id"]
    found = events(hq, entity_type="sitrep", entity_id=a)
    assert [e["action"] for e in found] == ["sitrep.amend", "sitrep.submit"]
    assert all(e["entity_id"] == a and e["entity_type"] == "sitrep" for e in found)
    crises = events(hq, entity_type="crisis")
    assert [(e["action"], e["entity_id"]) for e in crises] == [
        ("crisis.create", history["crisis"]["id"])
    ]
    sitreps = events(hq, entity_type="sitrep")
    assert len(sitreps) == 4
    assert {e["entity_type"] for e in events(hq, entity_type="user")} == {"user"}


def test_filter_by_actor(hq: Api, history: dict[str, Any]) -> None:
    amina = events(hq, actor="amina")
    assert [e["action"] for e in amina] == ["sitrep.amend", "sitrep.submit", "sitrep.submit"]
    assert {e["entity_id"] for e in amina} == {history["a"]["id"], history["b"]["id"]}
    bashir = events(hq, actor="bashir")
    assert [(e["action"], e["entity_id"]) for e in bashir] == [
        ("sitrep.submit", history["c"]["id"])
    ]
    assert events(hq, actor="nobody") == []
    assert {e["action"] for e in events(hq, actor=COMMAND_LINE)} == {"user.create", "token.issue"}


def test_filter_by_action(hq: Api, history: dict[str, Any]) -> None:
    submits = events(hq, action="sitrep.submit")
    assert [e["entity_id"] for e in submits] == [
        history["c"]["id"],
        history["b"]["id"],
        history["a"]["id"],
    ]
    assert events(hq, action="sitrep.withdraw") == []
    assert events(hq, action="no.such.action") == []


def test_filter_by_request_id(hq: Api, history: dict[str, Any]) -> None:
    event = the_event(hq, request_id="amend-a")
    assert event["action"] == "sitrep.amend" and event["entity_id"] == history["a"]["id"]
    assert events(hq, request_id="never-sent") == []


def test_filters_combine(hq: Api, history: dict[str, Any]) -> None:
    found = events(hq, actor="amina", action="sitrep.submit", entity_id=history["b"]["id"])
    assert [e["entity_id"] for e in found] == [history["b"]["id"]]
    assert events(hq, actor="bashir", entity_id=history["a"]["id"]) == []


def test_filter_by_time(hq: Api, history: dict[str, Any]) -> None:
    submits = sorted(events(hq, action="sitrep.submit"), key=lambda e: e["id"])
    jan, feb, mar = (datetime(2024, m, 1, 12, 0, tzinfo=UTC) for m in (1, 2, 3))
    for event, when in zip(submits, (jan, feb, mar), strict=True):
        set_occurred_at(event["id"], when)
    a, b, c = (e["id"] for e in submits)

    def ids(**params: Any) -> list[int]:
        return [e["id"] for e in events(hq, action="sitrep.submit", **params)]

    # since is inclusive, until exclusive.
    assert ids(since=feb.isoformat()) == [c, b]
    assert ids(until=feb.isoformat()) == [a]
    assert ids(since=jan.isoformat(), until=mar.isoformat()) == [b, a]
    assert ids(since=(feb + timedelta(microseconds=1)).isoformat()) == [c]
    assert ids(until=(feb + timedelta(microseconds=1)).isoformat()) == [b, a]
    # The same instants written with another offset, or with Z.
    plus_two = feb.astimezone(datetime.fromisoformat("2024-01-01T00:00+02:00").tzinfo)
    assert plus_two.isoformat().endswith("+02:00")
    assert ids(since=plus_two.isoformat()) == [c, b]
    assert ids(until=plus_two.isoformat()) == [a]
    assert ids(since="2024-02-01T12:00:00Z") == [c, b]
    assert ids(since="2024-02-01T07:00:00-05:00", until="2024-03-01T07:00:00-05:00") == [b]
    # The times come back as they were set, timezone-aware.
    recorded = {e["id"]: parse_time(e["occurred_at"]) for e in events(hq)}
    assert recorded[b] == feb


@pytest.mark.parametrize("name", ["since", "until"])
@pytest.mark.parametrize("value", ["2024-02-01T12:00:00", "2024-02-01", "yesterday"])
def test_a_time_without_an_offset_is_a_422(hq: Api, name: str, value: str) -> None:
    problem = assert_problem(hq.get(AUDIT, params={name: value}), 422)
    assert [e["loc"] for e in problem["errors"]] == [["query", name]]


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"entity_type": "planet"}, ["query", "entity_type"]),
        ({"entity_id": "x"}, ["query", "entity_id"]),
        ({"entity_id": "0"}, ["query", "entity_id"]),
        ({"entity_id": str(2**31)}, ["query", "entity_id"]),
        ({"actor": "x" * 101}, ["query", "actor"]),
        ({"action": "x" * 41}, ["query", "action"]),
        ({"request_id": "x" * 129}, ["query", "request_id"]),
        ({"actor": "a\x00b"}, ["query", "actor"]),
        ({"action": "sitrep.\x00"}, ["query", "action"]),
        ({"request_id": "\x00"}, ["query", "request_id"]),
        ({"since": "0001-01-01T00:00:00+14:00"}, ["query", "since"]),
        ({"until": "9999-12-31T23:59:59-14:00"}, ["query", "until"]),
        ({"limit": "0"}, ["query", "limit"]),
        ({"limit": "1001"}, ["query", "limit"]),
    ],
)
def test_bad_filters_are_422(hq: Api, params: dict[str, str], loc: list[str]) -> None:
    problem = assert_problem(hq.get(AUDIT, params=params), 422)
    assert loc in [e["loc"] for e in problem["errors"]], problem


def test_keyset_pagination(hq: Api, history: dict[str, Any]) -> None:
    everything = events(hq)
    assert len(everything) == 11  # 3 users + 3 tokens, a crisis, 3 submissions, an amendment
    pages: list[list[int]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        body = hq.get(AUDIT, params=params).json()
        pages.append([e["id"] for e in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [5, 5, 1]
    assert [i for page in pages for i in page] == [e["id"] for e in everything]
    # A page ending exactly on the last event says so.
    last = hq.get(AUDIT, params={"limit": 11}).json()
    assert len(last["items"]) == 11 and last["next_cursor"] is None
    # Events written after a cursor was handed out do not shift the pages after it.
    first = hq.get(AUDIT, params={"limit": 5}).json()
    created(create_crisis(hq, name="Chad floods", countries=["TCD"]))
    second = hq.get(AUDIT, params={"limit": 5, "cursor": first["next_cursor"]}).json()
    assert [e["id"] for e in second["items"]] == pages[1]


def test_pagination_with_filters(hq: Api, history: dict[str, Any]) -> None:
    page = hq.get(AUDIT, params={"actor": "amina", "limit": 2}).json()
    assert [e["action"] for e in page["items"]] == ["sitrep.amend", "sitrep.submit"]
    rest = hq.get(
        AUDIT, params={"actor": "amina", "limit": 2, "cursor": page["next_cursor"]}
    ).json()
    assert [e["entity_id"] for e in rest["items"]] == [history["a"]["id"]]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(
    "cursor",
    ["garbage", "", encode_cursor("sitreps", [5]), encode_cursor("audit", [1, 2]), "%%%"],
    ids=["garbage", "empty", "other-list", "wrong-arity", "not-base64"],
)
def test_a_malformed_cursor_is_a_400(hq: Api, cursor: str) -> None:
    response = hq.get(AUDIT, params={"cursor": cursor})
    if cursor == "":
        # An empty cursor is no cursor at all, or a malformed one; never a 500.
        assert response.status_code in (200, 400), response.text
        return
    problem = assert_problem(response, 400)
    assert problem["type"] == "urn:crisis-tracker:problem:malformed-cursor"


# --- who may read ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "scope"),
    [("hq", {}), ("admin", {})],
)
def test_hq_and_admin_read_the_trail(api: ApiFactory, role: str, scope: dict[str, Any]) -> None:
    reader = api(role, **scope)
    response = reader.get(AUDIT)
    assert response.status_code == 200, response.text
    assert {e["action"] for e in response.json()["items"]} == {"user.create", "token.issue"}


@pytest.mark.parametrize(
    ("role", "scope"),
    [
        ("field", {"countries": ["SDN"]}),
        ("coordinator", {"clusters": ["shelter"]}),
        ("coordinator", {"clusters": ["wash"], "countries": ["SDN"]}),
    ],
)
def test_others_may_not_read_the_trail(api: ApiFactory, role: str, scope: dict[str, Any]) -> None:
    reader = api(role, **scope)
    created(api("field", countries=["SDN"]).post(SITREPS, json=sitrep()))
    for params in ({}, {"entity_type": "sitrep"}, {"actor": reader_name(reader)}):
        problem = assert_problem(reader.get(AUDIT, params=params), 403)
        assert problem["type"] == "urn:crisis-tracker:problem:forbidden"
        assert "sitrep" not in problem["detail"]


def reader_name(reader: Api) -> str:
    return str(reader.get("/api/v1/me").json()["name"])


def test_the_trail_needs_a_token(client: Any) -> None:
    assert_problem(client.get(AUDIT), 401)
    assert_problem(client.get(AUDIT, headers={"Authorization": "Bearer ct_nonsense"}), 401)


# --- refused writes leave nothing ------------------------------------------------------


def test_refused_writes_leave_no_event(api: ApiFactory, field: Api, hq: Api) -> None:
    first = field.post(SITREPS, json=sitrep())
    report = created(first)
    url = f"{SITREPS}/{report['id']}"
    crisis = created(create_crisis(hq, glide="CE-2023-000001-SDN"))
    baseline = audit_count()

    refused = [
        (field.post(SITREPS, json=sitrep()), 409),  # slot taken
        (field.post(SITREPS, json=sitrep(line(admin1="SD99"))), 422),  # domain rule
        (field.post(SITREPS, json={**sitrep(), "id": 1}), 422),  # schema
        (field.post(SITREPS, json=sitrep(line(admin1=None), country="TCD")), 403),
        (hq.post(SITREPS, json=sitrep(line(admin1="SD05"))), 403),
        (field.put(url, json=sitrep(line(reached=9))), 428),
        (field.put(url, json=sitrep(line(reached=9)), headers={"If-Match": '"x"'}), 412),
        (
            field.put(url, json=sitrep(line(admin1="SD99")), headers={"If-Match": "*"}),
            422,
        ),
        (field.request("DELETE", url, json={"reason": " "}, headers={"If-Match": "*"}), 422),
        (field.request("DELETE", url, json={"reason": "x"}), 428),
        (field.request("DELETE", f"{SITREPS}/999999", json={"reason": "x"}), 404),
        (create_crisis(hq, glide=crisis["glide"]), 409),
        (create_crisis(hq, countries=["XYZ"]), 422),
        (create_crisis(field), 403),
    ]
    for response, status in refused:
        assert_problem(response, status)
    assert audit_count() == baseline

    # A withdrawn sitrep refuses a second withdrawal, and records nothing for it.
    created(field.request("DELETE", url, json={"reason": "x"}, headers={"If-Match": "*"}), 200)
    after_withdrawal = audit_count()
    assert_problem(
        field.request("DELETE", url, json={"reason": "y"}, headers={"If-Match": "*"}), 409
    )
    assert audit_count() == after_withdrawal


def test_rolled_back_batch_items_leave_no_event(field: Api, hq: Api) -> None:
    baseline = audit_count()
    response = field.post(
        "/api/v1/sitreps/batch",
        json={
            "sitreps": [
                sitrep(line(admin1="SD01")),
                sitrep(line(admin1="SD01")),  # 409 within the batch
                sitrep(line(admin1="SD02"), line(admin1="SD99")),  # 422 on its second line
                42,  # not a sitrep
                sitrep(line(admin1=None), country="TCD"),  # 403
            ]
        },
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 409, 422, 422, 403]
    assert audit_count() == baseline + 1
    [event] = events(hq, action="sitrep.submit")
    assert event["entity_id"] == results[0]["sitrep"]["id"]
    assert event["request_id"] == response.headers["X-Request-ID"]


def test_a_batch_refused_as_a_whole_leaves_no_event(field: Api) -> None:
    baseline = audit_count()
    response = field.post("/api/v1/sitreps/batch", json={"sitreps": [sitrep()] * 501})
    assert_problem(response, 422)
    assert audit_count() == baseline


def test_a_replayed_write_leaves_no_second_event(field: Api, hq: Api) -> None:
    headers = {"Idempotency-Key": "once"}
    first = field.post(SITREPS, json=sitrep(), headers=headers)
    created(first)
    retry = field.post(SITREPS, json=sitrep(), headers=headers)
    assert retry.headers["Idempotent-Replayed"] == "true"
    [event] = events(hq, action="sitrep.submit")
    assert event["request_id"] == first.headers["X-Request-ID"]
    assert events(hq, request_id=retry.headers["X-Request-ID"]) == []


# --- the trail cannot be changed -------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_no_method_changes_the_trail(api: ApiFactory, hq: Api, method: str) -> None:
    admin = api("admin")
    before = events(hq)
    for writer in (admin, hq):
        response = writer.request(
            method, AUDIT, json={"action": "sitrep.submit", "actor": "nobody"}
        )
        problem = assert_problem(response, 405)
        assert response.headers["Allow"] == "GET, HEAD"
        assert method in problem["detail"]
    assert events(hq) == before


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_there_is_no_endpoint_for_one_event(api: ApiFactory, hq: Api, method: str) -> None:
    admin = api("admin")
    before = events(hq)
    event_id = before[0]["id"]
    response = admin.request(method, f"{AUDIT}/{event_id}", json={"actor": "nobody"})
    assert response.status_code in (404, 405), response.text
    assert_problem(response, response.status_code)
    assert events(hq) == before
