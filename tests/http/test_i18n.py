"""Messages in the client's language: Accept-Language chooses English, French or Spanish
for every 422 message and the problems a form shows; the catalogs cover every message."""

from __future__ import annotations

import string
import tomllib
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from app import i18n
from app.errors import NotFound
from app.reference import catalog as reference
from tests.factories import assert_problem, line, sitrep

ROOT = Path(__file__).resolve().parents[2]
LOCALES = ROOT / "app" / "locales"
NNBSP = "\u202f"  # French groups thousands with a narrow no-break space
NBSP = "\u00a0"  # and puts a no-break space before ':' and ';'


def errors_by_loc(body: dict[str, Any]) -> dict[tuple[str | int, ...], str]:
    return {tuple(error["loc"]): error["msg"] for error in body["errors"]}


def assert_language(response: Any, code: str) -> None:
    assert response.headers["Content-Language"] == code
    assert "accept-language" in response.headers["Vary"].lower()


# --- choosing the language ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("", "en"),
        ("fr", "fr"),
        ("fr-CA", "fr"),
        ("FR-ca", "fr"),
        ("es-419", "es"),
        ("es-ES,es;q=0.9", "es"),
        ("de", "en"),
        ("de-DE, fr;q=0.5", "fr"),
        ("en;q=0.1, es;q=0.9", "es"),
        ("fr;q=0.4, es;q=0.8, en;q=0.6", "es"),
        ("fr;q=0, es;q=0.3", "es"),
        ("fr;q=0", "en"),
        ("pt-BR, es;q=0.8, fr;q=0.9", "fr"),
        ("es, fr", "es"),
        ("*", "en"),
        ("de, *;q=0.5", "en"),
        ("fr;q=abc, es", "es"),
        ("fr;q=2, es;q=0.5", "es"),
        ("???, fr", "fr"),
    ],
)
def test_negotiate(header: str | None, expected: str) -> None:
    assert i18n.negotiate(header) == expected


def test_outside_a_request_messages_are_english() -> None:
    """The command line (and anything else outside a request) speaks English."""
    assert i18n.language() == "en"
    with pytest.raises(NotFound) as caught:
        reference.admin_areas_of("XXX")
    assert caught.value.detail == "There is no country with ISO3 code 'XXX'."


# --- pydantic's own messages --------------------------------------------------------------


def _badly_typed() -> dict[str, Any]:
    body = sitrep(
        line(reached="many", sector="food", approved=True),
        line("wash", reached=-1, people_targeted=10**12),
    )
    del body["period_start"]
    body["period_end"] = "31/03/2024"
    body["narrative"] = "x" * 20_001
    body["crisis_id"] = 0
    return body


PYDANTIC_FR = {
    ("body", "period_start"): "Champ obligatoire",
    ("body", "period_end"): "La valeur doit être une date valide au format AAAA-MM-JJ",
    ("body", "narrative"): f"Le texte doit compter au plus 20{NNBSP}000 caractères",
    ("body", "crisis_id"): "La valeur doit être supérieure ou égale à 1",
    ("body", "lines", 0, "sector"): (
        "La valeur doit être 'shelter', 'wash', 'cccm', 'cash' ou 'health'"
    ),
    ("body", "lines", 0, "people_reached"): "La valeur doit être un nombre entier",
    ("body", "lines", 0, "approved"): "Champ non autorisé",
    ("body", "lines", 1, "people_reached"): "La valeur doit être supérieure ou égale à 0",
    ("body", "lines", 1, "people_targeted"): (
        f"La valeur doit être inférieure ou égale à 1{NNBSP}000{NNBSP}000{NNBSP}000"
    ),
}
PYDANTIC_ES = {
    ("body", "period_start"): "Campo obligatorio",
    ("body", "period_end"): "El valor debe ser una fecha válida con el formato AAAA-MM-DD",
    ("body", "narrative"): "El texto debe tener como máximo 20.000 caracteres",
    ("body", "crisis_id"): "El valor debe ser mayor o igual que 1",
    (
        "body",
        "lines",
        0,
        "sector",
    ): "El valor debe ser 'shelter', 'wash', 'cccm', 'cash' o 'health'",
    ("body", "lines", 0, "people_reached"): "El valor debe ser un número entero",
    ("body", "lines", 0, "approved"): "Campo no permitido",
    ("body", "lines", 1, "people_reached"): "El valor debe ser mayor o igual que 0",
    ("body", "lines", 1, "people_targeted"): "El valor debe ser menor o igual que 1.000.000.000",
}


