"""Idempotency-Key on every creating write (issue 3, point 1), through HTTP.

A retry with the same key and body gets the first answer, byte for byte, and writes
nothing; the same key with another request is a 422; a retry while the first is still
being processed is a 409; keys are the user's own; a refused request keeps nothing, so its
retry runs again; keys expire after TRACKER_IDEMPOTENCY_TTL_HOURS; a claim whose request
died is taken over once its lease has run out.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from httpx import Response
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.config import get_settings
from app.crises.models import Crisis
from app.db import new_session, utcnow
from app.idempotency import service as idempotency
from app.idempotency.models import IdempotencyKey
from app.sitreps.models import Sitrep, SitrepRevision
from tests.factories import Api, assert_problem, line, sitrep

ApiFactory = Callable[..., Api]

SITREPS = "/api/v1/sitreps"
BATCH = "/api/v1/sitreps/batch"
CRISES = "/api/v1/crises"
REUSED = "urn:crisis-tracker:problem:idempotency-key-reused"
IN_USE = "urn:crisis-tracker:problem:idempotency-key-in-use"
REPLAYED = "Idempotent-Replayed"

CRISIS = {"name": "Sudan war", "kind": "conflict", "countries": ["SDN"], "started_on": "2023-04-15"}


# --- helpers ---------------------------------------------------------------------------


def encode(body: Any) -> bytes:
    return json.dumps(body).encode()


def send(
    client: Api,
    method: str,
    url: str,
    body: Any,
    *,
    key: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Sends exactly ``encode(body)``, so that a test can compute the request's fingerprint."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if key is not None:
        all_headers["Idempotency-Key"] = key
    return client.request(method, url, content=encode(body), headers=all_headers)


def user_id(client: Api) -> int:
    response = client.get("/api/v1/me")
    assert response.status_code == 200, response.text
    return int(response.json()["id"])


def count(model: Any, *where: Any) -> int:
    with new_session() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def audit_count(action: str | None = None) -> int:
    if action is None:
        return count(AuditEvent)
    return count(AuditEvent, AuditEvent.action == action)


def key_row(uid: int, key: str) -> IdempotencyKey | None:
    with new_session() as session:
        return session.get(IdempotencyKey, (uid, key))


def set_key_times(uid: int, key: str, **values: Any) -> None:
    with new_session(writes=True) as session:
        session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.user_id == uid, IdempotencyKey.key == key)
            .values(**values)
        )
        session.commit()


def assert_replay(first: Response, retry: Response) -> None:
    """The retry is the first answer again: status, body bytes, Location and ETag."""
    assert REPLAYED not in first.headers
    assert retry.status_code == first.status_code, retry.text
    assert retry.content == first.content
    assert retry.headers.get("Location") == first.headers.get("Location")
    assert retry.headers.get("ETag") == first.headers.get("ETag")
    assert retry.headers[REPLAYED] == "true"
    assert retry.headers["content-type"].startswith("application/json")


def assert_not_replayed(response: Response) -> None:
    assert REPLAYED not in response.headers, response.headers


def assert_response(response: Response, status: int) -> Response:
    """The response is a problem with this status; returns the response."""
    assert_problem(response, status)
    return response


def fingerprint_of(method: str, url: str, body: Any) -> str:
    return idempotency.fingerprint(method, url, encode(body))


def etag_of(client: Api, sitrep_id: int) -> str:
    response = client.get(f"{SITREPS}/{sitrep_id}")
    assert response.status_code == 200, response.text
    return response.headers["ETag"]


# --- a retry gets the first answer -----------------------------------------------------


def test_retried_submission_returns_the_first_answer_and_creates_nothing(field: Api) -> None:
    body = sitrep(line(reached=120))
    first = send(field, "POST", SITREPS, body, key="submit-1")
    assert first.status_code == 201, first.text
    created = first.json()
    assert created["lines"][0]["people_reached"] == 120 and created["revision"] == 1
    assert first.headers["Location"] == f"{SITREPS}/{created['id']}"
    assert first.headers["ETag"]
    events = audit_count()

    for _ in range(3):
        retry = send(field, "POST", SITREPS, body, key="submit-1")
        assert_replay(first, retry)
        assert retry.json() == created

    assert count(Sitrep) == 1
    assert count(SitrepRevision) == 1
    assert audit_count() == events
    listed = field.get(SITREPS).json()["items"]
    assert [item["id"] for item in listed] == [created["id"]]


def test_the_stored_answer_is_the_answer_sent(field: Api) -> None:
    first = send(field, "POST", SITREPS, sitrep(), key="stored")
    assert first.status_code == 201, first.text
    row = key_row(user_id(field), "stored")
    assert row is not None
    assert row.response_status == 201
    assert row.response_body is not None and row.response_body.encode() == first.content
    assert row.response_headers == {
        "Location": first.headers["Location"],
        "ETag": first.headers["ETag"],
    }
    assert row.locked_at is None
    assert row.fingerprint == fingerprint_of("POST", SITREPS, sitrep())


def test_a_replay_is_the_first_answer_even_after_the_sitrep_changed(field: Api) -> None:
    body = sitrep(line(reached=100))
    first = send(field, "POST", SITREPS, body, key="then-amended")
    assert first.status_code == 201, first.text
    sitrep_id = first.json()["id"]
    amended = send(
        field,
        "PUT",
        f"{SITREPS}/{sitrep_id}",
        sitrep(line(reached=150)),
        headers={"If-Match": first.headers["ETag"]},
    )
    assert amended.status_code == 200, amended.text
    retry = send(field, "POST", SITREPS, body, key="then-amended")
    assert_replay(first, retry)
    assert retry.json()["revision"] == 1
    assert retry.json()["lines"][0]["people_reached"] == 100
    # The sitrep itself is at revision 2; the replay wrote nothing.
    current = field.get(f"{SITREPS}/{sitrep_id}").json()
    assert current["revision"] == 2 and current["lines"][0]["people_reached"] == 150
    assert count(Sitrep) == 1


def test_retried_batch_returns_the_first_answer_and_creates_nothing(field: Api) -> None:
    body = {
        "sitreps": [
            sitrep(line(admin1="SD01")),
            sitrep(line(admin1="SD99")),  # refused: not a p-code of Sudan
            sitrep(line(admin1="SD02")),
        ]
    }
    first = send(field, "POST", BATCH, body, key="batch-1")
    assert first.status_code == 200, first.text
    assert [r["status"] for r in first.json()["results"]] == [201, 422, 201]
    events = audit_count("sitrep.submit")
    assert events == 2

    retry = send(field, "POST", BATCH, body, key="batch-1")
    assert_replay(first, retry)
    assert count(Sitrep) == 2
    assert audit_count("sitrep.submit") == 2


def test_retried_crisis_creation_returns_the_first_answer_and_creates_nothing(hq: Api) -> None:
    first = send(hq, "POST", CRISES, CRISIS, key="crisis-1")
    assert first.status_code == 201, first.text
    created = first.json()
    assert created["name"] == "Sudan war" and created["countries"] == ["SDN"]
    assert first.headers["Location"] == f"{CRISES}/{created['id']}"

    retry = send(hq, "POST", CRISES, CRISIS, key="crisis-1")
    assert_replay(first, retry)
    assert count(Crisis) == 1
    assert audit_count("crisis.create") == 1
    assert [c["id"] for c in hq.get(CRISES).json()["items"]] == [created["id"]]


def test_retried_amendment_returns_the_first_answer_and_makes_no_second_revision(
    field: Api,
) -> None:
    submitted = send(field, "POST", SITREPS, sitrep(line(reached=100)))
    assert submitted.status_code == 201, submitted.text
    sitrep_id = submitted.json()["id"]
    url = f"{SITREPS}/{sitrep_id}"
    if_match = submitted.headers["ETag"]
    body = sitrep(line(reached=200))

    first = send(field, "PUT", url, body, key="amend-1", headers={"If-Match": if_match})
    assert first.status_code == 200, first.text
    assert first.json()["revision"] == 2
    assert first.json()["lines"][0]["people_reached"] == 200
    assert first.headers["ETag"] != if_match
    assert "Location" not in first.headers

    # Without the key, the same request would now be a 412: its If-Match is stale.
    retry = send(field, "PUT", url, body, key="amend-1", headers={"If-Match": if_match})
    assert_replay(first, retry)
    assert field.get(url).json()["revision"] == 2
    assert len(field.get(f"{url}/revisions").json()["items"]) == 2
    assert audit_count("sitrep.amend") == 1
    stale = send(field, "PUT", url, body, headers={"If-Match": if_match})
    assert_problem(stale, 412)


def test_retried_withdrawal_returns_the_first_answer(field: Api) -> None:
    submitted = send(field, "POST", SITREPS, sitrep())
    assert submitted.status_code == 201, submitted.text
    url = f"{SITREPS}/{submitted.json()['id']}"
    etag = submitted.headers["ETag"]

    first = send(
        field, "DELETE", url, {"reason": "duplicate"}, key="withdraw-1", headers={"If-Match": etag}
    )
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "withdrawn"
    assert first.json()["withdrawal_reason"] == "duplicate"

    # Without the key, a second withdrawal is refused (412 on the stale ETag).
    retry = send(
        field, "DELETE", url, {"reason": "duplicate"}, key="withdraw-1", headers={"If-Match": etag}
    )
    assert_replay(first, retry)
    assert retry.json()["status"] == "withdrawn"
    assert audit_count("sitrep.withdraw") == 1


def test_a_retry_gets_its_own_request_id(field: Api) -> None:
    first = send(field, "POST", SITREPS, sitrep(), key="rid")
    retry = send(field, "POST", SITREPS, sitrep(), key="rid")
    assert_replay(first, retry)
    assert first.headers["X-Request-ID"] and retry.headers["X-Request-ID"]
    assert first.headers["X-Request-ID"] != retry.headers["X-Request-ID"]


def test_requests_without_a_key_are_not_deduplicated(hq: Api) -> None:
    first = send(hq, "POST", CRISES, CRISIS)
    second = send(hq, "POST", CRISES, CRISIS)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert_not_replayed(second)
    assert count(Crisis) == 2
    assert count(IdempotencyKey) == 0


# --- the same key with another request -------------------------------------------------


def test_same_key_with_a_different_body_is_a_422(field: Api) -> None:
    first = send(field, "POST", SITREPS, sitrep(narrative="first"), key="k")
    assert first.status_code == 201, first.text

    other = send(field, "POST", SITREPS, sitrep(line(admin1="SD02"), narrative="second"), key="k")
    problem = assert_problem(other, 422)
    assert problem["type"] == REUSED
    assert "'k'" in problem["detail"]
    assert_not_replayed(other)
    assert count(Sitrep) == 1

    # The first answer is still there for a true retry.
    assert_replay(first, send(field, "POST", SITREPS, sitrep(narrative="first"), key="k"))


def test_same_key_on_another_endpoint_is_a_422(field: Api, hq: Api) -> None:
    first = send(field, "POST", SITREPS, sitrep(), key="shared")
    assert first.status_code == 201, first.text
    batch = send(field, "POST", BATCH, {"sitreps": [sitrep(line(admin1="SD03"))]}, key="shared")
    assert assert_problem(batch, 422)["type"] == REUSED
    assert count(Sitrep) == 1


def test_same_key_and_body_on_another_sitrep_is_a_422(field: Api) -> None:
    """The fingerprint covers the path: amending sitrep B with the key that amended A."""
    a = send(field, "POST", SITREPS, sitrep(line(admin1="SD01"))).json()
    b = send(field, "POST", SITREPS, sitrep(line(admin1="SD02"))).json()
    body = {"reason": "entered twice"}
    first = send(field, "DELETE", f"{SITREPS}/{a['id']}", body, key="w", headers={"If-Match": "*"})
    assert first.status_code == 200, first.text
    other = send(field, "DELETE", f"{SITREPS}/{b['id']}", body, key="w", headers={"If-Match": "*"})
    assert assert_problem(other, 422)["type"] == REUSED
    assert field.get(f"{SITREPS}/{b['id']}").json()["status"] == "submitted"


def test_a_reused_key_problem_matches_the_documented_422_schema(field: Api, client: Any) -> None:
    """Every 422 of the API is documented as a validation problem with ``errors``; a
    client (or schemathesis) checking answers against the OpenAPI document must not meet
    a 422 without them."""
    assert send(field, "POST", SITREPS, sitrep(), key="doc").status_code == 201
    reused = send(field, "POST", SITREPS, sitrep(narrative="another"), key="doc")
    body = assert_problem(reused, 422)
    openapi = client.get("/openapi.json").json()
    declared = openapi["paths"][SITREPS]["post"]["responses"]["422"]["content"]
    schema = next(iter(declared.values()))["schema"]
    name = schema["$ref"].rsplit("/", 1)[-1]
    required = openapi["components"]["schemas"][name].get("required", [])
    assert set(required) <= set(body), (required, body)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", SITREPS),
        ("post", BATCH),
        ("post", CRISES),
        ("put", SITREPS + "/{sitrep_id}"),
        ("delete", SITREPS + "/{sitrep_id}"),
    ],
)
def test_openapi_documents_the_key_and_its_statuses(client: Any, method: str, path: str) -> None:
    """The OpenAPI document declares the Idempotency-Key header and the statuses it brings:
    400 (malformed key), 409 (in use) and 422 (reused)."""
    operation = client.get("/openapi.json").json()["paths"][path][method]
    headers = {p["name"].lower() for p in operation.get("parameters", []) if p["in"] == "header"}
    assert "idempotency-key" in headers
    assert {"400", "409", "422"} <= set(operation["responses"]), sorted(operation["responses"])


# --- a retry while the first is in flight ----------------------------------------------


@pytest.mark.parametrize(
    ("url", "body_of"),
    [
        (SITREPS, lambda: sitrep()),
        (BATCH, lambda: {"sitreps": [sitrep()]}),
    ],
)
def test_a_retry_while_the_first_is_in_flight_is_a_409(
    field: Api, url: str, body_of: Callable[[], Any]
) -> None:
    body = body_of()
    uid = user_id(field)
    first = idempotency.claim(
        user_id=uid, key="busy", fingerprint=fingerprint_of("POST", url, body)
    )
    assert isinstance(first, idempotency.Claim)
    claimed = key_row(uid, "busy")
    assert claimed is not None

    retry = send(field, "POST", url, body, key="busy")
    problem = assert_problem(retry, 409)
    assert problem["type"] == IN_USE
    assert "'busy'" in problem["detail"]
    assert retry.headers["Retry-After"] == "1"
    assert_not_replayed(retry)
    assert count(Sitrep) == 0
    # The 409 leaves the first request's claim alone.
    still = key_row(uid, "busy")
    assert still is not None and still.response_status is None
    assert still.locked_at == claimed.locked_at

    # Once the first request has failed (its claim released), a retry runs.
    idempotency.release(first)
    assert send(field, "POST", url, body, key="busy").status_code in (200, 201)
    assert count(Sitrep) == 1


def test_crisis_in_flight_is_a_409(hq: Api) -> None:
    uid = user_id(hq)
    idempotency.claim(user_id=uid, key="c", fingerprint=fingerprint_of("POST", CRISES, CRISIS))
    assert assert_problem(send(hq, "POST", CRISES, CRISIS, key="c"), 409)["type"] == IN_USE
    assert count(Crisis) == 0


def test_amendment_in_flight_is_a_409(field: Api) -> None:
    created = send(field, "POST", SITREPS, sitrep())
    url = created.headers["Location"]
    body = sitrep(line(reached=300))
    uid = user_id(field)
    idempotency.claim(user_id=uid, key="a", fingerprint=fingerprint_of("PUT", url, body))
    retry = send(field, "PUT", url, body, key="a", headers={"If-Match": created.headers["ETag"]})
    assert assert_problem(retry, 409)["type"] == IN_USE
    assert field.get(url).json()["revision"] == 1


def test_in_flight_with_another_body_is_a_422(field: Api) -> None:
    uid = user_id(field)
    idempotency.claim(
        user_id=uid, key="busy", fingerprint=fingerprint_of("POST", SITREPS, sitrep())
    )
    other = send(field, "POST", SITREPS, sitrep(narrative="something else"), key="busy")
    assert assert_problem(other, 422)["type"] == REUSED
    assert count(Sitrep) == 0


def test_a_dead_claim_is_taken_over_after_its_lease(field: Api) -> None:
    body = sitrep()
    uid = user_id(field)
    idempotency.claim(user_id=uid, key="dead", fingerprint=fingerprint_of("POST", SITREPS, body))
    lease = get_settings().idempotency_lease_seconds

    # Still inside the lease: the first request may yet answer.
    set_key_times(uid, "dead", locked_at=utcnow() - timedelta(seconds=lease - 30))
    assert assert_problem(send(field, "POST", SITREPS, body, key="dead"), 409)["type"] == IN_USE
    assert count(Sitrep) == 0

    # Past it, with no answer: the request died (the process was killed); a retry runs.
    set_key_times(uid, "dead", locked_at=utcnow() - timedelta(seconds=lease + 5))
    taken = send(field, "POST", SITREPS, body, key="dead")
    assert taken.status_code == 201, taken.text
    assert_not_replayed(taken)
    assert count(Sitrep) == 1
    row = key_row(uid, "dead")
    assert row is not None and row.response_status == 201 and row.locked_at is None

    assert_replay(taken, send(field, "POST", SITREPS, body, key="dead"))
    assert count(Sitrep) == 1


def test_an_answered_key_is_never_taken_over(field: Api) -> None:
    """Only a claim without an answer lapses; an old locked_at on an answered key (which
    cannot happen, but must not matter) still gives the replay."""
    first = send(field, "POST", SITREPS, sitrep(), key="answered")
    uid = user_id(field)
    lease = get_settings().idempotency_lease_seconds
    set_key_times(uid, "answered", locked_at=utcnow() - timedelta(seconds=lease * 2))
    assert_replay(first, send(field, "POST", SITREPS, sitrep(), key="answered"))
    assert count(Sitrep) == 1


# --- keys are the user's own -----------------------------------------------------------


def test_keys_are_scoped_to_the_user(api: ApiFactory) -> None:
    first_hq, second_hq = api("hq"), api("hq")
    first = send(first_hq, "POST", CRISES, CRISIS, key="same-key")
    second = send(second_hq, "POST", CRISES, CRISIS, key="same-key")
    assert first.status_code == second.status_code == 201
    assert_not_replayed(second)
    assert first.json()["id"] != second.json()["id"]
    assert count(Crisis) == 2
    # Each user's retry replays its own answer.
    assert_replay(first, send(first_hq, "POST", CRISES, CRISIS, key="same-key"))
    assert_replay(second, send(second_hq, "POST", CRISES, CRISIS, key="same-key"))
    assert count(Crisis) == 2


def test_another_users_key_is_not_their_answer(api: ApiFactory) -> None:
    """A second officer sending the first officer's key and body does not get the first
    officer's answer: the request runs for them, and meets the slot rule."""
    first_officer = api("field", countries=["SDN"])
    second_officer = api("field", countries=["SDN"])
    first = send(first_officer, "POST", SITREPS, sitrep(), key="k1")
    assert first.status_code == 201
    second = send(second_officer, "POST", SITREPS, sitrep(), key="k1")
    problem = assert_problem(second, 409)
    assert problem["type"] == "urn:crisis-tracker:problem:conflict"
    assert problem["conflicting_sitrep_id"] == first.json()["id"]
    assert_not_replayed(second)


