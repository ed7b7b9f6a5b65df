"""Authentication and permissions: who may call what, and which rows each user gets back.

The heart of this file is a matrix: every endpoint of API.md, called by each of the four
roles, in scope (the field officer's country, the coordinator's cluster) and out of scope
(another country or cluster), against the status API.md prescribes. Around it: the rows a
scoped user gets from lists, totals and feeds never belong to a country outside the scope,
and the 401s of the authentication layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from app.auth import service as auth
from app.db import new_session
from app.needs.router import NEEDS_CSV_EXAMPLE
from tests.factories import Api, assert_problem, line, make_user, sitrep

SDN_SITREP = sitrep(line("shelter", admin1="SD01", reached=1000, new=400), country="SDN")
TCD_SITREP = sitrep(line("shelter", admin1="TCD14", reached=700, new=700), country="TCD")
# Bodies for new submissions and full replacements: another period, so no slot is taken twice.
SDN_NEW = sitrep(
    line("shelter", admin1="SD01", reached=50), country="SDN", start="2024-04-01", end="2024-04-30"
)
TCD_NEW = sitrep(
    line("shelter", admin1="TCD14", reached=50), country="TCD", start="2024-04-01", end="2024-04-30"
)
# A 5W sheet of one new sitrep (another period again).
SDN_SHEET = (
    "country,period_start,period_end,sector,division,phase,admin1,people_reached\n"
    "SDN,2024-05-01,2024-05-31,shelter,hod,response,SD01,50\n"
)


@dataclass
class World:
    """Users of each role and one live sitrep in each of two countries."""

    users: dict[str, Api]
    sitreps: dict[str, int]  # country -> sitrep id
    crisis_id: int

    def etag(self, country: str) -> str:
        response = self.users["admin"].get(f"/api/v1/sitreps/{self.sitreps[country]}")
        assert response.status_code == 200, response.text
        return response.headers["ETag"]


@pytest.fixture
def world(api) -> World:
    users = {
        "admin": api("admin"),
        "hq": api("hq"),
        "field": api("field", countries=["SDN"]),
        "coordinator": api("coordinator", clusters=["shelter"]),
    }
    field_tcd = api("field", countries=["TCD"])
    sdn = users["field"].post("/api/v1/sitreps", json=SDN_SITREP)
    tcd = field_tcd.post("/api/v1/sitreps", json=TCD_SITREP)
    assert sdn.status_code == 201, sdn.text
    assert tcd.status_code == 201, tcd.text
    crisis = users["hq"].post(
        "/api/v1/crises",
        json={
            "name": "Sudan conflict",
            "kind": "conflict",
            "countries": ["SDN", "TCD"],
            "started_on": "2023-04-15",
        },
    )
    assert crisis.status_code == 201, crisis.text
    return World(
        users=users,
        sitreps={"SDN": sdn.json()["id"], "TCD": tcd.json()["id"]},
        crisis_id=crisis.json()["id"],
    )


# --- the matrix -------------------------------------------------------------------------

ROLES = ("admin", "hq", "field", "coordinator")


def _call(world: World, role: str, method: str, path: str, scope: str) -> Any:
    """Calls one endpoint as a role. `scope` is "in" (SDN, shelter cluster) or "out" (TCD,
    wash cluster); for endpoints with no scope, "any"."""
    country = "TCD" if scope == "out" else "SDN"
    cluster = "wash" if scope == "out" else "shelter"
    user = world.users[role]
    sitrep_id = world.sitreps[country]
    url = path.format(
        sitrep=sitrep_id, crisis=world.crisis_id, country=country, cluster=cluster, format="csv"
    )
    kwargs: dict[str, Any] = {}
    if method == "POST" and path == "/api/v1/sitreps":
        kwargs["json"] = TCD_NEW if scope == "out" else SDN_NEW
    elif method == "POST" and path == "/api/v1/sitreps/batch":
        kwargs["json"] = {"sitreps": [TCD_NEW if scope == "out" else SDN_NEW]}
    elif method == "POST" and path == "/api/v1/imports":
        kwargs["content"] = SDN_SHEET
        kwargs["headers"] = {"Content-Type": "text/csv"}
    elif method == "POST" and path == "/api/v1/needs":
        kwargs["content"] = NEEDS_CSV_EXAMPLE
        kwargs["headers"] = {"Content-Type": "text/csv"}
    elif method == "POST" and path == "/api/v1/crises":
        kwargs["json"] = {
            "name": "Floods",
            "kind": "natural-disaster",
            "countries": ["SDN"],
            "started_on": "2024-08-01",
        }
    elif method == "PUT":
        body = TCD_SITREP if country == "TCD" else SDN_SITREP
        kwargs["json"] = {**body, "narrative": "Corrected."}
        kwargs["headers"] = {"If-Match": world.etag(country)}
    elif method == "DELETE":
        kwargs["json"] = {"reason": "Entered twice."}
        kwargs["headers"] = {"If-Match": world.etag(country)}
    return user.request(method, url, **kwargs)


# (method, path, scope, {role: status}). Paths take {sitrep}, {crisis}, {country}, {cluster}.
ANYONE = dict.fromkeys(ROLES, 200)
READERS = {"admin": 200, "hq": 200, "field": 200, "coordinator": 403}
READERS_OUT = {"admin": 200, "hq": 200, "field": 403, "coordinator": 403}
WRITERS = {"admin": 200, "hq": 403, "field": 200, "coordinator": 403}
WRITERS_OUT = {"admin": 200, "hq": 403, "field": 403, "coordinator": 403}
# A sitrep addressed by id outside the field officer's countries answers as a missing one.
BY_ID_OUT = {**READERS_OUT, "field": 404}
WRITE_BY_ID_OUT = {**WRITERS_OUT, "field": 404}
MATRIX: list[tuple[str, str, str, dict[str, int]]] = [
    ("GET", "/api/v1/me", "any", ANYONE),
    ("GET", "/api/v1/sectors", "any", ANYONE),
    ("GET", "/api/v1/divisions", "any", ANYONE),
    ("GET", "/api/v1/phases", "any", ANYONE),
    ("GET", "/api/v1/clusters", "any", ANYONE),
    ("GET", "/api/v1/countries", "any", ANYONE),
    ("GET", "/api/v1/countries/{country}/admin-areas", "in", ANYONE),
    ("GET", "/api/v1/countries/{country}/admin-areas", "out", ANYONE),
    ("GET", "/api/v1/crises", "any", ANYONE),
    ("GET", "/api/v1/crises/{crisis}", "any", ANYONE),
    ("POST", "/api/v1/crises", "any", {"admin": 201, "hq": 201, "field": 403, "coordinator": 403}),
    ("POST", "/api/v1/sitreps", "in", {"admin": 201, "hq": 403, "field": 201, "coordinator": 403}),
    ("POST", "/api/v1/sitreps", "out", {"admin": 201, "hq": 403, "field": 403, "coordinator": 403}),
    (
        "POST",
        "/api/v1/sitreps/batch",
        "in",
        {"admin": 200, "hq": 403, "field": 200, "coordinator": 403},
    ),
    ("POST", "/api/v1/imports", "in", {"admin": 200, "hq": 403, "field": 200, "coordinator": 403}),
    ("GET", "/api/v1/sitreps", "any", READERS),
    ("GET", "/api/v1/sitreps?country={country}", "in", READERS),
    ("GET", "/api/v1/sitreps?country={country}", "out", READERS_OUT),
    ("GET", "/api/v1/sitreps/{sitrep}", "in", READERS),
    ("GET", "/api/v1/sitreps/{sitrep}", "out", BY_ID_OUT),
    ("GET", "/api/v1/sitreps/{sitrep}/revisions", "in", READERS),
    ("GET", "/api/v1/sitreps/{sitrep}/revisions", "out", BY_ID_OUT),
    ("PUT", "/api/v1/sitreps/{sitrep}", "in", WRITERS),
    ("PUT", "/api/v1/sitreps/{sitrep}", "out", WRITE_BY_ID_OUT),
    ("DELETE", "/api/v1/sitreps/{sitrep}", "in", WRITERS),
    ("DELETE", "/api/v1/sitreps/{sitrep}", "out", WRITE_BY_ID_OUT),
    ("GET", "/api/v1/totals", "any", READERS),
    ("GET", "/api/v1/totals?country={country}", "in", READERS),
    ("GET", "/api/v1/totals?country={country}", "out", READERS_OUT),
    ("GET", "/api/v1/totals?country=SDN,TCD", "any", READERS_OUT),
    ("POST", "/api/v1/needs", "any", {"admin": 200, "hq": 200, "field": 403, "coordinator": 403}),
    ("GET", "/api/v1/needs", "any", READERS),
    ("GET", "/api/v1/needs?country={country}", "in", READERS),
    ("GET", "/api/v1/needs?country={country}", "out", READERS_OUT),
    ("GET", "/api/v1/reporting/completeness", "any", READERS),
    ("GET", "/api/v1/reporting/completeness?country={country}", "in", READERS),
    ("GET", "/api/v1/reporting/completeness?country={country}", "out", READERS_OUT),
    ("GET", "/api/v1/reporting/double-counting", "any", READERS),
    ("GET", "/api/v1/reporting/double-counting?country={country}", "in", READERS),
    ("GET", "/api/v1/reporting/double-counting?country={country}", "out", READERS_OUT),
    ("GET", "/api/v1/exports/totals.{format}", "any", READERS),
    ("GET", "/api/v1/exports/totals.{format}?country={country}", "in", READERS),
    ("GET", "/api/v1/exports/totals.{format}?country={country}", "out", READERS_OUT),
    ("GET", "/api/v1/exports/lines.{format}", "any", ANYONE),
    ("GET", "/api/v1/exports/lines.{format}?country={country}", "in", ANYONE),
    (
        "GET",
        "/api/v1/exports/lines.{format}?country={country}",
        "out",
        READERS_OUT | {"coordinator": 200},
    ),
    ("GET", "/api/v1/exports/lines.{format}?sector=shelter", "any", ANYONE),
    # A coordinator of the shelter cluster asking for another cluster's sector.
    ("GET", "/api/v1/exports/lines.{format}?sector=wash", "any", READERS),
    ("GET", "/api/v1/audit", "any", {"admin": 200, "hq": 200, "field": 403, "coordinator": 403}),
    (
        "GET",
        "/api/v1/clusters/{cluster}/feed",
        "in",
        {"admin": 200, "hq": 200, "field": 403, "coordinator": 200},
    ),
    (
        "GET",
        "/api/v1/clusters/{cluster}/feed",
        "out",
        {"admin": 200, "hq": 200, "field": 403, "coordinator": 403},
    ),
]

CASES = [
    pytest.param(
        method,
        path,
        scope,
        role,
        statuses[role],
        id=f"{method} {path} [{scope}] as {role} -> {statuses[role]}",
    )
    for method, path, scope, statuses in MATRIX
    for role in ROLES
]


@pytest.mark.parametrize(("method", "path", "scope", "role", "expected"), CASES)
def test_permission_matrix(
    world: World, method: str, path: str, scope: str, role: str, expected: int
) -> None:
    response = _call(world, role, method, path, scope)
    if expected == 403:
        body = assert_problem(response, 403)
        assert body["type"] == "urn:crisis-tracker:problem:forbidden"
    else:
        assert response.status_code == expected, response.text


def _api_endpoints(app) -> set[tuple[str, str]]:
    """(METHOD, path template) of every /api/v1 operation the service publishes."""
    return {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/api/v1/")
        for method in operations
    }


def test_matrix_covers_every_endpoint(app) -> None:
    """A new endpoint must get a row in the matrix (and a decision about who may call it)."""
    covered = {(method, path.split("?")[0]) for method, path, _, _ in MATRIX}
    missing = []
    for method, template in _api_endpoints(app):
        path = template.replace("{sitrep_id}", "{sitrep}").replace("{crisis_id}", "{crisis}")
        if path.startswith("/api/v1/countries/"):
            path = path.replace("{code}", "{country}")
        path = path.replace("{code}", "{cluster}")
        if (method, path) not in covered:
            missing.append(f"{method} {template}")
    assert len(_api_endpoints(app)) >= 18
    assert missing == []


def test_forbidden_writes_change_nothing(world: World) -> None:
    """A refused amendment or withdrawal leaves the sitrep as it was."""
    before = world.etag("TCD")
    field = world.users["field"]
    tcd = world.sitreps["TCD"]
    headers = {"If-Match": before}
    assert_problem(field.put(f"/api/v1/sitreps/{tcd}", json=TCD_SITREP, headers=headers), 404)
    assert_problem(
        field.delete(f"/api/v1/sitreps/{tcd}", json={"reason": "x"}, headers=headers), 404
    )
    assert_problem(
        world.users["hq"].delete(f"/api/v1/sitreps/{tcd}", json={"reason": "x"}, headers=headers),
        403,
    )
    after = world.users["admin"].get(f"/api/v1/sitreps/{tcd}").json()
    assert world.etag("TCD") == before
    assert after["revision"] == 1 and after["status"] == "submitted"


def test_forbidden_submission_stores_nothing(world: World) -> None:
    for role in ("hq", "coordinator"):
        assert_problem(world.users[role].post("/api/v1/sitreps", json=SDN_NEW), 403)
    assert_problem(world.users["field"].post("/api/v1/sitreps", json=TCD_NEW), 403)
    listed = world.users["admin"].get("/api/v1/sitreps").json()["items"]
    assert sorted(s["id"] for s in listed) == sorted(world.sitreps.values())


def test_forbidden_crisis_stores_nothing(world: World) -> None:
    body = {"name": "X", "kind": "other", "countries": ["SDN"], "started_on": "2024-01-01"}
    assert_problem(world.users["field"].post("/api/v1/crises", json=body), 403)
    assert_problem(world.users["coordinator"].post("/api/v1/crises", json=body), 403)
    assert [c["id"] for c in world.users["hq"].get("/api/v1/crises").json()["items"]] == [
        world.crisis_id
    ]


def test_unknown_sitrep_is_404_for_writers(world: World) -> None:
    headers = {"If-Match": "*"}
    for role in ("admin", "field"):
        user = world.users[role]
        assert_problem(user.get("/api/v1/sitreps/999999"), 404)
        assert_problem(user.put("/api/v1/sitreps/999999", json=SDN_SITREP, headers=headers), 404)
        assert_problem(
            user.delete("/api/v1/sitreps/999999", json={"reason": "x"}, headers=headers), 404
        )


# --- rows stay within the user's countries ------------------------------------------------


def _countries(items: list[dict[str, Any]]) -> set[str]:
    return {item["country"] for item in items}


def test_field_lists_only_own_countries(world: World) -> None:
    field = world.users["field"]
    items = field.get("/api/v1/sitreps").json()["items"]
    assert [s["id"] for s in items] == [world.sitreps["SDN"]]
    assert _countries(items) == {"SDN"}
    # Every filter and page size keeps to the scope.
    for params in (
        {"limit": 1},
        {"status": "submitted"},
        {"period_from": "2024-01-01", "period_to": "2024-12-31"},
        {"country": "SDN"},
        {"country": "sdn"},
    ):
        page = field.get("/api/v1/sitreps", params=params)
        assert page.status_code == 200, page.text
        assert _countries(page.json()["items"]) <= {"SDN"}, params


def test_field_paging_never_reaches_other_countries(api, world: World) -> None:
    """Several pages through a field officer's list contain only their country."""
    field = world.users["field"]
    tcd_officer = api("field", countries=["TCD"])
    for month in ("05", "06", "07"):
        body = sitrep(
            line(admin1="TCD14"), country="TCD", start=f"2024-{month}-01", end=f"2024-{month}-28"
        )
        assert tcd_officer.post("/api/v1/sitreps", json=body).status_code == 201
        body = sitrep(
            line(admin1="SD01"), country="SDN", start=f"2024-{month}-01", end=f"2024-{month}-28"
        )
        assert field.post("/api/v1/sitreps", json=body).status_code == 201
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1}
        if cursor:
            params["cursor"] = cursor
        page = field.get("/api/v1/sitreps", params=params).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 4
    assert _countries(seen) == {"SDN"}