@pytest.mark.parametrize(
    ("accept_language", "code", "expected", "title", "more"),
    [
        ("fr-CA,fr;q=0.9,en;q=0.8", "fr", PYDANTIC_FR, "Données non valides", "(et 8 de plus)"),
        ("es-419", "es", PYDANTIC_ES, "Datos no válidos", "(y 8 más)"),
    ],
)
def test_pydantic_messages_are_translated_at_their_fields(
    field, accept_language: str, code: str, expected: dict[Any, str], title: str, more: str
) -> None:
    response = field.post(
        "/api/v1/sitreps", json=_badly_typed(), headers={"Accept-Language": accept_language}
    )
    body = assert_problem(response, 422)
    assert errors_by_loc(body) == expected
    assert body["title"] == title
    first = body["errors"][0]
    assert body["detail"] == f"{'.'.join(map(str, first['loc']))}: {first['msg']} {more}"
    assert_language(response, code)


def test_pydantic_messages_stay_pydantics_in_english(field) -> None:
    response = field.post("/api/v1/sitreps", json=_badly_typed())
    body = assert_problem(response, 422)
    messages = errors_by_loc(body)
    assert messages[("body", "period_start")] == "Field required"
    assert messages[("body", "lines", 0, "approved")] == "Extra inputs are not permitted"
    assert messages[("body", "narrative")] == "String should have at most 20000 characters"
    assert messages[("body", "lines", 0, "sector")] == (
        "Input should be 'shelter', 'wash', 'cccm', 'cash' or 'health'"
    )
    assert body["title"] == "Unprocessable Entity"
    assert body["detail"].endswith(" (and 8 more)")
    assert_language(response, "en")


@pytest.mark.parametrize("accept_language", ["de", "pt-BR,de;q=0.5", "fr;q=0"])
def test_a_language_the_service_does_not_speak_gets_english(field, accept_language) -> None:
    english = field.post("/api/v1/sitreps", json=_badly_typed())
    other = field.post(
        "/api/v1/sitreps", json=_badly_typed(), headers={"Accept-Language": accept_language}
    )
    assert assert_problem(other, 422) == assert_problem(english, 422)
    assert_language(other, "en")


def test_malformed_json_and_validators_own_messages(field, api) -> None:
    headers = {"Accept-Language": "fr", "Content-Type": "application/json"}
    response = field.post("/api/v1/sitreps", content=b"{", headers=headers)
    assert errors_by_loc(assert_problem(response, 422)) == {
        ("body",): f"le corps s'arrête avant la fin de son JSON (ligne 1, colonne 2){NBSP}: "
        f"a-t-il été coupé{NBSP}?"
    }
    response = field.post(
        "/api/v1/sitreps", json=sitrep(narrative="a\x00b"), headers={"Accept-Language": "es"}
    )
    assert errors_by_loc(assert_problem(response, 422)) == {
        ("body", "narrative"): "no debe contener caracteres NUL"
    }
    crisis = {"name": "X", "kind": "other", "countries": ["SDN"], "started_on": "2024-01-01"}
    response = api("hq").post(
        "/api/v1/crises", json={**crisis, "glide": "quake"}, headers={"Accept-Language": "fr"}
    )
    assert errors_by_loc(assert_problem(response, 422)) == {
        ("body", "glide"): "un numéro GLIDE a la forme EQ-2023-000015-TUR"
    }