def test_another_users_claim_in_flight_does_not_block(api: ApiFactory) -> None:
    first_officer = api("field", countries=["SDN"])
    second_officer = api("field", countries=["SDN"])
    idempotency.claim(
        user_id=user_id(first_officer),
        key="k",
        fingerprint=fingerprint_of("POST", SITREPS, sitrep()),
    )
    response = send(second_officer, "POST", SITREPS, sitrep(), key="k")
    assert response.status_code == 201, response.text


# --- a refused request keeps nothing ---------------------------------------------------


def test_a_conflict_stores_nothing_so_the_retry_runs_again(field: Api) -> None:
    holder = send(field, "POST", SITREPS, sitrep(narrative="holder"))
    assert holder.status_code == 201
    body = sitrep(narrative="newcomer")
    uid = user_id(field)

    refused = send(field, "POST", SITREPS, body, key="retry-me")
    problem = assert_problem(refused, 409)
    assert problem["conflicting_sitrep_id"] == holder.json()["id"]
    assert key_row(uid, "retry-me") is None
    # Retried unchanged, it is refused again, for real (no replay of the 409).
    again = send(field, "POST", SITREPS, body, key="retry-me")
    assert assert_problem(again, 409)["conflicting_sitrep_id"] == holder.json()["id"]
    assert_not_replayed(again)

    withdrawn = send(
        field,
        "DELETE",
        holder.headers["Location"],
        {"reason": "superseded"},
        headers={"If-Match": holder.headers["ETag"]},
    )
    assert withdrawn.status_code == 200, withdrawn.text

    accepted = send(field, "POST", SITREPS, body, key="retry-me")
    assert accepted.status_code == 201, accepted.text
    assert_not_replayed(accepted)
    assert accepted.json()["narrative"] == "newcomer"
    assert_replay(accepted, send(field, "POST", SITREPS, body, key="retry-me"))
    assert count(Sitrep) == 2