def test_hq_and_admin_list_every_country(world: World) -> None:
    for role in ("hq", "admin"):
        items = world.users[role].get("/api/v1/sitreps").json()["items"]
        assert _countries(items) == {"SDN", "TCD"}


def test_field_with_two_countries_sees_both(api, world: World) -> None:
    officer = api("field", countries=["SDN", "TCD"])
    assert _countries(officer.get("/api/v1/sitreps").json()["items"]) == {"SDN", "TCD"}
    rows = officer.get("/api/v1/totals").json()["rows"]
    assert {r["country"] for r in rows} == {"SDN", "TCD"}
    assert officer.get(f"/api/v1/sitreps/{world.sitreps['TCD']}").status_code == 200


def test_field_totals_only_own_countries(world: World) -> None:
    field = world.users["field"]
    for params in ({}, {"group_by": "sector,admin1"}, {"year": "2024"}, {"sector": "shelter"}):
        response = field.get("/api/v1/totals", params=params)
        assert response.status_code == 200, response.text
        rows = response.json()["rows"]
        assert rows and {r["country"] for r in rows} == {"SDN"}, params
    rows = field.get("/api/v1/totals").json()["rows"]
    assert rows == [
        {
            "country": "SDN",
            "year": 2024,
            "people_reached": 400,
            "people_reached_unique": 400,
            "people_reached_in_periods": 1000,
            "people_targeted": 0,
            "people_targeted_unique": 0,
            "women": 0,
            "men": 0,
            "girls": 0,
            "boys": 0,
            "people_reached_not_disaggregated": 400,
            "lines": 1,
            "people_in_need": None,
            "coverage": None,
        }
    ]
    # hq sees both countries in the same query.
    hq_rows = world.users["hq"].get("/api/v1/totals").json()["rows"]
    assert [r["country"] for r in hq_rows] == ["SDN", "TCD"]


