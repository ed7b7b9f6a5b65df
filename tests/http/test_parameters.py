"""Unknown query parameters are a 422 (API.md): a misspelt filter never widens an answer."""

from __future__ import annotations

from tests.factories import assert_problem, sitrep


def test_a_misspelt_filter_is_refused(admin, api) -> None:
    field = api("field", countries=["SDN"])
    assert field.post("/api/v1/sitreps", json=sitrep()).status_code == 201
    response = admin.get("/api/v1/sitreps", params={"contry": "TCD"})
    body = assert_problem(response, 422)
    assert body["errors"] == [
        {
            "loc": ["query", "contry"],
            "msg": "contry is not a parameter of this endpoint; it takes country, crisis_id, "
            "cursor, limit, period_from, period_to, status",
        }
    ]


def test_a_misspelt_level_is_refused(admin) -> None:
    response = admin.get("/api/v1/countries/SDN/admin-areas", params={"levle": "all"})
    body = assert_problem(response, 422)
    assert body["errors"] == [
        {
            "loc": ["query", "levle"],
            "msg": "levle is not a parameter of this endpoint; it takes level, parent",
        }
    ]


def test_every_unknown_parameter_is_named(admin) -> None:
    response = admin.get("/api/v1/sectors", params={"lang": "fr", "all": "1"})
    body = assert_problem(response, 422)
    assert body["errors"] == [
        {
            "loc": ["query", "all"],
            "msg": "all is not a parameter of this endpoint, which takes none",
        },
        {
            "loc": ["query", "lang"],
            "msg": "lang is not a parameter of this endpoint, which takes none",
        },
    ]


def test_known_parameters_pass(admin) -> None:
    response = admin.get("/api/v1/sitreps", params={"country": "SDN", "limit": 5})
    assert response.status_code == 200, response.text
    response = admin.get("/api/v1/countries/SDN/admin-areas", params={"level": "2"})
    assert response.status_code == 200, response.text


def test_without_a_token_it_is_401_first(client) -> None:
    assert_problem(client.get("/api/v1/sitreps", params={"contry": "SDN"}), 401)


def test_in_the_clients_language(admin) -> None:
    response = admin.get("/api/v1/phases", params={"x": "1"}, headers={"Accept-Language": "es"})
    body = assert_problem(response, 422)
    assert body["errors"][0]["msg"] == (
        "x no es un parámetro de este punto de acceso, que no admite ninguno"
    )


def test_every_list_refuses_an_unknown_parameter(client, admin) -> None:
    paths = [
        path
        for path, operations in client.get("/openapi.json").json()["paths"].items()
        if path.startswith("/api/v1/") and "{" not in path and "get" in operations
    ]
    assert len(paths) > 10
    let_through = [
        path for path in paths if admin.get(path, params={"zz_unknown": "1"}).status_code != 422
    ]
    assert let_through == []