def test_a_request_refused_by_the_schema_stores_nothing(field: Api) -> None:
    bad = sitrep()
    bad["lines"][0]["people_reached"] = "many"
    refused = send(field, "POST", SITREPS, bad, key="fix-me")
    body = assert_problem(refused, 422)
    assert body["errors"][0]["loc"] == ["body", "lines", 0, "people_reached"]
    assert key_row(user_id(field), "fix-me") is None
    # The corrected request may reuse the key: the refused one left nothing behind.
    fixed = send(field, "POST", SITREPS, sitrep(), key="fix-me")
    assert fixed.status_code == 201, fixed.text


def test_a_body_that_is_not_json_stores_nothing(field: Api) -> None:
    refused = field.post(
        SITREPS,
        content=b'{"country": "SDN", ',
        headers={"Content-Type": "application/json", "Idempotency-Key": "torn"},
    )
    msg = assert_problem(refused, 422)["errors"][0]["msg"]
    assert msg == "the body ends before its JSON does (line 1, column 20): was it cut off?"
    assert key_row(user_id(field), "torn") is None
    # The whole body, sent again after the link dropped, goes in.
    whole = send(field, "POST", SITREPS, sitrep(), key="torn")
    assert whole.status_code == 201, whole.text
    assert_not_replayed(whole)