def _as_missing(world: World, method: str, path: str, **kwargs: Any) -> None:
    """A field officer addressing a sitrep of another country by id hears exactly what a
    missing id answers: same status, type and wording, nothing of the sitrep."""
    field = world.users["field"]
    tcd = world.sitreps["TCD"]
    missing = max(world.sitreps.values()) + 1000
    out = field.request(method, path.format(id=tcd), **kwargs)
    absent = field.request(method, path.format(id=missing), **kwargs)
    body = assert_problem(out, 404)
    assert assert_problem(absent, 404) == {
        **body,
        "detail": body["detail"].replace(str(tcd), str(missing)),
    }
    assert "TCD" not in out.text and "Chad" not in out.text and "700" not in out.text
    assert "lines" not in body and "narrative" not in body


def test_field_cannot_read_other_country_revisions(world: World) -> None:
    _as_missing(world, "GET", "/api/v1/sitreps/{id}/revisions")


def test_forbidden_read_does_not_leak_the_sitrep(world: World) -> None:
    _as_missing(world, "GET", "/api/v1/sitreps/{id}")


def test_other_countrys_sitrep_cannot_be_changed_and_looks_missing(world: World) -> None:
    headers = {"If-Match": world.etag("TCD")}
    _as_missing(world, "PUT", "/api/v1/sitreps/{id}", json=TCD_SITREP, headers=headers)
    _as_missing(world, "DELETE", "/api/v1/sitreps/{id}", json={"reason": "x"}, headers=headers)