# --- the service's own rules ---------------------------------------------------------------


def _breaks_rules() -> dict[str, Any]:
    return sitrep(
        line(admin1="TCD14", new=150, indicators={"latrines": 3, "households_assisted": 2.5}),
        line(
            "wash",
            admin2="SD02114",
            disaggregation={"women": 1, "men": 1, "girls": 1, "boys": 1},
            indicators={"nets": 1},
        ),
        line(admin1=None, admin2="SD01001"),
        start="2024-03-31",
        end="2024-03-01",
        crisis_id=99,
    )


RULES = {
    "en": {
        ("body", "period_end"): "the period ends before it starts",
        ("body", "crisis_id"): "there is no crisis 99",
        ("body", "lines", 0, "admin1"): "TCD14 is in TCD, not SDN",
        ("body", "lines", 0, "people_reached_new"): "150 is more than people_reached (100)",
        ("body", "lines", 0, "indicators", "latrines"): (
            "latrines is an indicator of wash, not shelter; shelter reports "
            "households_assisted, shelter_kits"
        ),
        ("body", "lines", 0, "indicators", "households_assisted"): (
            "households_assisted is a whole number up to 1,000,000,000"
        ),
        ("body", "lines", 1, "admin2"): "SD02114 is in SD02, not in SD01",
        ("body", "lines", 1, "disaggregation"): (
            "women, men, girls and boys add up to 4, not to people_reached (100)"
        ),
        ("body", "lines", 1, "indicators", "nets"): (
            "nets is not an indicator; wash reports water_points, latrines"
        ),
        ("body", "lines", 2, "admin1"): "admin2 SD01001 needs its admin1 (it belongs to SD01)",
    },
    "fr": {
        ("body", "period_end"): "la période se termine avant de commencer",
        ("body", "crisis_id"): "la crise 99 n'existe pas",
        ("body", "lines", 0, "admin1"): "TCD14 relève de TCD, et non de SDN",
        ("body", "lines", 0, "people_reached_new"): "150 dépasse people_reached (100)",
        ("body", "lines", 0, "indicators", "latrines"): (
            f"latrines est un indicateur de wash, et non de shelter{NBSP}; shelter déclare "
            "households_assisted, shelter_kits"
        ),
        ("body", "lines", 0, "indicators", "households_assisted"): (
            f"households_assisted est un nombre entier d'au plus 1{NNBSP}000{NNBSP}000{NNBSP}000"
        ),
        ("body", "lines", 1, "admin2"): "SD02114 relève de SD02, et non de SD01",
        ("body", "lines", 1, "disaggregation"): (
            "femmes, hommes, filles et garçons totalisent 4, et non people_reached (100)"
        ),
        ("body", "lines", 1, "indicators", "nets"): (
            f"nets n'est pas un indicateur{NBSP}; wash déclare water_points, latrines"
        ),
        ("body", "lines", 2, "admin1"): (
            "l'admin2 SD01001 doit être accompagné de son admin1 (il relève de SD01)"
        ),
    },
    "es": {
        ("body", "period_end"): "el período termina antes de empezar",
        ("body", "crisis_id"): "no existe la crisis 99",
        ("body", "lines", 0, "admin1"): "TCD14 pertenece a TCD, no a SDN",
        ("body", "lines", 0, "people_reached_new"): "150 supera people_reached (100)",
        ("body", "lines", 0, "indicators", "latrines"): (
            "latrines es un indicador de wash, no de shelter; shelter informa "
            "households_assisted, shelter_kits"
        ),
        ("body", "lines", 0, "indicators", "households_assisted"): (
            "households_assisted es un número entero de hasta 1.000.000.000"
        ),
        ("body", "lines", 1, "admin2"): "SD02114 pertenece a SD02, no a SD01",
        ("body", "lines", 1, "disaggregation"): (
            "mujeres, hombres, niñas y niños suman 4, no people_reached (100)"
        ),
        ("body", "lines", 1, "indicators", "nets"): (
            "nets no es un indicador; wash informa water_points, latrines"
        ),
        ("body", "lines", 2, "admin1"): (
            "el admin2 SD01001 debe ir acompañado de su admin1 (pertenece a SD01)"
        ),
    },
}


