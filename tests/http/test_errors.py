"""The error contract: every error is an RFC 9457 problem, 422s point at each field, and
no error carries a stack trace, SQL or a driver message, on whatever input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from httpx import Response
from sqlalchemy.exc import OperationalError

from app.crises import service as crises_service
from app.pagination import encode_cursor
from tests.factories import assert_problem, line, sitrep

LEAKS = (
    "Traceback",
    'File "',
    "sqlalchemy",
    "SQLAlchemy",
    "psycopg",
    "sqlite3",
    "SELECT ",
    "INSERT ",
    "UPDATE ",
    "pydantic",
    "https://errors.pydantic.dev",
    "site-packages",
)


def assert_clean_problem(response: Response, status: int) -> dict[str, Any]:
    """A well-formed problem with this status, leaking nothing of the implementation."""
    body = assert_problem(response, status)
    assert isinstance(body["type"], str) and isinstance(body["title"], str)
    assert isinstance(body["detail"], str)
    for leak in LEAKS:
        assert leak not in response.text, f"{leak!r} in {response.text}"
    if status == 422:
        assert body["type"] == "urn:crisis-tracker:problem:validation"
        errors = body["errors"]
        assert isinstance(errors, list) and errors
        for error in errors:
            assert set(error) == {"loc", "msg"}, error
            assert isinstance(error["loc"], list)
            assert all(isinstance(part, str | int) for part in error["loc"])
            assert isinstance(error["msg"], str) and error["msg"]
    return body


def locs(body: dict[str, Any]) -> list[list[str | int]]:
    return [error["loc"] for error in body["errors"]]


JSON = {"Content-Type": "application/json"}

# --- malformed bodies ---------------------------------------------------------------------

MALFORMED = [
    b"{",
    b"{bad",
    b'{"country": "SDN",}',
    b"{'country': 'SDN'}",
    b'{"country": "SDN"',
    b"not json at all",
    b'{"country": "SDN"} trailing',
]


@pytest.mark.parametrize("content", MALFORMED)
@pytest.mark.parametrize("path", ["/api/v1/sitreps", "/api/v1/crises"])
def test_malformed_json_is_422(admin, path: str, content: bytes) -> None:
    body = assert_clean_problem(admin.post(path, content=content, headers=JSON), 422)
    assert body["errors"][0]["loc"][0] == "body"
    assert "JSON" in body["errors"][0]["msg"]


def test_malformed_json_on_put_and_delete(admin) -> None:
    for method in ("PUT", "DELETE"):
        response = admin.request(
            method, "/api/v1/sitreps/1", content=b"{", headers={**JSON, "If-Match": "*"}
        )
        assert_clean_problem(response, 422)


@pytest.mark.parametrize(
    "content",
    [
        b'{"country": "\xff\xfe"}',  # not UTF-8
        b"[" * 100_000 + b"]" * 100_000,  # nested past any parser's depth
        b'{"lines": [{"people_reached": ' + b"9" * 5000 + b"}]}",  # a 5000-digit number
    ],
    ids=["not-utf8", "deep", "huge-number"],
)
def test_undecodable_body_is_a_clean_client_error(admin, content: bytes) -> None:
    response = admin.post("/api/v1/sitreps", content=content, headers=JSON)
    assert response.status_code in (400, 422), response.text
    assert_clean_problem(response, response.status_code)


@pytest.mark.parametrize("content", [b"", b"null", b"[]", b'"a string"', b"42", b"true"])
def test_body_that_is_not_an_object_is_422(admin, content: bytes) -> None:
    body = assert_clean_problem(admin.post("/api/v1/sitreps", content=content, headers=JSON), 422)
    assert locs(body) == [["body"]]


def test_body_sent_as_form_is_415(admin) -> None:
    response = admin.post("/api/v1/crises", data={"name": "x"})
    body = assert_clean_problem(response, 415)
    assert "application/json" in body["detail"]


# --- unknown fields -----------------------------------------------------------------------


def test_unknown_top_level_field(field) -> None:
    body = assert_clean_problem(
        field.post("/api/v1/sitreps", json={**sitrep(), "approved": True}), 422
    )
    assert ["body", "approved"] in locs(body)


def test_unknown_line_field(field) -> None:
    body = assert_clean_problem(
        field.post("/api/v1/sitreps", json=sitrep(line(), line("wash", beneficiaries=3))), 422
    )
    assert ["body", "lines", 1, "beneficiaries"] in locs(body)


def test_unknown_disaggregation_field(field) -> None:
    dis = {"women": 1, "men": 1, "girls": 1, "boys": 1, "others": 96}
    body = assert_clean_problem(
        field.post("/api/v1/sitreps", json=sitrep(line(disaggregation=dis))), 422
    )
    assert ["body", "lines", 0, "disaggregation", "others"] in locs(body)


def test_unknown_field_in_withdrawal(admin, field) -> None:
    created = field.post("/api/v1/sitreps", json=sitrep())
    assert created.status_code == 201, created.text
    response = field.delete(
        f"/api/v1/sitreps/{created.json()['id']}",
        json={"reason": "dup", "force": True},
        headers={"If-Match": created.headers["ETag"]},
    )
    body = assert_clean_problem(response, 422)
    assert ["body", "force"] in locs(body)


def test_unknown_field_on_crisis(admin) -> None:
    crisis = {"name": "X", "kind": "other", "countries": ["SDN"], "started_on": "2024-01-01"}
    body = assert_clean_problem(admin.post("/api/v1/crises", json={**crisis, "id": 7}), 422)
    assert ["body", "id"] in locs(body)


def test_every_problem_is_reported_at_once(field) -> None:
    body = sitrep(line(reached=-1, extra_field=1), line("wash", reached="many"))
    del body["period_start"]
    problem = assert_clean_problem(field.post("/api/v1/sitreps", json=body), 422)
    found = locs(problem)
    assert ["body", "period_start"] in found
    assert ["body", "lines", 0, "people_reached"] in found
    assert ["body", "lines", 0, "extra_field"] in found
    assert ["body", "lines", 1, "people_reached"] in found
    assert "more" in problem["detail"]


# --- wrong types and out-of-range values --------------------------------------------------


@pytest.mark.parametrize(
    ("field_name", "value"),
    [
        ("people_reached", "100"),
        ("people_reached", "many"),
        ("people_reached", 1.5),
        ("people_reached", 100.0),
        ("people_reached", True),
        ("people_reached", None),
        ("people_reached", [100]),
        ("people_reached", -1),
        ("people_reached", 10**12),
        ("people_reached", 10**30),
        ("people_reached_new", -5),
        ("people_targeted", 10**12),
        ("people_targeted", "1500"),
        ("persons_with_disabilities", -1),
        ("sector", "food"),
        ("sector", 3),
        ("division", "HOD-X"),
        ("phase", "aftermath"),
        ("disaggregation", "half women"),
        ("indicators", ["households_assisted"]),
    ],
)
def test_bad_line_value_is_422_at_its_field(field, field_name: str, value: Any) -> None:
    body = sitrep(line(**{field_name: value}) if field_name != "people_reached" else line())
    if field_name == "people_reached":
        body["lines"][0]["people_reached"] = value
    response = field.post("/api/v1/sitreps", json=body)
    problem = assert_clean_problem(response, 422)
    assert any(loc[:4] == ["body", "lines", 0, field_name] for loc in locs(problem)), locs(problem)


@pytest.mark.parametrize(
    ("field_name", "value"),
    [
        ("country", 729),
        ("country", "SUDAN"),
        ("crisis_id", "7"),
        ("crisis_id", 0),
        ("crisis_id", -3),
        ("crisis_id", 10**20),
        ("period_start", "yesterday"),
        ("period_start", "2024-02-30"),
        ("period_start", 20240301),
        ("period_end", "31/03/2024"),
        ("narrative", 42),
        ("narrative", "x" * 20_001),
        ("lines", "one line"),
        ("lines", {"sector": "shelter"}),
    ],
)
def test_bad_sitrep_value_is_422_at_its_field(field, field_name: str, value: Any) -> None:
    problem = assert_clean_problem(
        field.post("/api/v1/sitreps", json={**sitrep(), field_name: value}), 422
    )
    assert any(loc[:2] == ["body", field_name] for loc in locs(problem)), locs(problem)


@pytest.mark.parametrize(
    "value",
    [-1, 10**13, 1.005, "lots", float("nan"), float("inf"), True],
    ids=["negative", "too-big", "three-decimals", "text", "nan", "inf", "bool"],
)
def test_bad_indicator_value_is_422(field, value: Any) -> None:
    body = json.dumps(sitrep(line(indicators={"households_assisted": value})))
    problem = assert_clean_problem(field.post("/api/v1/sitreps", content=body, headers=JSON), 422)
    assert any(
        loc[:5] == ["body", "lines", 0, "indicators", "households_assisted"]
        for loc in locs(problem)
    ), locs(problem)


def test_nothing_is_stored_after_a_422(field) -> None:
    assert_clean_problem(field.post("/api/v1/sitreps", json=sitrep(line(reached=10**12))), 422)
    assert field.get("/api/v1/sitreps").json()["items"] == []


# --- strings the database cannot hold ----------------------------------------------------
# PostgreSQL text cannot contain NUL (0x00); a string with one must be refused as a 422, not
# reach the driver and come back as a 500.


def test_nul_in_narrative_is_not_a_500(field) -> None:
    response = field.post("/api/v1/sitreps", json=sitrep(narrative="Displacement\x00continued"))
    assert response.status_code != 500, response.text
    if response.status_code == 422:
        assert ["body", "narrative"] in locs(assert_clean_problem(response, 422))
    else:
        assert response.status_code == 201
        read = field.get(response.headers["Location"]).json()
        assert read["narrative"] == "Displacement\x00continued"


def test_nul_in_withdrawal_reason_is_not_a_500(field) -> None:
    created = field.post("/api/v1/sitreps", json=sitrep())
    assert created.status_code == 201, created.text
    response = field.delete(
        created.headers["Location"],
        json={"reason": "entered\x00twice"},
        headers={"If-Match": created.headers["ETag"]},
    )
    assert response.status_code in (200, 422), response.text


def test_nul_in_pcode_is_422(field) -> None:
    problem = assert_clean_problem(
        field.post("/api/v1/sitreps", json=sitrep(line(admin1="SD\x0001"))), 422
    )
    assert ["body", "lines", 0, "admin1"] in locs(problem)


def test_nul_in_country_filter_is_not_a_500(field) -> None:
    response = field.get("/api/v1/sitreps", params={"country": "SD\x00"})
    assert_clean_problem(response, 422)


# --- query parameters ---------------------------------------------------------------------

PAGED = [
    "/api/v1/sitreps",
    "/api/v1/crises",
    "/api/v1/sitreps/{sitrep}/revisions",
    "/api/v1/clusters/shelter/feed",
]


@pytest.fixture
def one_sitrep(field) -> int:
    created = field.post("/api/v1/sitreps", json=sitrep())
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


@pytest.mark.parametrize("limit", ["0", "-1", "5000", "1001", "ten", "1.5"])
@pytest.mark.parametrize("path", PAGED)
def test_bad_limit_is_422(admin, one_sitrep: int, path: str, limit: str) -> None:
    response = admin.get(path.format(sitrep=one_sitrep), params={"limit": limit})
    problem = assert_clean_problem(response, 422)
    assert locs(problem) == [["query", "limit"]]


@pytest.mark.parametrize("path", PAGED)
def test_limit_at_the_maximum_is_fine(admin, one_sitrep: int, path: str) -> None:
    response = admin.get(path.format(sitrep=one_sitrep), params={"limit": 1000})
    assert response.status_code == 200, response.text


def _b64(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


BAD_CURSORS = [
    "%%%",
    "not-a-cursor",
    "!!!!",
    "eyJ",  # a truncated cursor
    _b64(b"not json"),
    _b64(b"[1]"),
    _b64(b'{"k": "sitreps"}'),
    _b64(b'{"k": "sitreps", "v": 3}'),
    _b64(b'{"k": "sitreps", "v": ["3"]}'),
    _b64(b'{"k": "sitreps", "v": [true]}'),
    _b64(b'{"k": "sitreps", "v": [1, 2]}'),
    _b64(b'{"k": "sitreps", "v": [1.5]}'),
    _b64(b'{"k": "sitreps", "v": [-1]}'),
    _b64(b'{"k": "sitreps", "v": [99999999999999999999999]}'),
    _b64(b'{"k": "nope", "v": [1]}'),
    _b64(b"\xff\xfe\x00"),
]


@pytest.mark.parametrize("cursor", BAD_CURSORS)
def test_malformed_sitreps_cursor_is_400(admin, cursor: str) -> None:
    body = assert_clean_problem(admin.get("/api/v1/sitreps", params={"cursor": cursor}), 400)
    assert body["type"] == "urn:crisis-tracker:problem:malformed-cursor"


@pytest.mark.parametrize("cursor", ["%%%", _b64(b"{}"), encode_cursor("sitreps", [5])])
def test_malformed_crises_cursor_is_400(admin, cursor: str) -> None:
    assert_clean_problem(admin.get("/api/v1/crises", params={"cursor": cursor}), 400)


@pytest.mark.parametrize("cursor", ["%%%", encode_cursor("crises", [1])])
def test_malformed_revisions_cursor_is_400(admin, one_sitrep: int, cursor: str) -> None:
    response = admin.get(f"/api/v1/sitreps/{one_sitrep}/revisions", params={"cursor": cursor})
    assert_clean_problem(response, 400)


@pytest.mark.parametrize("since", ["%%%", "abc", encode_cursor("sitreps", [1])])
def test_malformed_feed_since_is_400(admin, since: str) -> None:
    response = admin.get("/api/v1/clusters/shelter/feed", params={"since": since})
    assert_clean_problem(response, 400)


def test_a_cursor_from_another_list_is_400(admin, field) -> None:
    for month in ("03", "04"):
        body = sitrep(start=f"2024-{month}-01", end=f"2024-{month}-28")
        assert field.post("/api/v1/sitreps", json=body).status_code == 201
    cursor = admin.get("/api/v1/sitreps", params={"limit": 1}).json()["next_cursor"]
    assert cursor
    assert admin.get("/api/v1/sitreps", params={"cursor": cursor}).status_code == 200
    assert_clean_problem(admin.get("/api/v1/crises", params={"cursor": cursor}), 400)
    assert_clean_problem(admin.get("/api/v1/clusters/shelter/feed", params={"since": cursor}), 400)


@pytest.mark.parametrize(
    ("path", "params", "loc"),
    [
        ("/api/v1/sitreps", {"country": "XXX"}, ["query", "country"]),
        ("/api/v1/sitreps", {"country": ","}, ["query", "country"]),
        ("/api/v1/sitreps", {"period_from": "March"}, ["query", "period_from"]),
        ("/api/v1/sitreps", {"crisis_id": "seven"}, ["query", "crisis_id"]),
        ("/api/v1/sitreps", {"crisis_id": "99999999999999999999"}, ["query", "crisis_id"]),
        ("/api/v1/sitreps", {"status": "deleted"}, ["query", "status"]),
        ("/api/v1/crises", {"kind": "war"}, ["query", "kind"]),
        ("/api/v1/crises", {"country": "SUDAN"}, ["query", "country"]),
        ("/api/v1/totals", {"group_by": "month"}, ["query", "group_by"]),
        ("/api/v1/totals", {"year": "last"}, ["query", "year"]),
        ("/api/v1/totals", {"year": "99999999999999999999"}, ["query", "year"]),
        ("/api/v1/totals", {"sector": "food"}, ["query", "sector"]),
        ("/api/v1/totals", {"crisis_id": "99999999999999999999"}, ["query", "crisis_id"]),
        ("/api/v1/clusters/shelter/feed", {"format": "csv"}, ["query", "format"]),
        ("/api/v1/clusters/shelter/feed", {"country": "XXX"}, ["query", "country"]),
    ],
)
def test_bad_query_value_is_422_at_its_parameter(
    admin, path: str, params: dict[str, str], loc: list[str]
) -> None:
    problem = assert_clean_problem(admin.get(path, params=params), 422)
    assert loc in locs(problem)


# --- paths and methods --------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nothing",
        "/api/v2/sitreps",
        "/api/v1/sitreps/1/nothing",
        "/api/v1/crises/1/sitreps",
        "/nothing",
        "/api/v1",
    ],
)
def test_unknown_path_is_404(admin, path: str) -> None:
    body = assert_clean_problem(admin.get(path), 404)
    assert body["detail"] == "There is no such endpoint."


def test_unknown_path_without_token_is_404_problem(client) -> None:
    assert_clean_problem(client.get("/api/v1/nothing"), 404)


WRONG_METHODS = [
    ("PATCH", "/api/v1/sitreps", {"GET", "POST"}),
    ("DELETE", "/api/v1/sitreps", {"GET", "POST"}),
    ("PATCH", "/api/v1/sitreps/1", {"GET", "PUT", "DELETE"}),
    ("POST", "/api/v1/sitreps/1", {"GET", "PUT", "DELETE"}),
    ("PUT", "/api/v1/crises", {"GET", "POST"}),
    ("DELETE", "/api/v1/crises/1", {"GET"}),
    ("POST", "/api/v1/totals", {"GET"}),
    ("POST", "/api/v1/sectors", {"GET"}),
    ("POST", "/healthz", {"GET"}),
]


@pytest.mark.parametrize(("method", "path", "allowed"), WRONG_METHODS)
def test_wrong_method_is_405(admin, method: str, path: str, allowed: set[str]) -> None:
    response = admin.request(method, path)
    body = assert_clean_problem(response, 405)
    assert body["detail"].startswith(f"{method} is not supported here; use ")
    assert {m for m in allowed if m in body["detail"]} == allowed


def test_405_allow_lists_every_method_of_the_resource(admin) -> None:
    """RFC 9110 §15.5.6: a 405 carries an Allow header listing the target resource's
    methods, all of them, so a client can tell GET /sitreps exists after a PATCH fails."""
    wrong = {}
    for method, path, allowed in WRONG_METHODS:
        response = admin.request(method, path)
        offered = {m.strip() for m in response.headers.get("Allow", "").split(",") if m.strip()}
        if not offered >= allowed:
            wrong[f"{method} {path}"] = sorted(offered)
    assert wrong == {}


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/sitreps/abc",
        "/api/v1/sitreps/1.5",
        "/api/v1/sitreps/abc/revisions",
        "/api/v1/crises/abc",
        "/api/v1/crises/%20",
    ],
)
def test_non_integer_id_is_422(admin, path: str) -> None:
    problem = assert_clean_problem(admin.get(path), 422)
    assert locs(problem)[0][0] == "path"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/sitreps/{id}"),
        ("GET", "/api/v1/sitreps/{id}/revisions"),
        ("PUT", "/api/v1/sitreps/{id}"),
        ("DELETE", "/api/v1/sitreps/{id}"),
        ("GET", "/api/v1/crises/{id}"),
    ],
)
@pytest.mark.parametrize(
    "sitrep_id", ["99999999999999999999", "9223372036854775808", "2147483648", "0", "-1"]
)
def test_out_of_range_id_is_never_a_500(admin, method: str, path: str, sitrep_id: str) -> None:
    kwargs: dict[str, Any] = {"headers": {"If-Match": "*"}}
    if method == "PUT":
        kwargs["json"] = sitrep()
    elif method == "DELETE":
        kwargs["json"] = {"reason": "x"}
    response = admin.request(method, path.format(id=sitrep_id), **kwargs)
    assert response.status_code in (404, 422), response.text
    assert_clean_problem(response, response.status_code)


@pytest.mark.parametrize("sitrep_id", ["2147483647", "999999"])
def test_large_but_valid_id_is_404(admin, sitrep_id: str) -> None:
    assert_clean_problem(admin.get(f"/api/v1/sitreps/{sitrep_id}"), 404)
    assert_clean_problem(admin.get(f"/api/v1/crises/{sitrep_id}"), 404)


def test_oversized_crisis_id_in_body_is_422(field) -> None:
    problem = assert_clean_problem(
        field.post("/api/v1/sitreps", json=sitrep(crisis_id=10**20)), 422
    )
    assert ["body", "crisis_id"] in locs(problem)


# --- every kind of error has the same shape ------------------------------------------------


def test_each_status_is_a_problem(client, api, field) -> None:
    hq = api("hq")
    created = field.post("/api/v1/sitreps", json=sitrep())
    assert created.status_code == 201
    url = created.headers["Location"]
    etag = created.headers["ETag"]
    cases: list[tuple[Response, int, str]] = [
        (client.get("/api/v1/sitreps"), 401, "urn:crisis-tracker:problem:unauthorized"),
        (hq.post("/api/v1/sitreps", json=sitrep()), 403, "urn:crisis-tracker:problem:forbidden"),
        (field.get("/api/v1/sitreps/999"), 404, "urn:crisis-tracker:problem:not-found"),
        (
            field.post("/api/v1/sitreps", json=sitrep()),
            409,
            "urn:crisis-tracker:problem:conflict",
        ),
        (
            field.put(url, json=sitrep(), headers={"If-Match": '"stale"'}),
            412,
            "urn:crisis-tracker:problem:precondition-failed",
        ),
        (field.put(url, json=sitrep()), 428, "urn:crisis-tracker:problem:precondition-required"),
        (
            field.get("/api/v1/sitreps", params={"cursor": "x"}),
            400,
            "urn:crisis-tracker:problem:malformed-cursor",
        ),
        (field.post("/api/v1/sitreps", json={}), 422, "urn:crisis-tracker:problem:validation"),
    ]
    for response, status, type_ in cases:
        body = assert_clean_problem(response, status)
        assert body["type"] == type_
        assert (
            body["title"]
            == {
                400: "Bad Request",
                401: "Unauthorized",
                403: "Forbidden",
                404: "Not Found",
                409: "Conflict",
                412: "Precondition Failed",
                422: "Unprocessable Entity",
                428: "Precondition Required",
            }[status]
        )
    # None of those changed the sitrep.
    assert field.get(url).headers["ETag"] == etag


def test_conflict_names_the_holder(field) -> None:
    first = field.post("/api/v1/sitreps", json=sitrep())
    assert first.status_code == 201
    body = assert_clean_problem(field.post("/api/v1/sitreps", json=sitrep()), 409)
    assert str(first.json()["id"]) in body["detail"]


def test_unexpected_exception_is_a_bare_500(admin, monkeypatch) -> None:
    def boom(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("secret internals: SELECT password FROM users")

    monkeypatch.setattr(crises_service, "get", boom)
    response = admin.get("/api/v1/crises/1")
    body = assert_clean_problem(response, 500)
    assert "secret" not in response.text and "password" not in response.text
    assert body["detail"] == "An unexpected error occurred; it has been logged."


def test_database_outage_is_a_503_with_retry_after(admin, monkeypatch) -> None:
    def down(*_args: Any, **_kwargs: Any) -> None:
        raise OperationalError("SELECT * FROM crises", {}, Exception("connection refused"))

    monkeypatch.setattr(crises_service, "get", down)
    response = admin.get("/api/v1/crises/1")
    body = assert_clean_problem(response, 503)
    assert response.headers["Retry-After"] == "5"
    assert "connection refused" not in response.text
    assert body["type"] == "urn:crisis-tracker:problem:unavailable"


def test_validation_detail_names_the_first_field(field) -> None:
    problem = assert_clean_problem(
        field.post("/api/v1/sitreps", json=sitrep(line(reached=-1))), 422
    )
    assert problem["detail"].startswith("body.lines.0.people_reached: ")


def test_error_messages_are_plain_sentences(field) -> None:
    """Pydantic's prefixes and URLs do not reach the client."""
    body = sitrep(line(reached=-1), line("cash", indicators={"households_assisted": 3}))
    problem = assert_clean_problem(field.post("/api/v1/sitreps", json=body), 422)
    for error in problem["errors"]:
        assert not error["msg"].startswith("Value error")
        assert "errors.pydantic.dev" not in error["msg"]