def test_a_request_refused_by_a_domain_rule_stores_nothing(field: Api) -> None:
    bad = sitrep(line(admin1="SD99"))
    for _ in range(2):
        refused = send(field, "POST", SITREPS, bad, key="bad-place")
        body = assert_problem(refused, 422)
        assert body["errors"][0]["loc"] == ["body", "lines", 0, "admin1"]
        assert_not_replayed(refused)
    assert key_row(user_id(field), "bad-place") is None
    assert count(Sitrep) == 0


def test_a_forbidden_request_stores_nothing(field: Api) -> None:
    outside = sitrep(line(admin1=None), country="TCD")
    for _ in range(2):
        assert_not_replayed(assert_response(send(field, "POST", SITREPS, outside, key="f"), 403))
    assert key_row(user_id(field), "f") is None


def test_a_precondition_failure_stores_nothing(field: Api) -> None:
    created = send(field, "POST", SITREPS, sitrep())
    url = created.headers["Location"]
    body = sitrep(line(reached=400))
    assert_problem(send(field, "PUT", url, body, key="p"), 428)
    assert_problem(send(field, "PUT", url, body, key="p", headers={"If-Match": '"1-9-x"'}), 412)
    assert key_row(user_id(field), "p") is None
    amended = send(field, "PUT", url, body, key="p", headers={"If-Match": created.headers["ETag"]})
    assert amended.status_code == 200, amended.text
    assert amended.json()["revision"] == 2