def test_coordinator_feed_is_limited_to_own_clusters(world: World) -> None:
    coordinator = world.users["coordinator"]
    feed = coordinator.get("/api/v1/clusters/shelter/feed")
    assert feed.status_code == 200, feed.text
    assert _countries(feed.json()["items"]) == {"SDN", "TCD"}
    for cluster in ("wash", "cccm", "health", "cwg"):
        body = assert_problem(coordinator.get(f"/api/v1/clusters/{cluster}/feed"), 403)
        assert cluster in body["detail"]
    # The HXL form is refused the same way.
    assert_problem(coordinator.get("/api/v1/clusters/wash/feed", params={"format": "hxl"}), 403)


def test_coordinator_with_countries_gets_only_those(api, world: World) -> None:
    coordinator = api("coordinator", clusters=["shelter"], countries=["SDN"])
    feed = coordinator.get("/api/v1/clusters/shelter/feed")
    assert feed.status_code == 200, feed.text
    assert _countries(feed.json()["items"]) == {"SDN"}
    assert_problem(coordinator.get("/api/v1/clusters/shelter/feed", params={"country": "TCD"}), 403)
    hxl = coordinator.get("/api/v1/clusters/shelter/feed", params={"format": "hxl"})
    assert hxl.status_code == 200
    rows = hxl.json()
    country_col = rows[0].index("country")
    assert {row[country_col] for row in rows[2:]} == {"SDN"}


