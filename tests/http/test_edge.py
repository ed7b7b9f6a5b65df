"""The strict, helpful edge (issue 13): crafted cursors, empty and unknown query
parameters, every problem of a body in one 422, parse failures as problems, weak ETags,
GET bodies sent back as PUT bodies, and ids outside the caller's countries."""

from __future__ import annotations

import base64
import json
from datetime import date
from typing import Any

import pytest

from app.pagination import BIG, ROW_ID, IntIn, MalformedCursor, decode_cursor, encode_cursor
from tests.factories import assert_problem, line, sitrep


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor(kind: str, value: Any) -> str:
    return _b64(json.dumps({"k": kind, "v": value}).encode())


# --- cursors ------------------------------------------------------------------------------

CRAFTED = [
    [2**31],  # above an INTEGER id: PostgreSQL "integer out of range"
    [2**63],
    [2**63 + 5],
    [10**30],
    [[[[1]]]],
    [[1]],
    [{"a": 1}],
    ["1"],
    [None],
]


def _deep(kind: str) -> str:
    return _b64(b'{"k":"' + kind.encode() + b'","v":' + b"[" * 3000 + b"]" * 3000 + b"}")


@pytest.mark.parametrize(
    ("path", "param", "kind"),
    [
        ("/api/v1/sitreps", "cursor", "sitreps"),
        ("/api/v1/audit", "cursor", "audit"),
        ("/api/v1/crises", "cursor", "crises"),
        ("/api/v1/clusters/shelter/feed", "since", "feed"),
    ],
)
def test_a_crafted_cursor_is_a_400_before_the_database(
    admin, path: str, param: str, kind: str
) -> None:
    values = [v for v in CRAFTED if not (kind == "feed" and v == [2**31])]
    for value in values:
        response = admin.get(path, params={param: _cursor(kind, value)})
        body = assert_problem(response, 400)
        assert body["type"] == "urn:crisis-tracker:problem:malformed-cursor", value
    for cursor in (_deep(kind), "A" * 5000):
        body = assert_problem(admin.get(path, params={param: cursor}), 400)
        assert body["type"] == "urn:crisis-tracker:problem:malformed-cursor"


def test_a_feed_cursor_may_hold_a_bigint(admin) -> None:
    response = admin.get(
        "/api/v1/clusters/shelter/feed", params={"since": _cursor("feed", [2**40])}
    )
    assert response.status_code == 200, response.text


def test_a_revisions_cursor_out_of_range_is_400(admin, field) -> None:
    created = field.post("/api/v1/sitreps", json=sitrep())
    assert created.status_code == 201, created.text
    path = f"/api/v1/sitreps/{created.json()['id']}/revisions"
    for value in ([2**31], [2**63], [[[1]]]):
        assert_problem(admin.get(path, params={"cursor": _cursor("revisions", value)}), 400)


def test_decode_cursor_checks_each_position() -> None:
    assert decode_cursor("x", encode_cursor("x", [5]), types=(ROW_ID,)) == (5,)
    assert decode_cursor("x", encode_cursor("x", [2**63 - 1]), types=(int,)) == (2**63 - 1,)
    cursor = encode_cursor("x", [3, date(2024, 3, 1), "SDN"])
    assert decode_cursor("x", cursor, types=(IntIn(1, 9), date, str)) == (
        3,
        date(2024, 3, 1),
        "SDN",
    )
    for value, types in [
        ([2**31], (ROW_ID,)),
        ([2**63], (BIG,)),
        ([-1], (int,)),
        ([True], (int,)),
        ([0], (IntIn(1, 9),)),
        (["2024-02-30"], (date,)),
        ([5], (date,)),
        (["x" * 201], (str,)),
        ([1, 2], (int,)),
    ]:
        with pytest.raises(MalformedCursor):
            decode_cursor("x", _cursor("x", value), types=types)


def test_decode_cursor_takes_alternative_forms() -> None:
    """A cursor that grew a position (the feed's, from one integer to two) still reads in
    its old form: the caller tells them apart by length."""
    forms = ((int, int), (int,))
    assert decode_cursor("feed", encode_cursor("feed", [7]), types=forms) == (7,)
    assert decode_cursor("feed", encode_cursor("feed", [2**40, 7]), types=forms) == (2**40, 7)
    for value in ([], [1, 2, 3], [2**63, 1], [1, -1]):
        with pytest.raises(MalformedCursor):
            decode_cursor("feed", _cursor("feed", value), types=forms)


# --- query parameters ---------------------------------------------------------------------