def test_a_crisis_conflict_stores_nothing(hq: Api) -> None:
    body = {**CRISIS, "glide": "CE-2023-000001-SDN"}
    assert send(hq, "POST", CRISES, body).status_code == 201
    refused = send(hq, "POST", CRISES, body, key="glide")
    assert_problem(refused, 409)
    assert key_row(user_id(hq), "glide") is None


# --- malformed keys --------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "with space",
        " ",
        "",
        "tab\there",
        "x" * 256,
        "clé".encode(),
        "😀".encode(),
        b"\x7f",
    ],
    ids=["space", "only-space", "empty", "tab", "256-chars", "latin", "emoji", "del"],
)
def test_a_malformed_key_is_a_400(field: Api, key: str | bytes) -> None:
    response = field.request(
        "POST",
        SITREPS,
        content=encode(sitrep()),
        headers={"Content-Type": "application/json", "Idempotency-Key": key},  # type: ignore[dict-item]
    )
    body = assert_problem(response, 400)
    assert "Idempotency-Key" in body["detail"]
    assert count(Sitrep) == 0
    assert count(IdempotencyKey) == 0


@pytest.mark.parametrize(
    "key",
    ["x" * 255, "a", "550e8400-e29b-41d4-a716-446655440000", "!#$%&'*+-.^_`|~:/?@[]{}"],
    ids=["255-chars", "one-char", "uuid", "punctuation"],
)
def test_well_formed_keys_are_accepted(field: Api, key: str) -> None:
    first = send(field, "POST", SITREPS, sitrep(), key=key)
    assert first.status_code == 201, first.text
    assert_replay(first, send(field, "POST", SITREPS, sitrep(), key=key))
    assert key_row(user_id(field), key) is not None