def test_field_cannot_read_feeds_at_all(world: World) -> None:
    for cluster in ("shelter", "wash", "cccm", "health", "cwg"):
        assert_problem(world.users["field"].get(f"/api/v1/clusters/{cluster}/feed"), 403)


def test_coordinator_cannot_read_sitreps_or_totals(world: World) -> None:
    coordinator = world.users["coordinator"]
    for url in (
        "/api/v1/sitreps",
        f"/api/v1/sitreps/{world.sitreps['SDN']}",
        f"/api/v1/sitreps/{world.sitreps['SDN']}/revisions",
        "/api/v1/totals",
        "/api/v1/reporting/completeness",
        "/api/v1/reporting/double-counting",
    ):
        body = assert_problem(coordinator.get(url), 403)
        assert "coordinator" in body["detail"]


# --- authentication ---------------------------------------------------------------------

# One request per endpoint; ids and codes are arbitrary since none should be reached.
PROTECTED = [
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/sectors"),
    ("GET", "/api/v1/divisions"),
    ("GET", "/api/v1/phases"),
    ("GET", "/api/v1/clusters"),
    ("GET", "/api/v1/countries"),
    ("GET", "/api/v1/countries/SDN/admin-areas"),
    ("GET", "/api/v1/crises"),
    ("GET", "/api/v1/crises/1"),
    ("POST", "/api/v1/crises"),
    ("GET", "/api/v1/sitreps"),
    ("POST", "/api/v1/sitreps"),
    ("POST", "/api/v1/sitreps/batch"),
    ("POST", "/api/v1/imports"),
    ("POST", "/api/v1/needs"),
    ("GET", "/api/v1/needs"),
    ("GET", "/api/v1/sitreps/1"),
    ("PUT", "/api/v1/sitreps/1"),
    ("DELETE", "/api/v1/sitreps/1"),
    ("GET", "/api/v1/sitreps/1/revisions"),
    ("GET", "/api/v1/totals"),
    ("GET", "/api/v1/reporting/completeness"),
    ("GET", "/api/v1/reporting/double-counting"),
    ("GET", "/api/v1/clusters/shelter/feed"),
    ("GET", "/api/v1/exports/totals.csv"),
    ("GET", "/api/v1/exports/lines.xlsx"),
    ("GET", "/api/v1/audit"),
]