@pytest.mark.parametrize("code", ["en", "fr", "es"])
def test_the_services_rules_are_translated_at_their_fields(field, code: str) -> None:
    response = field.post(
        "/api/v1/sitreps", json=_breaks_rules(), headers={"Accept-Language": code}
    )
    body = assert_problem(response, 422)
    assert errors_by_loc(body) == RULES[code]
    assert_language(response, code)


def test_a_batch_carries_each_sitreps_problems_in_the_language(field) -> None:
    response = field.post(
        "/api/v1/sitreps/batch",
        json={"sitreps": [sitrep(), _breaks_rules(), {**sitrep(), "extra": 1}]},
        headers={"Accept-Language": "es"},
    )
    assert response.status_code in (200, 207), response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 422, 422]
    refused = results[1]["problem"]
    assert refused["title"] == "Datos no válidos"
    assert errors_by_loc(refused)[("body", "sitreps", 1, "crisis_id")] == "no existe la crisis 99"
    assert errors_by_loc(results[2]["problem"]) == {
        ("body", "sitreps", 2, "extra"): "Campo no permitido"
    }
    assert_language(response, "es")


# --- the problems a form shows -------------------------------------------------------------


def test_slot_conflict_412_428_404_403_in_french(field, api) -> None:
    fr = {"Accept-Language": "fr"}
    created = field.post("/api/v1/sitreps", json=sitrep())
    assert created.status_code == 201, created.text
    sitrep_id = created.json()["id"]
    url = created.headers["Location"]

    conflict = field.post("/api/v1/sitreps", json=sitrep(), headers=fr)
    body = assert_problem(conflict, 409)
    assert body["title"] == "Conflit"
    assert body["detail"] == (
        f"Le sitrep {sitrep_id} couvre déjà shelter/hod/response à SD01 pour la période "
        f"2024-03-01..2024-03-31, qui chevauche celle-ci{NBSP}; modifiez le sitrep {sitrep_id} "
        "au lieu d'en soumettre un second."
    )
    assert body["conflicting_sitrep_id"] == sitrep_id
    assert_language(conflict, "fr")

    stale = field.put(url, json=sitrep(), headers={**fr, "If-Match": '"stale"'})
    body = assert_problem(stale, 412)
    assert body["title"] == "Échec de la précondition"
    assert body["detail"] == (
        f'Le sitrep {sitrep_id} a changé (son ETag est maintenant "{sitrep_id}-1-submitted", '
        f"révision 1, soumis){NBSP}; relisez-le et refaites votre modification."
    )

    missing = field.put(url, json=sitrep(), headers=fr)
    body = assert_problem(missing, 428)
    assert body["title"] == "Précondition requise"
    assert body["detail"].startswith("Envoyez l'ETag actuel du sitrep dans If-Match")

    absent = field.get("/api/v1/sitreps/999999", headers=fr)
    body = assert_problem(absent, 404)
    assert (body["title"], body["detail"]) == ("Introuvable", "Le sitrep 999999 n'existe pas.")

    chad = api("field", countries=["TCD"])
    forbidden = chad.post("/api/v1/sitreps", json=sitrep(), headers=fr)
    body = assert_problem(forbidden, 403)
    assert (body["title"], body["detail"]) == (
        "Accès refusé",
        "SDN ne fait pas partie de vos pays (TCD).",
    )
    # Another country's sitrep, addressed by id, answers as a missing one.
    by_id = chad.put(url, json=sitrep(), headers={**fr, "If-Match": "*"})
    assert assert_problem(by_id, 404)["detail"] == f"Le sitrep {sitrep_id} n'existe pas."

    hq = api("hq")
    role = hq.post("/api/v1/sitreps", json=sitrep(), headers=fr)
    assert assert_problem(role, 403)["detail"] == (
        f"Votre rôle (hq) ne permet pas cette action{NBSP}; il faut l'un de ceux-ci{NBSP}: "
        "field, admin."
    )