def test_a_key_without_a_valid_token_is_a_401(client: Any) -> None:
    for headers in ({}, {"Authorization": "Bearer ct_nonsense"}):
        response = client.post(SITREPS, json=sitrep(), headers={**headers, "Idempotency-Key": "k"})
        assert_problem(response, 401)
    assert count(IdempotencyKey) == 0


def test_a_malformed_key_without_a_token_is_still_a_401(client: Any) -> None:
    """As for a malformed body (tests/http/test_errors.py), a caller without a valid token hears
    401 first, and learns nothing about the request's other headers."""
    response = client.post(SITREPS, json=sitrep(), headers={"Idempotency-Key": "not valid"})
    assert_problem(response, 401)


# --- expiry ----------------------------------------------------------------------------


def test_keys_older_than_the_ttl_are_purged(field: Api) -> None:
    ttl = get_settings().idempotency_ttl_hours
    assert ttl >= 24
    uid = user_id(field)
    first = send(field, "POST", SITREPS, sitrep(line(admin1="SD01")), key="old")
    assert first.status_code == 201
    set_key_times(uid, "old", created_at=utcnow() - timedelta(hours=ttl, minutes=1))

    # Any claim purges expired keys, whoever makes it.
    other = send(field, "POST", SITREPS, sitrep(line(admin1="SD02")), key="unrelated")
    assert other.status_code == 201
    assert key_row(uid, "old") is None
    assert key_row(uid, "unrelated") is not None

    # The expired key is free again: another request with it runs.
    reused = send(field, "POST", SITREPS, sitrep(line(admin1="SD03")), key="old")
    assert reused.status_code == 201, reused.text
    assert_not_replayed(reused)
    assert count(Sitrep) == 3