def _assert_unauthorized(response: Any) -> None:
    body = assert_problem(response, 401)
    assert body["type"] == "urn:crisis-tracker:problem:unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_protected_list_covers_every_endpoint(app) -> None:
    templates = _api_endpoints(app)
    concrete = {
        (method, path.replace("/SDN/", "/{code}/").replace("/shelter/", "/{code}/"))
        for method, path in PROTECTED
    }
    concrete = {
        (
            method,
            path.replace("/crises/1", "/crises/{crisis_id}")
            .replace("/sitreps/1", "/sitreps/{sitrep_id}")
            .replace(".csv", ".{format}")
            .replace(".xlsx", ".{format}"),
        )
        for method, path in concrete
    }
    assert templates == concrete


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_no_token_is_401(client, method: str, path: str) -> None:
    # A well-formed body, so that nothing but the missing token can be wrong.
    kwargs: dict[str, Any] = {}
    if method in ("POST", "PUT"):
        kwargs["json"] = SDN_SITREP
    elif method == "DELETE":
        kwargs["json"] = {"reason": "x"}
    _assert_unauthorized(client.request(method, path, **kwargs))


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_invalid_body_without_token_is_still_401(client, method: str, path: str) -> None:
    """Authentication comes before validation: an anonymous caller learns nothing of the
    schema."""
    kwargs: dict[str, Any] = {}
    if method in ("POST", "PUT", "DELETE"):
        kwargs["json"] = {"unexpected": True}
    _assert_unauthorized(client.request(method, path, **kwargs))


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_bad_path_parameter_without_token_is_401(client, method: str, path: str) -> None:
    path = path.replace("/1", "/abc")
    _assert_unauthorized(client.request(method, path))


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic dXNlcjpwYXNz",
        "Token ct_abc",
        "Bearer",
        "Bearer ",
        "ct_abc",
        "Bearer ct_not-a-real-token",
        "Bearer " + "x" * 5000,
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/sitreps", "/api/v1/totals"])
def test_invalid_authorization_is_401(client, authorization: str, path: str) -> None:
    _assert_unauthorized(client.get(path, headers={"Authorization": authorization}))