def test_empty_query_parameters_are_absent(admin, field) -> None:
    assert field.post("/api/v1/sitreps", json=sitrep()).status_code == 201
    everything = admin.get("/api/v1/totals", params={"year": "2024"}).json()
    for query in ("country=&year=2024", "group_by=&year=2024", "country=+&group_by=&year=2024"):
        response = admin.get(f"/api/v1/totals?{query}")
        assert response.status_code == 200, (query, response.text)
        assert response.json() == everything
    listed = admin.get("/api/v1/sitreps").json()
    for query in ("country=", "limit=&cursor=", "status=&period_from=&crisis_id=", "&&country="):
        response = admin.get(f"/api/v1/sitreps?{query}")
        assert response.status_code == 200, (query, response.text)
        assert response.json() == listed
    feed = admin.get("/api/v1/clusters/shelter/feed?since=&country=&limit=")
    assert feed.status_code == 200, feed.text
    assert len(feed.json()["items"]) == 1


def test_an_empty_filter_does_not_widen_a_field_officers_answer(api, field) -> None:
    assert field.post("/api/v1/sitreps", json=sitrep()).status_code == 201
    other = api("field", countries=["TCD"])
    assert other.get("/api/v1/sitreps?country=").json()["items"] == []
    assert [r["country"] for r in other.get("/api/v1/totals?country=").json()["rows"]] == []


def test_an_unknown_parameter_is_refused_even_when_empty(admin) -> None:
    body = assert_problem(admin.get("/api/v1/totals?contry=&year=2024"), 422)
    assert body["errors"] == [
        {
            "loc": ["query", "contry"],
            "msg": "contry is not a parameter of this endpoint; it takes country, crisis_id, "
            "division, group_by, phase, sector, year",
        }
    ]


# --- bodies that cannot be read -----------------------------------------------------------

JSON = {"Content-Type": "application/json"}


def _body_error(response) -> str:
    body = assert_problem(response, 422)
    assert body["type"] == "urn:crisis-tracker:problem:validation"
    assert [e["loc"] for e in body["errors"]] == [["body"]]
    return str(body["errors"][0]["msg"])


def test_a_json_syntax_error_gives_its_line_and_column(field) -> None:
    msg = _body_error(
        field.post("/api/v1/sitreps", content=b'{"country": "SDN",\n  "lines": [}', headers=JSON)
    )
    assert msg == "the body is not valid JSON: see line 2, column 13"


def test_a_truncated_body_says_it_was_cut_off(field) -> None:
    content = json.dumps(sitrep(), indent=1).encode()[:40]
    msg = _body_error(field.post("/api/v1/sitreps", content=content, headers=JSON))
    assert msg.startswith("the body ends before its JSON does (line 3, column")
    assert "cut off" in msg


def test_latin1_bytes_are_a_422_at_their_place(field) -> None:
    content = '{"country": "SDN",\n "narrative": "Déplacés"}'.encode("latin-1")
    msg = _body_error(field.post("/api/v1/sitreps", content=content, headers=JSON))
    assert msg == (
        "the body is not UTF-8 text (byte 0xE9 at line 2, column 17); JSON is sent in UTF-8"
    )


def test_too_deep_a_body_is_a_422(field) -> None:
    content = b"[" * 100_000 + b"]" * 100_000
    msg = _body_error(field.post("/api/v1/sitreps", content=content, headers=JSON))
    assert "too deeply" in msg


def test_a_huge_number_is_a_422(field) -> None:
    content = b'{"lines": [{"people_reached": ' + b"9" * 5000 + b"}]}"
    msg = _body_error(field.post("/api/v1/sitreps", content=content, headers=JSON))
    assert msg == "the body holds a number of more than 4,300 digits"


def test_a_compressed_request_body_is_a_415(field) -> None:
    import gzip

    content = gzip.compress(json.dumps(sitrep()).encode())
    response = field.post(
        "/api/v1/sitreps", content=content, headers={**JSON, "Content-Encoding": "gzip"}
    )
    body = assert_problem(response, 415)
    assert body["type"] == "urn:crisis-tracker:problem:unsupported-media-type"
    assert "uncompressed" in body["detail"] and "gzip" in body["detail"]
    assert response.headers["Accept-Encoding"] == "identity"


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({}, "this request has no Content-Type"),
        (
            {"Content-Type": "application/x-www-form-urlencoded"},
            "application/x-www-form-urlencoded",
        ),
        ({"Content-Type": "text/plain"}, "not text/plain"),
    ],
)
def test_a_body_not_sent_as_json_is_a_415(field, headers: dict[str, str], named: str) -> None:
    content = json.dumps(sitrep()).encode()
    for method, path in (("POST", "/api/v1/sitreps"), ("POST", "/api/v1/crises")):
        response = field.request(method, path, content=content, headers=headers)
        body = assert_problem(response, 415)
        assert body["type"] == "urn:crisis-tracker:problem:unsupported-media-type"
        assert "Content-Type: application/json" in body["detail"] and named in body["detail"]