def test_keys_younger_than_the_ttl_are_kept(field: Api) -> None:
    ttl = get_settings().idempotency_ttl_hours
    uid = user_id(field)
    first = send(field, "POST", SITREPS, sitrep(), key="young")
    set_key_times(uid, "young", created_at=utcnow() - timedelta(hours=ttl) + timedelta(minutes=5))
    assert_replay(first, send(field, "POST", SITREPS, sitrep(), key="young"))
    assert count(Sitrep) == 1


def test_the_ttl_is_configurable(field: Api, settings_env: Callable[..., None]) -> None:
    settings_env(idempotency_ttl_hours="48")
    assert get_settings().idempotency_ttl_hours == 48
    uid = user_id(field)
    first = send(field, "POST", SITREPS, sitrep(), key="kept")
    set_key_times(uid, "kept", created_at=utcnow() - timedelta(hours=30))
    assert_replay(first, send(field, "POST", SITREPS, sitrep(), key="kept"))
    set_key_times(uid, "kept", created_at=utcnow() - timedelta(hours=49))
    other = send(field, "POST", SITREPS, sitrep(line(admin1="SD05")), key="kept")
    assert other.status_code == 201, other.text
    assert count(Sitrep) == 2


def test_keys_are_kept_at_least_24_hours(settings_env: Callable[..., None]) -> None:
    settings_env(idempotency_ttl_hours="12")
    with pytest.raises(ValueError, match="idempotency_ttl_hours"):
        get_settings()


class DatabaseAway:
    """``idempotency.release`` failing as it does while the database is away, until
    ``back()``; counts the calls."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.away = True
        self.calls = 0
        self._release = idempotency.release
        monkeypatch.setattr(idempotency, "release", self)

    def __call__(self, claim: idempotency.Claim) -> None:
        self.calls += 1
        if self.away:
            raise OperationalError("DELETE FROM idempotency_keys", {}, Exception("gone"))
        self._release(claim)

    def back(self) -> None:
        self.away = False


def in_flight(
    field: Api, key: str, *, reached: int
) -> tuple[int, dict[str, Any], idempotency.Claim]:
    """A submission whose key is claimed and which has not answered yet: the user's id,
    the body and the claim."""
    body = sitrep(line(reached=reached))
    uid = user_id(field)
    claim = idempotency.claim(
        user_id=uid, key=key, fingerprint=fingerprint_of("POST", SITREPS, body)
    )
    assert isinstance(claim, idempotency.Claim)
    return uid, body, claim


def test_a_claim_left_by_a_database_that_went_away_is_released_once_it_is_back(
    field: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request failed with its database (a failover): its claim could not be released
    then. It is released in the background as soon as the database answers, long before
    the lease (120 s) would run out, and the retry runs."""
    uid, body, first = in_flight(field, "orphan", reached=41)
    database = DatabaseAway(monkeypatch)
    unreleased = idempotency.Unreleased()
    unreleased.add(first)
    time.sleep(3 * unreleased.RETRY_SECONDS)
    assert database.calls >= 2 and unreleased.pending() == 1
    assert_problem(send(field, "POST", SITREPS, sitrep(line(reached=41)), key="orphan"), 409)

    database.back()
    deadline = time.monotonic() + 10
    while unreleased.pending():
        assert time.monotonic() < deadline, "the claim was never released"
        time.sleep(0.05)
    assert key_row(uid, "orphan") is None
    assert send(field, "POST", SITREPS, body, key="orphan").status_code == 201
    assert count(Sitrep) == 1