def test_malformed_body_without_token_is_401(client) -> None:
    """API.md: every endpoint answers 401 without a valid token, whatever the body."""
    response = client.post("/api/v1/sitreps", content=b"{", headers=JSON)
    assert_clean_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "says", "retry_after"),
    [
        ("40P01", "This write met another one at the same time", "1"),
        ("40001", "This write met another one at the same time", "1"),
        ("57014", "The database took longer than 30 s to answer", "5"),
        ("55P03", "held a lock on data this one needed for more than 10 s", "2"),
        ("08006", "The database is not answering", "5"),
    ],
)
def test_each_database_refusal_is_a_503_that_says_what_happened(
    sqlstate: str, says: str, retry_after: str
) -> None:
    """What PostgreSQL answered, by SQLSTATE: writers that met, a statement past
    TRACKER_STATEMENT_TIMEOUT, a lock wait past TRACKER_LOCK_TIMEOUT, or no answer."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from app.http.problems import install_error_handlers

    app = FastAPI()
    install_error_handlers(app)

    @app.get("/refused")
    def refused() -> None:
        raise OperationalError("SELECT 1", {}, _DriverError(sqlstate))

    response = TestClient(app).get("/refused")
    body = assert_problem(response, 503)
    assert body["type"] == "urn:crisis-tracker:problem:unavailable"
    assert says in body["detail"]
    assert response.headers["Retry-After"] == retry_after