def test_slot_conflict_412_and_withdrawn_in_spanish(field) -> None:
    es = {"Accept-Language": "es-MX"}
    created = field.post("/api/v1/sitreps", json=sitrep(line(admin1=None)))
    assert created.status_code == 201, created.text
    sitrep_id = created.json()["id"]
    url = created.headers["Location"]
    conflict = field.post("/api/v1/sitreps", json=sitrep(line(admin1=None)), headers=es)
    body = assert_problem(conflict, 409)
    assert (body["title"], body["detail"]) == (
        "Conflicto",
        f"El sitrep {sitrep_id} ya informa de shelter/hod/response en SDN (todo el país) para "
        f"el período 2024-03-01..2024-03-31, que se superpone con este; modifique el sitrep "
        f"{sitrep_id} en lugar de enviar otro.",
    )
    withdrawn = field.delete(
        url, json={"reason": "duplicado"}, headers={"If-Match": created.headers["ETag"]}
    )
    assert withdrawn.status_code == 200, withdrawn.text
    stale = field.put(url, json=sitrep(), headers={**es, "If-Match": created.headers["ETag"]})
    assert assert_problem(stale, 412)["detail"] == (
        f'El sitrep {sitrep_id} ha cambiado (su ETag es ahora "{sitrep_id}-1-withdrawn", '
        "revisión 1, retirado); vuelva a leerlo y rehaga su modificación."
    )
    again = field.put(url, json=sitrep(), headers={**es, "If-Match": "*"})
    assert assert_problem(again, 409)["detail"] == (
        f"El sitrep {sitrep_id} fue retirado; ya no puede modificarse. Envíe un nuevo sitrep."
    )


def test_unauthorized_unknown_endpoint_and_wrong_method(client, field) -> None:
    es = {"Accept-Language": "es"}
    response = client.get("/api/v1/sitreps", headers=es)
    body = assert_problem(response, 401)
    assert (body["title"], body["detail"]) == (
        "No autenticado",
        "Envíe un token de API en el encabezado 'Authorization: Bearer <token>'.",
    )
    assert response.headers["WWW-Authenticate"] == "Bearer"
    body = assert_problem(field.get("/api/v1/nothing", headers=es), 404)
    assert body["detail"] == "Este punto de acceso no existe."
    body = assert_problem(field.request("PATCH", "/api/v1/sitreps", headers=es), 405)
    assert (body["title"], body["detail"]) == (
        "Método no permitido",
        "PATCH no se admite aquí; use GET o POST.",
    )
    body = assert_problem(field.request("PATCH", "/api/v1/sitreps"), 405)
    assert body["detail"] == "PATCH is not supported here; use GET or POST."


def test_reference_problems_in_french(field) -> None:
    fr = {"Accept-Language": "fr"}
    body = assert_problem(field.get("/api/v1/countries/XXX/admin-areas", headers=fr), 404)
    assert body["detail"] == "Aucun pays n'a le code ISO3 'XXX'."
    body = assert_problem(
        field.get("/api/v1/countries/SDN/admin-areas", params={"parent": "TCD14"}, headers=fr),
        404,
    )
    assert body["detail"] == "'TCD14' n'est pas un p-code admin1 de SDN."
    body = assert_problem(
        field.get(
            "/api/v1/countries/SDN/admin-areas",
            params={"parent": "SD01", "level": "all"},
            headers=fr,
        ),
        422,
    )
    assert errors_by_loc(body) == {
        ("query", "parent"): f"parent restreint les zones admin2{NBSP}: utilisez-le avec "
        "level=2 ou seul"
    }
    body = assert_problem(
        field.get("/api/v1/countries/SDN/admin-areas", params={"level": "3"}, headers=fr), 422
    )
    assert errors_by_loc(body) == {("query", "level"): "La valeur doit être '1', '2' ou 'all'"}
    body = assert_problem(field.get("/api/v1/sitreps", params={"country": "XXX"}, headers=fr), 422)
    assert errors_by_loc(body) == {("query", "country"): f"XXX{NBSP}: code country inconnu"}