def test_an_unreadable_body_without_a_token_is_401_first(client) -> None:
    for content, headers in [
        (b"\xff\xfe", JSON),
        (b"[" * 100_000, JSON),
        (b"{", JSON),
        (b'{"a": 1}', {}),
    ]:
        response = client.post("/api/v1/sitreps", content=content, headers=headers)
        assert_problem(response, 401)


# --- If-Match -----------------------------------------------------------------------------


def _submitted(field) -> tuple[int, str]:
    created = field.post("/api/v1/sitreps", json=sitrep())
    assert created.status_code == 201, created.text
    return int(created.json()["id"]), created.headers["ETag"]


def test_a_weak_etag_is_refused_with_the_reason(field) -> None:
    sitrep_id, etag = _submitted(field)
    weak = f"W/{etag}"
    for response in (
        field.put(f"/api/v1/sitreps/{sitrep_id}", json=sitrep(), headers={"If-Match": weak}),
        field.delete(
            f"/api/v1/sitreps/{sitrep_id}", json={"reason": "x"}, headers={"If-Match": weak}
        ),
    ):
        body = assert_problem(response, 412)
        assert body["type"] == "urn:crisis-tracker:problem:precondition-failed"
        assert "RFC 9110 §13.1.1" in body["detail"] and "strongly" in body["detail"]
        assert weak in body["detail"] and body["detail"].endswith(f": {etag}.")
    assert field.get(f"/api/v1/sitreps/{sitrep_id}").json()["revision"] == 1


def test_a_strong_etag_beside_a_weak_one_still_matches(field) -> None:
    sitrep_id, etag = _submitted(field)
    response = field.put(
        f"/api/v1/sitreps/{sitrep_id}", json=sitrep(), headers={"If-Match": f'W/"x", {etag}'}
    )
    assert response.status_code == 200, response.text


# --- every problem at once ----------------------------------------------------------------


def _six_problems() -> dict[str, Any]:
    body = sitrep(
        line(
            reached=10,
            new=20,
            disaggregation={"women": 1, "men": 1, "girls": 1, "boys": 1},
            persons_with_disabilities=50,
        ),
        line("wash", admin1="TCD14", reached=5, unknown_figure=3),
        end="2024-02-01",
    )
    body["approved"] = True
    return body


SIX = [
    ["body", "approved"],
    ["body", "lines", 1, "unknown_figure"],
    ["body", "period_end"],
    ["body", "lines", 0, "people_reached_new"],
    ["body", "lines", 0, "disaggregation"],
    ["body", "lines", 0, "persons_with_disabilities"],
]


def _locs(response) -> list[list[Any]]:
    return [error["loc"] for error in assert_problem(response, 422)["errors"]]


def test_unknown_fields_and_rule_violations_come_back_together(field) -> None:
    """Unknown fields (the schema) and the rules of DOMAIN.md in one 422: the schema stage
    no longer hides the rules. The line with an unknown field is still checked (its TCD14
    p-code is not Sudan's)."""
    found = _locs(field.post("/api/v1/sitreps", json=_six_problems()))
    assert sorted(map(str, found)) == sorted(map(str, [*SIX, ["body", "lines", 1, "admin1"]]))


def test_a_wrong_field_leaves_the_rest_checked(field) -> None:
    body = sitrep(line(reached="many"), line("wash", reached=10, new=20), end="2024-02-01")
    found = _locs(field.post("/api/v1/sitreps", json=body))
    assert ["body", "lines", 0, "people_reached"] in found
    assert ["body", "lines", 1, "people_reached_new"] in found
    assert ["body", "period_end"] in found
    body = sitrep(line(reached=10, new=20))
    body["period_start"] = "March"
    found = _locs(field.post("/api/v1/sitreps", json=body))
    assert found == [["body", "period_start"], ["body", "lines", 0, "people_reached_new"]]