def test_token_of_another_scheme_is_not_accepted(client) -> None:
    """A valid token sent under another scheme does not authenticate."""
    token = make_user("admin")
    _assert_unauthorized(client.get("/api/v1/me", headers={"Authorization": f"Basic {token}"}))
    _assert_unauthorized(client.get("/api/v1/me", headers={"Authorization": f"Token {token}"}))
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_token_must_match_exactly(client) -> None:
    token = make_user("admin")
    for wrong in (token[:-1], token + "x", token.upper(), token[3:], f"{token} {token}"):
        _assert_unauthorized(client.get("/api/v1/me", headers={"Authorization": f"Bearer {wrong}"}))


def _revoke(name: str) -> None:
    with new_session() as session:
        auth.revoke_tokens(session, user=auth.get_user_by_name(session, name=name))
        session.commit()


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_revoked_token_is_401(client, method: str, path: str) -> None:
    token = make_user("admin", name="revoked-admin")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    _revoke("revoked-admin")
    kwargs: dict[str, Any] = {"headers": headers}
    if method in ("POST", "PUT"):
        kwargs["json"] = SDN_SITREP
    elif method == "DELETE":
        kwargs["json"] = {"reason": "x"}
    _assert_unauthorized(client.request(method, path, **kwargs))


def test_revoking_one_user_leaves_others_working(client) -> None:
    kept = make_user("field", countries=["SDN"], name="kept")
    revoked = make_user("field", countries=["SDN"], name="gone")
    _revoke("gone")
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {kept}"}).json()["name"]
        == "kept"
    )
    _assert_unauthorized(client.get("/api/v1/me", headers={"Authorization": f"Bearer {revoked}"}))


def test_revoked_token_cannot_write(client) -> None:
    token = make_user("field", countries=["SDN"], name="writer")
    headers = {"Authorization": f"Bearer {token}"}
    _revoke("writer")
    _assert_unauthorized(client.post("/api/v1/sitreps", json=SDN_SITREP, headers=headers))
    admin = make_user("admin")
    listed = client.get("/api/v1/sitreps", headers={"Authorization": f"Bearer {admin}"})
    assert listed.json()["items"] == []


def test_new_token_after_revocation_works(client) -> None:
    make_user("hq", name="rotating")
    _revoke("rotating")
    with new_session() as session:
        token = auth.issue_token(session, user=auth.get_user_by_name(session, name="rotating"))
        session.commit()
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["name"] == "rotating"


def test_scheme_name_is_case_insensitive(client) -> None:
    """RFC 9110: the authentication scheme is case-insensitive."""
    token = make_user("hq")
    for scheme in ("bearer", "BEARER"):
        response = client.get("/api/v1/me", headers={"Authorization": f"{scheme} {token}"})
        assert response.status_code == 200, response.text


def test_unauthorized_detail_does_not_say_whether_a_token_exists(client) -> None:
    token = make_user("hq", name="soon-revoked")
    _revoke("soon-revoked")
    revoked = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    unknown = client.get("/api/v1/me", headers={"Authorization": "Bearer ct_unknown"})
    assert revoked.json() == unknown.json()


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/openapi.json", "/docs"])
def test_open_endpoints_need_no_token(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text


def test_health_bodies(client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ok" and ready["database"] == "ok" and ready["migrations"]


def test_open_endpoints_ignore_a_bad_token(client) -> None:
    headers = {"Authorization": "Bearer ct_nonsense"}
    assert client.get("/healthz", headers=headers).status_code == 200
    assert client.get("/readyz", headers=headers).status_code == 200


def test_openapi_declares_bearer_security(client) -> None:
    schema = client.get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert any(s.get("scheme", "").lower() == "bearer" for s in schemes.values())


def test_batch_refuses_only_the_sitreps_outside_the_field_officers_countries(
    world: World,
) -> None:
    field = world.users["field"]
    response = field.post("/api/v1/sitreps/batch", json={"sitreps": [TCD_NEW, SDN_NEW]})
    results = response.json()["results"]
    assert [r["status"] for r in results] == [403, 201]
    assert results[0]["problem"]["type"] == "urn:crisis-tracker:problem:forbidden"
    assert "TCD" not in {s["country"] for s in field.get("/api/v1/sitreps").json()["items"]}