def test_a_retry_in_the_same_process_releases_the_left_claim_at_once(
    field: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid, body, first = in_flight(field, "orphan-2", reached=42)
    database = DatabaseAway(monkeypatch)
    # The background thread waits longer than this test: only the retry can release it.
    monkeypatch.setattr(idempotency.Unreleased, "RETRY_SECONDS", 60.0)
    idempotency.unreleased.add(first)
    # A retry while the database is still away: the release fails, the claim is kept.
    idempotency.unreleased.release_now(uid, "orphan-2")
    assert database.calls == 1 and idempotency.unreleased.pending() == 1
    database.back()
    retry = send(field, "POST", SITREPS, body, key="orphan-2")
    assert retry.status_code == 201, retry.text
    assert database.calls == 2  # released by the retry, not by the thread
    assert idempotency.unreleased.pending() == 0
    assert count(Sitrep) == 1


def test_a_claim_committed_as_the_database_went_away_is_released_once_it_is_back(
    field: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim's own commit reached the database, but its answer was lost with the
    connection (the primary was killed just then): the claim exists, and no request holds
    it. It is released once the database answers, so the retry runs."""
    body = sitrep(line(reached=43))
    uid = user_id(field)
    real_commit = Session.commit

    def commit_then_lose_the_answer(session: Session) -> None:
        real_commit(session)
        raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

    with monkeypatch.context() as lost:
        lost.setattr(Session, "commit", commit_then_lose_the_answer)
        with pytest.raises(OperationalError):
            idempotency.claim(
                user_id=uid, key="lost-ack", fingerprint=fingerprint_of("POST", SITREPS, body)
            )
    assert key_row(uid, "lost-ack") is not None
    retry = send(field, "POST", SITREPS, body, key="lost-ack")
    assert retry.status_code == 201, retry.text
    assert idempotency.unreleased.pending() == 0
    assert count(Sitrep) == 1


def test_a_left_claim_past_its_lease_is_dropped_without_the_database(
    field: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    lease = get_settings().idempotency_lease_seconds
    aged = idempotency.Claim(
        user_id=user_id(field), key="old", claimed_at=utcnow() - timedelta(seconds=lease + 1)
    )
    database = DatabaseAway(monkeypatch)
    unreleased = idempotency.Unreleased()
    unreleased.add(aged)
    deadline = time.monotonic() + 10
    while unreleased.pending():
        assert time.monotonic() < deadline, "the lapsed claim was kept"
        time.sleep(0.05)
    assert database.calls == 0


def test_a_request_whose_claim_was_taken_over_can_neither_answer_nor_release(
    field: Api,
) -> None:
    """The first request outlived the lease and a retry took its claim over: the first may
    no longer store its answer (its write rolls back) nor drop the retry's claim."""
    body = sitrep(line(reached=31))
    uid = user_id(field)
    first = idempotency.claim(
        user_id=uid, key="slow", fingerprint=fingerprint_of("POST", SITREPS, body)
    )
    assert isinstance(first, idempotency.Claim)
    lease = get_settings().idempotency_lease_seconds
    with new_session(writes=True) as session:
        session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.user_id == uid, IdempotencyKey.key == "slow")
            .values(locked_at=first.claimed_at - timedelta(seconds=lease + 1))
        )
        session.commit()
    aged = idempotency.Claim(
        user_id=uid, key="slow", claimed_at=first.claimed_at - timedelta(seconds=lease + 1)
    )

    retry = send(field, "POST", SITREPS, body, key="slow")
    assert retry.status_code == 201, retry.text

    with new_session(writes=True) as session, pytest.raises(idempotency.KeyInUse):
        idempotency.complete(session, aged, status=201, headers={}, body="{}")
    idempotency.release(aged)
    replay = send(field, "POST", SITREPS, body, key="slow")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.content == retry.content
    assert count(Sitrep) == 1