def test_answers_without_translated_text_say_no_language(field) -> None:
    response = field.get("/api/v1/sectors", headers={"Accept-Language": "fr"})
    assert response.status_code == 200
    assert "Content-Language" not in response.headers
    created = field.post("/api/v1/sitreps", json=sitrep(), headers={"Accept-Language": "es"})
    assert created.status_code == 201
    assert "Content-Language" not in created.headers


# --- the catalogs ----------------------------------------------------------------------------


def _extracted() -> dict[str, set[str]]:
    """Every message id in app/, as ``pybabel extract -F pyproject.toml`` finds it, with
    the files that use it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["babel"]
    method_map = [(m["pattern"], m["method"]) for m in config["mappings"]]
    found: dict[str, set[str]] = {}
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT / "app"), method_map
    ):
        assert isinstance(message, str), f"{filename}: plural or empty message {message!r}"
        found.setdefault(message, set()).add(f"app/{filename}")
    return found


def _catalog(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=locale)


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_messages_are_extracted_from_the_code() -> None:
    found = _extracted()
    # Both ways of marking a message, from the domains the brief covers.
    assert "There is no sitrep {sitrep_id}." in found
    assert "Field required" in found
    assert found["{country} is not one of your countries ({yours})."] == {"app/auth/permissions.py"}
    assert len(found) > 100


def test_the_pot_is_up_to_date() -> None:
    """app/locales/messages.pot holds exactly the messages of the code (refresh it with the
    pybabel extract command in pyproject.toml)."""
    template = _catalog(LOCALES / "messages.pot")
    in_pot = {
        message.id: {path for path, _line in message.locations}
        for message in template
        if message.id
    }
    assert in_pot == _extracted()


@pytest.mark.parametrize("code", ["fr", "es"])
def test_every_message_is_translated(code: str) -> None:
    catalog = _catalog(LOCALES / code / "LC_MESSAGES" / "messages.po", code)
    translations = {m.id: m for m in catalog if m.id}
    found = _extracted()
    missing = [
        msgid
        for msgid in found
        if msgid not in translations or not translations[msgid].string or translations[msgid].fuzzy
    ]
    assert missing == [], f"not translated in {code}: {missing}"
    assert sorted(set(translations) - set(found)) == [], "translations of no message"
    for msgid, message in translations.items():
        assert isinstance(message.string, str)
        assert _placeholders(message.string) == _placeholders(msgid), (msgid, message.string)
        assert message.string == message.string.strip(), msgid
        assert message.string != msgid, f"{msgid!r} is left in English in {code}"


@pytest.mark.parametrize("code", ["fr", "es"])
def test_translations_are_used(code: str) -> None:
    """The catalog the service loads is the one checked here, fuzzy entries aside."""
    translations = i18n._translations(code)
    catalog = _catalog(LOCALES / code / "LC_MESSAGES" / "messages.po", code)
    assert translations == {m.id: m.string for m in catalog if m.id and not m.fuzzy}


def test_every_pydantic_message_has_its_context() -> None:
    """The French and Spanish pydantic messages name only what pydantic's context holds,
    so formatting one never falls back to English."""
    for msgid in i18n.pydantic_messages():
        for name in _placeholders(msgid):
            assert name in {
                "gt",
                "ge",
                "lt",
                "le",
                "min_length",
                "max_length",
                "actual_length",
                "pattern",
                "expected",
                "decimal_places",
                "max_digits",
                "whole_digits",
            }, (msgid, name)
