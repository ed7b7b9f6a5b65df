"""Reference lists, /me, and crises: registering, reading, filtering and paging them."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.factories import assert_problem, line, sitrep

# --- reference lists ------------------------------------------------------------------------


@pytest.fixture
def user(api):
    return api("field", countries=["SDN"])


def test_sectors(user) -> None:
    response = user.get("/api/v1/sectors")
    assert response.status_code == 200
    sectors = {s["code"]: s for s in response.json()}
    assert set(sectors) == {"shelter", "wash", "cccm", "cash", "health"}
    assert len(response.json()) == 5
    for sector in sectors.values():
        assert set(sector) == {"code", "name", "description", "cluster", "indicators"}
        assert sector["name"] and sector["description"]
        for indicator in sector["indicators"]:
            assert set(indicator) == {"code", "name", "kind"}
            assert indicator["kind"] in ("count", "usd")
    assert {s: sectors[s]["cluster"] for s in sectors} == {
        "shelter": "shelter",
        "wash": "wash",
        "cccm": "cccm",
        "cash": "cwg",
        "health": "health",
    }
    shelter = {i["code"]: i for i in sectors["shelter"]["indicators"]}
    assert {"households_assisted", "shelter_kits"} <= set(shelter)
    assert shelter["households_assisted"]["kind"] == "count"
    cash = {i["code"]: i for i in sectors["cash"]["indicators"]}
    assert cash["cash_usd"]["kind"] == "usd"
    # An indicator code belongs to one sector only.
    codes = [i["code"] for s in sectors.values() for i in s["indicators"]]
    assert len(codes) == len(set(codes))


def test_divisions(user) -> None:
    divisions = user.get("/api/v1/divisions").json()
    assert [d["code"] for d in divisions] == ["pcca", "prd", "hod"]
    assert all(d["name"] and d["description"] for d in divisions)
    assert {d["code"]: d["name"] for d in divisions}["hod"] == "Humanitarian Operations"


def test_phases(user) -> None:
    phases = user.get("/api/v1/phases").json()
    assert [p["code"] for p in phases] == ["preparedness", "response", "recovery"]
    assert all(p["name"] and p["description"] for p in phases)


def test_clusters(user) -> None:
    clusters = {c["code"]: c for c in user.get("/api/v1/clusters").json()}
    assert set(clusters) == {"cccm", "shelter", "wash", "health", "cwg"}
    for cluster in clusters.values():
        assert cluster["name"]
        assert cluster["sectors"]
    assert clusters["cwg"]["sectors"] == ["cash"]
    # Every sector is coordinated by exactly one cluster.
    covered = [s for c in clusters.values() for s in c["sectors"]]
    assert sorted(covered) == sorted(["shelter", "wash", "cccm", "cash", "health"])


def test_sector_clusters_agree_with_cluster_list(user) -> None:
    clusters = user.get("/api/v1/clusters").json()
    owner = {s: c["code"] for c in clusters for s in c["sectors"]}
    for sector in user.get("/api/v1/sectors").json():
        assert owner[sector["code"]] == sector["cluster"]


def test_countries(user) -> None:
    countries = user.get("/api/v1/countries").json()
    assert len(countries) == 249
    codes = [c["code"] for c in countries]
    assert codes == sorted(codes)
    assert len(set(codes)) == len(codes)
    assert all(len(code) == 3 and code.isupper() and code.isalpha() for code in codes)
    by_code = {c["code"]: c for c in countries}
    assert by_code["SDN"] == {
        "code": "SDN",
        "name": "Sudan",
        "region": "Africa",
        "admin1_count": 19,
    }
    assert by_code["TCD"]["admin1_count"] == 23
    assert {"UKR", "AFG", "HTI", "SYR", "COD"} <= set(by_code)
    for country in countries:
        assert set(country) == {"code", "name", "region", "admin1_count"}

        assert country["name"]
        assert country["admin1_count"] >= 0


@pytest.mark.parametrize(
    ("accept", "language", "names"),
    [
        (
            "fr-FR,fr;q=0.9",
            "fr",
            {"SDN": "Soudan", "HTI": "Haïti", "SYR": "République arabe syrienne"},
        ),
        ("es", "es", {"SDN": "Sudán", "HTI": "Haití", "TCD": "Chad"}),
        ("de", None, {"SDN": "Sudan", "HTI": "Haiti", "SYR": "Syrian Arab Republic"}),
    ],
)
def test_country_names_follow_accept_language(
    user, accept: str, language: str | None, names: dict[str, str]
) -> None:
    answer = user.get("/api/v1/countries", headers={"Accept-Language": accept})
    by_code = {c["code"]: c["name"] for c in answer.json()}
    assert {code: by_code[code] for code in names} == names
    assert answer.headers.get("Content-Language") == (language or "en")


def test_sudan_admin1(user) -> None:
    response = user.get("/api/v1/countries/SDN/admin-areas")
    assert response.status_code == 200
    areas = response.json()
    assert len(areas) == 19
    assert areas[0] == {"code": "SD01", "name": "Khartoum", "level": 1, "parent": "SDN"}
    assert all(a["level"] == 1 and a["parent"] == "SDN" for a in areas)
    assert [a["code"] for a in areas] == sorted(a["code"] for a in areas)


def test_admin1_count_matches_admin_areas(user) -> None:
    counts = {c["code"]: c["admin1_count"] for c in user.get("/api/v1/countries").json()}
    for code in ("SDN", "TCD", "AFG"):
        assert len(user.get(f"/api/v1/countries/{code}/admin-areas").json()) == counts[code]


def test_khartoum_admin2(user) -> None:
    response = user.get("/api/v1/countries/SDN/admin-areas", params={"parent": "SD01"})
    assert response.status_code == 200
    areas = response.json()
    assert len(areas) == 7
    assert all(a["level"] == 2 and a["parent"] == "SD01" for a in areas)
    assert all(a["code"].startswith("SD01") for a in areas)
    assert {"code": "SD01001", "name": "Jebel Awlia", "level": 2, "parent": "SD01"} in areas


def test_chad_admin1(user) -> None:
    areas = user.get("/api/v1/countries/TCD/admin-areas").json()
    assert "TCD14" in {a["code"] for a in areas}


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/countries/XXX/admin-areas", {}),
        ("/api/v1/countries/SUDAN/admin-areas", {}),
        ("/api/v1/countries/SDN/admin-areas", {"parent": "TCD14"}),  # another country's
        ("/api/v1/countries/SDN/admin-areas", {"parent": "SD99"}),  # no such p-code
        ("/api/v1/countries/SDN/admin-areas", {"parent": "SD01001"}),  # an admin2
        ("/api/v1/countries/SDN/admin-areas", {"parent": "SDN"}),  # the country itself
        ("/api/v1/countries/TCD/admin-areas", {"parent": "SD01"}),
    ],
)
def test_unknown_admin_areas_are_404(user, path: str, params: dict[str, str]) -> None:
    body = assert_problem(user.get(path, params=params), 404)
    assert body["type"] == "urn:crisis-tracker:problem:not-found"


def test_country_without_admin_areas_is_an_empty_list(user) -> None:
    assert user.get("/api/v1/countries/ATA/admin-areas").json() == []


def _reference_pcodes(country: str) -> list[dict[str, Any]]:
    """The rows of the shipped p-code file for a country, read here on their own."""
    path = Path(__file__).resolve().parents[2] / "app" / "reference" / "data" / "pcodes.csv"
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))[2:]  # past the column names and the HXL hashtags
    return [
        {"code": code, "name": name, "level": int(level), "parent": parent}
        for location, level, code, name, parent, _valid_from in rows
        if location == country
    ]


def test_sudan_every_admin2(user) -> None:
    expected = sorted(
        (a for a in _reference_pcodes("SDN") if a["level"] == 2), key=lambda a: a["code"]
    )
    assert len(expected) > 100
    response = user.get("/api/v1/countries/SDN/admin-areas", params={"level": "2"})
    assert response.status_code == 200, response.text
    assert response.json() == expected
    assert {"code": "SD02114", "name": "Al Fasher", "level": 2, "parent": "SD02"} in expected


def test_sudan_level_all_is_admin1_then_admin2(user) -> None:
    reference = _reference_pcodes("SDN")
    response = user.get("/api/v1/countries/sdn/admin-areas", params={"level": "all"})
    assert response.status_code == 200, response.text
    areas = response.json()
    admin1 = [a for a in areas if a["level"] == 1]
    admin2 = [a for a in areas if a["level"] == 2]
    assert areas == admin1 + admin2
    assert len(admin1) == 19
    assert len(admin2) == sum(1 for a in reference if a["level"] == 2)
    assert admin1 == sorted((a for a in reference if a["level"] == 1), key=lambda a: a["code"])
    assert admin2 == sorted((a for a in reference if a["level"] == 2), key=lambda a: a["code"])
    # Every admin2 hangs from an admin1 of the same answer: a form can build its menus.
    assert {a["parent"] for a in admin2} <= {a["code"] for a in admin1}
    assert all(set(a) == {"code", "name", "level", "parent"} for a in areas)


def test_level_1_is_the_default(user) -> None:
    default = user.get("/api/v1/countries/SDN/admin-areas").json()
    assert user.get("/api/v1/countries/SDN/admin-areas", params={"level": "1"}).json() == default
    assert len(default) == 19


def test_level_2_with_parent_is_that_admin1s_admin2(user) -> None:
    path = "/api/v1/countries/SDN/admin-areas"
    alone = user.get(path, params={"parent": "SD01"}).json()
    assert user.get(path, params={"parent": "sd01", "level": "2"}).json() == alone
    assert len(alone) == 7


def test_level_all_of_a_country_without_admin_areas(user) -> None:
    response = user.get("/api/v1/countries/ATA/admin-areas", params={"level": "all"})
    assert response.json() == []


@pytest.mark.parametrize("level", ["3", "0", "ALL", "admin2"])
def test_bad_level_is_422(user, level: str) -> None:
    response = user.get("/api/v1/countries/SDN/admin-areas", params={"level": level})
    body = assert_problem(response, 422)
    assert [e["loc"] for e in body["errors"]] == [["query", "level"]]


@pytest.mark.parametrize("level", ["1", "all"])
def test_parent_with_level_1_or_all_is_422(user, level: str) -> None:
    response = user.get(
        "/api/v1/countries/SDN/admin-areas", params={"level": level, "parent": "SD01"}
    )
    body = assert_problem(response, 422)
    assert [e["loc"] for e in body["errors"]] == [["query", "parent"]]
    assert "level=2" in body["errors"][0]["msg"]


def test_level_all_of_an_unknown_country_is_404(user) -> None:
    response = user.get("/api/v1/countries/XXX/admin-areas", params={"level": "all"})
    assert assert_problem(response, 404)["detail"] == "There is no country with ISO3 code 'XXX'."


# --- /me ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "scope", "countries", "clusters"),
    [
        ("admin", {}, [], []),
        ("hq", {}, [], []),
        ("field", {"countries": ["TCD", "SDN"]}, ["SDN", "TCD"], []),
        ("field", {"countries": ["sdn"]}, ["SDN"], []),
        ("coordinator", {"clusters": ["wash", "shelter"]}, [], ["shelter", "wash"]),
        (
            "coordinator",
            {"clusters": ["cwg"], "countries": ["SDN"]},
            ["SDN"],
            ["cwg"],
        ),
    ],
)
def test_me(api, role: str, scope: dict[str, Any], countries: list[str], clusters: list[str]):
    name = f"me-{role}-{len(countries)}-{len(clusters)}"
    response = api(role, name=name, **scope).get("/api/v1/me")
    assert response.status_code == 200
    me = response.json()
    assert set(me) == {"id", "name", "role", "countries", "clusters"}
    assert isinstance(me["id"], int)
    assert me["name"] == name
    assert me["role"] == role
    assert me["countries"] == countries
    assert me["clusters"] == clusters


def test_me_tells_users_apart(api) -> None:
    first = api("hq", name="first").get("/api/v1/me").json()
    second = api("hq", name="second").get("/api/v1/me").json()
    assert first["id"] != second["id"]
    assert (first["name"], second["name"]) == ("first", "second")


# --- crises: creating ---------------------------------------------------------------------

TODAY = datetime.now(UTC).date()


def crisis(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Sudan regional crisis",
        "kind": "conflict",
        "countries": ["SDN", "TCD"],
        "started_on": "2023-04-15",
    }
    body.update(overrides)
    return body


@pytest.mark.parametrize("role", ["hq", "admin"])
def test_create_crisis(api, role: str) -> None:
    creator = api(role)
    response = creator.post(
        "/api/v1/crises", json=crisis(glide="CE-2023-000063-SDN", scale_up=True)
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert isinstance(body["id"], int)
    assert response.headers["Location"] == f"/api/v1/crises/{body['id']}"
    assert body["name"] == "Sudan regional crisis"
    assert body["kind"] == "conflict"
    assert body["countries"] == ["SDN", "TCD"]
    assert body["started_on"] == "2023-04-15"
    assert body["glide"] == "CE-2023-000063-SDN"
    assert body["scale_up"] is True
    created_at = datetime.fromisoformat(body["created_at"].replace("Z", "+00:00"))
    assert created_at.tzinfo is not None
    assert abs(datetime.now(UTC) - created_at) < timedelta(minutes=5)
    read = creator.get(response.headers["Location"])
    assert read.status_code == 200
    assert read.json() == body


def test_crisis_defaults(hq) -> None:
    body = hq.post("/api/v1/crises", json=crisis()).json()
    assert body["glide"] is None
    assert body["scale_up"] is False


def test_crisis_is_normalised(hq) -> None:
    response = hq.post(
        "/api/v1/crises",
        json=crisis(name="  Floods  ", countries=["tcd", "sdn"], glide=" fl-2024-000123-sdn "),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "Floods"
    assert body["countries"] == ["SDN", "TCD"]
    assert body["glide"] == "FL-2024-000123-SDN"


@pytest.mark.parametrize("kind", ["conflict", "natural-disaster", "epidemic", "complex", "other"])
def test_every_crisis_kind(hq, kind: str) -> None:
    response = hq.post("/api/v1/crises", json=crisis(kind=kind))
    assert response.status_code == 201, response.text
    assert response.json()["kind"] == kind


def test_crisis_may_start_today(hq) -> None:
    response = hq.post("/api/v1/crises", json=crisis(started_on=TODAY.isoformat()))
    assert response.status_code == 201, response.text


def test_crisis_in_one_country(hq) -> None:
    response = hq.post("/api/v1/crises", json=crisis(countries=["HTI"]))
    assert response.status_code == 201, response.text
    assert response.json()["countries"] == ["HTI"]


def _problem_locs(response: Any) -> list[list[Any]]:
    body = assert_problem(response, 422)
    assert body["type"] == "urn:crisis-tracker:problem:validation"
    return [error["loc"] for error in body["errors"]]


@pytest.mark.parametrize(
    ("overrides", "loc"),
    [
        ({"kind": "war"}, ["body", "kind"]),
        ({"kind": "Conflict"}, ["body", "kind"]),
        ({"kind": None}, ["body", "kind"]),
        ({"countries": []}, ["body", "countries"]),
        ({"countries": "SDN"}, ["body", "countries"]),
        ({"countries": ["SD"]}, ["body", "countries", 0]),
        ({"countries": ["SDN", "XXX"]}, ["body", "countries", 1]),
        ({"countries": ["SDN", "ZZZ", "TCD"]}, ["body", "countries", 1]),
        ({"countries": ["SDN", "sdn"]}, ["body", "countries"]),
        ({"name": ""}, ["body", "name"]),
        ({"name": "   "}, ["body", "name"]),
        ({"name": "x" * 201}, ["body", "name"]),
        ({"name": 12}, ["body", "name"]),
        ({"started_on": "15/04/2023"}, ["body", "started_on"]),
        ({"started_on": "2023-02-30"}, ["body", "started_on"]),
        ({"started_on": (TODAY + timedelta(days=1)).isoformat()}, ["body", "started_on"]),
        ({"started_on": (TODAY + timedelta(days=400)).isoformat()}, ["body", "started_on"]),
        ({"glide": "EQ-2023-15-TUR"}, ["body", "glide"]),
        ({"glide": "EQ2023000015TUR"}, ["body", "glide"]),
        ({"glide": "EQ-2023-000015-TURK"}, ["body", "glide"]),
        ({"glide": ""}, ["body", "glide"]),
        ({"glide": 2023}, ["body", "glide"]),
        ({"scale_up": "maybe"}, ["body", "scale_up"]),
        ({"id": 3}, ["body", "id"]),
        ({"created_by": "me"}, ["body", "created_by"]),
    ],
)
def test_invalid_crisis_is_422(hq, overrides: dict[str, Any], loc: list[Any]) -> None:
    response = hq.post("/api/v1/crises", json=crisis(**overrides))
    assert loc in _problem_locs(response)
    assert hq.get("/api/v1/crises").json()["items"] == []


@pytest.mark.parametrize("missing", ["name", "kind", "countries", "started_on"])
def test_required_crisis_fields(hq, missing: str) -> None:
    body = crisis()
    del body[missing]
    assert ["body", missing] in _problem_locs(hq.post("/api/v1/crises", json=body))


def test_every_unknown_country_is_reported(hq) -> None:
    locs = _problem_locs(hq.post("/api/v1/crises", json=crisis(countries=["XXX", "SDN", "QQQ"])))
    assert ["body", "countries", 0] in locs
    assert ["body", "countries", 2] in locs


def test_duplicate_glide_is_409_naming_the_crisis(hq, api) -> None:
    first = hq.post("/api/v1/crises", json=crisis(glide="EQ-2023-000015-TUR"))
    assert first.status_code == 201
    first_id = first.json()["id"]
    for glide in ("EQ-2023-000015-TUR", "eq-2023-000015-tur"):
        response = api("admin").post(
            "/api/v1/crises", json=crisis(name="Another name", glide=glide)
        )
        body = assert_problem(response, 409)
        assert body["type"] == "urn:crisis-tracker:problem:conflict"
        assert str(first_id) in body["detail"]
        assert "EQ-2023-000015-TUR" in body["detail"]
        assert body.get("crisis_id") == first_id
    assert len(hq.get("/api/v1/crises").json()["items"]) == 1


def test_many_crises_without_glide(hq) -> None:
    for _ in range(3):
        assert hq.post("/api/v1/crises", json=crisis()).status_code == 201
    assert len(hq.get("/api/v1/crises").json()["items"]) == 3


def test_nul_in_crisis_name_is_not_a_500(hq) -> None:
    """PostgreSQL text cannot hold NUL; the name must be refused (422) before it gets there,
    or stored and read back intact."""
    response = hq.post("/api/v1/crises", json=crisis(name="Sudan\x00crisis"))
    assert response.status_code in (201, 422), response.text
    if response.status_code == 201:
        assert hq.get(response.headers["Location"]).json()["name"] == "Sudan\x00crisis"


# --- crises: reading ----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "hq", "field", "coordinator"])
def test_any_role_reads_crises(api, hq, role: str) -> None:
    created = hq.post("/api/v1/crises", json=crisis()).json()
    scope: dict[str, Any] = {
        "field": {"countries": ["UKR"]},  # even a crisis outside the user's countries
        "coordinator": {"clusters": ["wash"]},
    }.get(role, {})
    reader = api(role, **scope)
    listed = reader.get("/api/v1/crises")
    assert listed.status_code == 200
    assert listed.json() == {"items": [created], "next_cursor": None}
    assert reader.get(f"/api/v1/crises/{created['id']}").json() == created


def test_unknown_crisis_is_404(hq) -> None:
    body = assert_problem(hq.get("/api/v1/crises/4242"), 404)
    assert "4242" in body["detail"]


def test_empty_crisis_list(hq) -> None:
    assert hq.get("/api/v1/crises").json() == {"items": [], "next_cursor": None}


def _create_many(hq) -> list[dict[str, Any]]:
    specs = [
        ("Sudan conflict", "conflict", ["SDN", "TCD"]),
        ("Haiti earthquake", "natural-disaster", ["HTI"]),
        ("Cholera in Sudan", "epidemic", ["SDN"]),
        ("Ukraine war", "conflict", ["UKR", "POL", "MDA"]),
        ("Sahel", "complex", ["TCD", "NER", "MLI"]),
    ]
    created = []
    for name, kind, countries in specs:
        response = hq.post("/api/v1/crises", json=crisis(name=name, kind=kind, countries=countries))
        assert response.status_code == 201, response.text
        created.append(response.json())
    return created


def test_crises_newest_first(hq) -> None:
    created = _create_many(hq)
    listed = hq.get("/api/v1/crises").json()
    assert [c["id"] for c in listed["items"]] == [c["id"] for c in reversed(created)]
    assert listed["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"country": "SDN"}, ["Cholera in Sudan", "Sudan conflict"]),
        ({"country": "sdn"}, ["Cholera in Sudan", "Sudan conflict"]),
        ({"country": "TCD"}, ["Sahel", "Sudan conflict"]),
        ({"country": "HTI"}, ["Haiti earthquake"]),
        ({"country": "FRA"}, []),
        ({"kind": "conflict"}, ["Ukraine war", "Sudan conflict"]),
        ({"kind": "natural-disaster"}, ["Haiti earthquake"]),
        ({"kind": "other"}, []),
        ({"kind": "conflict", "country": "TCD"}, ["Sudan conflict"]),
        ({"kind": "epidemic", "country": "TCD"}, []),
    ],
)
def test_crisis_filters(hq, params: dict[str, str], names: list[str]) -> None:
    _create_many(hq)
    response = hq.get("/api/v1/crises", params=params)
    assert response.status_code == 200, response.text
    assert [c["name"] for c in response.json()["items"]] == names


def test_crises_country_filter_lists_all_countries_of_each_crisis(hq) -> None:
    _create_many(hq)
    items = hq.get("/api/v1/crises", params={"country": "NER"}).json()["items"]
    assert [c["countries"] for c in items] == [["MLI", "NER", "TCD"]]


@pytest.mark.parametrize("params", [{"kind": "war"}, {"country": "SUDAN"}, {"country": "SD"}])
def test_bad_crisis_filter_is_422(hq, params: dict[str, str]) -> None:
    assert_problem(hq.get("/api/v1/crises", params=params), 422)


def test_nul_in_crisis_country_filter_is_not_a_500(hq) -> None:
    response = hq.get("/api/v1/crises", params={"country": "S\x00N"})
    assert response.status_code in (200, 422), response.text


def _all_pages(hq, **params: Any) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    pages = 0
    cursor = None
    while True:
        query = dict(params)
        if cursor:
            query["cursor"] = cursor
        response = hq.get("/api/v1/crises", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        pages += 1
        assert len(page["items"]) <= params["limit"]
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items, pages
        assert len(page["items"]) == params["limit"]
        assert pages < 20


@pytest.mark.parametrize(("limit", "pages"), [(1, 5), (2, 3), (4, 2), (5, 1), (1000, 1)])
def test_crisis_pagination(hq, limit: int, pages: int) -> None:
    created = _create_many(hq)
    items, count = _all_pages(hq, limit=limit)
    assert count == pages
    assert [c["id"] for c in items] == [c["id"] for c in reversed(created)]


def test_crisis_pagination_with_filter(hq) -> None:
    _create_many(hq)
    items, count = _all_pages(hq, limit=1, country="TCD")
    assert [c["name"] for c in items] == ["Sahel", "Sudan conflict"]
    assert count == 2


def test_crisis_cursor_is_stable_under_inserts(hq) -> None:
    """A crisis registered while a client pages through does not shift the pages."""
    created = _create_many(hq)
    first = hq.get("/api/v1/crises", params={"limit": 2}).json()
    hq.post("/api/v1/crises", json=crisis(name="Late arrival"))
    rest, _ = _all_pages_from(hq, first["next_cursor"], limit=2)
    seen = [c["id"] for c in first["items"] + rest]
    assert seen == [c["id"] for c in reversed(created)]


def _all_pages_from(hq, cursor: str, *, limit: int) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    pages = 0
    while cursor:
        page = hq.get("/api/v1/crises", params={"limit": limit, "cursor": cursor}).json()
        items += page["items"]
        cursor = page["next_cursor"]
        pages += 1
    return items, pages


def test_crisis_used_by_a_sitrep(api, hq) -> None:
    """A registered crisis is what a sitrep of one of its countries can report under."""
    created = hq.post("/api/v1/crises", json=crisis(countries=["SDN"])).json()
    field = api("field", countries=["SDN"])
    response = field.post("/api/v1/sitreps", json=sitrep(line(), crisis_id=created["id"]))
    assert response.status_code == 201, response.text
    assert response.json()["crisis_id"] == created["id"]


def test_a_crisis_is_looked_up_once_per_session_with_its_countries(session) -> None:
    """A batch of sitreps of one crisis checks the crisis's countries for each sitrep:
    after the first lookup it comes from the session, and a crisis the session loaded
    without its countries gets them."""
    from sqlalchemy import event, select

    from app.auth import service as auth
    from app.auth.models import Role
    from app.crises import service as crises
    from app.crises.models import Crisis
    from app.crises.schemas import CrisisCreate

    hq = auth.create_user(session, name="hq-lookup", role=Role.hq)
    data = CrisisCreate(name="Floods", kind="natural-disaster", countries=["SDN", "TCD"],
                        started_on="2024-01-01")  # fmt: skip
    crisis_id = crises.create(session, data=data, user=hq).id
    session.commit()
    session.expunge_all()
    plain = session.scalars(select(Crisis).where(Crisis.id == crisis_id)).one()
    statements: list[str] = []
    engine = session.get_bind()

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        found = crises.find(session, crisis_id=crisis_id)
        assert found is plain
        assert sorted(c.country for c in found.countries) == ["SDN", "TCD"]
        loaded = len(statements)
        for _ in range(5):
            assert crises.find(session, crisis_id=crisis_id) is plain
        assert len(statements) == loaded
        assert crises.find(session, crisis_id=crisis_id + 1000) is None
    finally:
        event.remove(engine, "before_cursor_execute", seen)