def test_every_problem_at_once_in_an_amendment_and_a_batch(field) -> None:
    sitrep_id, etag = _submitted(field)
    response = field.put(
        f"/api/v1/sitreps/{sitrep_id}", json=_six_problems(), headers={"If-Match": etag}
    )
    assert len(_locs(response)) == 7
    batch = field.post("/api/v1/sitreps/batch", json={"sitreps": [_six_problems()]})
    assert batch.status_code == 200, batch.text
    problem = batch.json()["results"][0]["problem"]
    assert len(problem["errors"]) == 7
    assert ["body", "sitreps", 0, "approved"] in [e["loc"] for e in problem["errors"]]


# --- a GET sent back as a PUT -------------------------------------------------------------


def test_a_sitrep_read_and_sent_back_is_accepted(field) -> None:
    sitrep_id, etag = _submitted(field)
    read = field.get(f"/api/v1/sitreps/{sitrep_id}")
    edited = {**read.json(), "narrative": "Corrected."}
    response = field.put(f"/api/v1/sitreps/{sitrep_id}", json=edited, headers={"If-Match": etag})
    assert response.status_code == 200, response.text
    after = response.json()
    assert after["revision"] == 2 and after["narrative"] == "Corrected."
    assert [line["id"] for line in after["lines"]] == [line["id"] for line in read.json()["lines"]]


def test_a_cumulative_sitrep_read_and_sent_back_is_accepted(field) -> None:
    march = sitrep(line(reached=300, people_reached_cumulative=300))
    assert field.post("/api/v1/sitreps", json=march).status_code == 201
    april = sitrep(
        line(reached=400, people_reached_cumulative=450), start="2024-04-01", end="2024-04-30"
    )
    created = field.post("/api/v1/sitreps", json=april)
    assert created.status_code == 201, created.text
    read = field.get(f"/api/v1/sitreps/{created.json()['id']}")
    assert read.json()["lines"][0]["people_reached_new"] == 150  # derived, shown beside it
    response = field.put(
        f"/api/v1/sitreps/{created.json()['id']}",
        json=read.json(),
        headers={"If-Match": read.headers["ETag"]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["lines"][0]["people_reached_new"] == 150


def test_read_only_fields_that_differ_are_one_error_naming_them(field) -> None:
    sitrep_id, etag = _submitted(field)
    read = field.get(f"/api/v1/sitreps/{sitrep_id}").json()
    changed = {**read, "revision": 7, "status": "withdrawn", "submitted_by": "someone"}
    changed["lines"] = [{**read["lines"][0], "id": read["lines"][0]["id"] + 100}]
    response = field.put(f"/api/v1/sitreps/{sitrep_id}", json=changed, headers={"If-Match": etag})
    errors = assert_problem(response, 422)["errors"]
    assert errors == [
        {
            "loc": ["body"],
            "msg": f"revision, submitted_by, status, lines.0.id: read-only, and not as sitrep "
            f"{sitrep_id} has them now; leave them out, or send them as its GET answers them",
        }
    ]
    # A line id that moves to another slot is not the id that line keeps.
    moved = {**read, "lines": [{**read["lines"][0], "admin1": "SD02"}]}
    response = field.put(f"/api/v1/sitreps/{sitrep_id}", json=moved, headers={"If-Match": etag})
    assert _locs(response) == [["body", "lines", 0, "id"]]
    assert field.get(f"/api/v1/sitreps/{sitrep_id}").json() == read


def test_read_only_fields_with_a_stale_if_match_are_a_412(field) -> None:
    sitrep_id, etag = _submitted(field)
    read = field.get(f"/api/v1/sitreps/{sitrep_id}").json()
    again = field.put(f"/api/v1/sitreps/{sitrep_id}", json=sitrep(), headers={"If-Match": etag})
    assert again.status_code == 200, again.text
    response = field.put(f"/api/v1/sitreps/{sitrep_id}", json=read, headers={"If-Match": etag})
    assert_problem(response, 412)


def test_the_new_messages_speak_the_clients_language(field) -> None:
    es = {"Accept-Language": "es"}
    response = field.post("/api/v1/sitreps", content=b'{"a": 1}', headers=es)
    assert assert_problem(response, 415)["detail"] == (
        "Envíe el cuerpo en JSON con Content-Type: application/json; esta solicitud no tiene "
        "Content-Type."
    )
    sitrep_id, etag = _submitted(field)
    weak = field.put(
        f"/api/v1/sitreps/{sitrep_id}", json=sitrep(), headers={**es, "If-Match": f"W/{etag}"}
    )
    assert assert_problem(weak, 412)["detail"].startswith("If-Match compara las etiquetas")
