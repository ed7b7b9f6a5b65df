"""The OpenAPI document as a client author reads it (issue 5): every operation has a
summary, a description, its problem statuses, and examples of what to send and what comes
back; and the examples are true: each validates against the model it documents, and the
sitrep, crisis, batch, withdrawal and sheet examples are accepted by the service itself."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from app.crises.schemas import CRISIS_EXAMPLES, CrisisCreate
from app.errors import PROBLEM_MEDIA_TYPE
from app.exports.router import LINES_CSV_EXAMPLE, TOTALS_CSV_EXAMPLE
from app.imports.schemas import SHEET_CSV_EXAMPLE, ImportRead
from app.needs.router import NEEDS_CSV_EXAMPLE
from app.sitreps.schemas import SitrepBatch, SitrepCreate, SitrepWithdraw
from app.totals.schemas import TOTALS_EXAMPLE

if TYPE_CHECKING:
    from tests.factories import Api

METHODS = ("get", "put", "post", "delete", "patch")


def _document() -> dict[str, Any]:
    from app.config import get_settings
    from app.main import create_app

    try:
        return create_app().openapi()
    finally:
        get_settings.cache_clear()  # the test harness configures the database later


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", operation


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _examples(document: dict[str, Any], media: dict[str, Any]) -> dict[str, Any]:
    """The examples of a media type, by name: its own (``example``, ``examples``), else
    those of its schema (for an array, of its items)."""
    if "example" in media:
        return {"example": media["example"]}
    if "examples" in media:
        return {name: example["value"] for name, example in media["examples"].items()}
    schema = _resolve(document, media.get("schema", {}))
    if schema.get("type") == "array":
        items = _resolve(document, schema.get("items", {})).get("examples", [])
        return {"items": items[:1]} if items else {}
    return {f"schema {i}": e for i, e in enumerate(schema.get("examples", []))}


def documentation_gaps(document: dict[str, Any]) -> list[str]:
    gaps = []
    for label, operation in _operations(document):
        for part in ("summary", "description"):
            if not operation.get(part, "").strip():
                gaps.append(f"{label}: no {part}")
        responses = operation["responses"]
        if not any(
            status[0] in "45" and PROBLEM_MEDIA_TYPE in response.get("content", {})
            for status, response in responses.items()
        ):
            gaps.append(f"{label}: no {PROBLEM_MEDIA_TYPE} error response")
        for status, response in responses.items():
            for media_type, media in response.get("content", {}).items():
                if status[0] in "45" and not _examples(document, media):
                    gaps.append(f"{label}: no example of the {status} {media_type}")
        body = operation.get("requestBody", {}).get("content", {})
        if body and not any(_examples(document, media) for media in body.values()):
            gaps.append(f"{label}: no example of the request body")
        successes = [r for status, r in responses.items() if status[0] == "2"]
        if not any(
            _examples(document, media)
            for response in successes
            for media in response.get("content", {}).values()
        ):
            gaps.append(f"{label}: no example of the 2xx answer")
    return gaps


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return _document()


def test_every_operation_is_documented_with_examples(document: dict[str, Any]) -> None:
    operations = list(_operations(document))
    assert len(operations) >= 26
    assert documentation_gaps(document) == []


@pytest.mark.parametrize(
    "remove",
    [
        ("/api/v1/sitreps", "post", "requestBody"),
        ("/api/v1/sitreps/{sitrep_id}", "get", "200"),
        ("/api/v1/crises", "get", "200"),
        ("/api/v1/imports", "post", "requestBody"),
        ("/api/v1/exports/totals.{format}", "get", "200"),
    ],
)
def test_a_missing_example_is_noticed(
    document: dict[str, Any], remove: tuple[str, str, str]
) -> None:
    """The check above would notice an example going missing, wherever it lives."""
    path, method, part = remove
    broken = copy.deepcopy(document)
    operation = broken["paths"][path][method]
    contents = (
        operation["requestBody"]["content"]
        if part == "requestBody"
        else operation["responses"][part]["content"]
    )
    for media in contents.values():
        media.pop("example", None)
        media.pop("examples", None)
        _resolve(broken, media.get("schema", {})).pop("examples", None)
    assert documentation_gaps(broken)


def _check(document: dict[str, Any], schema: dict[str, Any], example: Any, where: str) -> None:
    """The example against the JSON schema the document gives it (OpenAPI 3.1 schemas are
    JSON Schema 2020-12, made from the Pydantic models), as schemathesis checks answers."""
    import jsonschema_rs

    validator = jsonschema_rs.Draft202012Validator({**schema, "components": document["components"]})
    errors = [f"{e.message} at {list(e.instance_path)}" for e in validator.iter_errors(example)]
    assert not errors, f"{where}: {errors}"


def test_examples_match_their_schemas(document: dict[str, Any]) -> None:
    """Every JSON example validates against the schema it documents: request bodies, 2xx
    answers and problems."""
    checked = 0
    for label, operation in _operations(document):
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        for name, example in _examples(document, body or {}).items():
            _check(document, body["schema"], example, f"{label} request {name}")
            checked += 1
        for status, response in operation["responses"].items():
            for media_type, media in response.get("content", {}).items():
                if media_type not in ("application/json", PROBLEM_MEDIA_TYPE):
                    continue
                for name, example in _examples(document, media).items():
                    if name == "hxl":
                        continue  # HXL rows, not the schema's FeedPage: checked below
                    _check(document, media["schema"], example, f"{label} {status} {name}")
                    checked += 1
    assert checked > 26 * 2


def test_request_examples_match_their_models() -> None:
    """The request examples pass the models' own validators, which the JSON schema cannot
    express (a GLIDE number; each sitrep of a batch)."""
    for example in CrisisCreate.model_json_schema()["examples"]:
        CrisisCreate.model_validate(example)
    for example in SitrepCreate.model_json_schema()["examples"]:
        SitrepCreate.model_validate(example)
    for example in SitrepBatch.model_json_schema()["examples"]:
        for sitrep in SitrepBatch.model_validate(example).sitreps:
            SitrepCreate.model_validate(sitrep)
    for example in SitrepWithdraw.model_json_schema()["examples"]:
        SitrepWithdraw.model_validate(example)


@pytest.fixture
def crisis_id(api: Callable[..., Api]) -> int:
    """The crisis of the examples, created from the crisis example (the sitrep examples
    name crisis 7; ids of a test database differ)."""
    created = api("hq").post("/api/v1/crises", json=CRISIS_EXAMPLES[0])
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def _sitrep_example(document: dict[str, Any], crisis_id: int) -> dict[str, Any]:
    media = document["paths"]["/api/v1/sitreps"]["post"]["requestBody"]["content"]
    example = copy.deepcopy(next(iter(_examples(document, media["application/json"]).values())))
    return {**example, "crisis_id": crisis_id}


def test_the_crisis_examples_are_accepted(api: Callable[..., Api]) -> None:
    hq = api("hq")
    for example in CRISIS_EXAMPLES:
        created = hq.post("/api/v1/crises", json=example)
        assert created.status_code == 201, created.text


def test_the_sitrep_examples_are_accepted_and_answer_as_documented(
    api: Callable[..., Api], document: dict[str, Any], crisis_id: int
) -> None:
    field = api("field", countries=["SDN"])
    example = _sitrep_example(document, crisis_id)
    created = field.post("/api/v1/sitreps", json=example)
    assert created.status_code == 201, created.text
    sitrep_id = created.json()["id"]

    hq = api("hq")
    needs = hq.post(
        "/api/v1/needs", content=NEEDS_CSV_EXAMPLE, headers={"Content-Type": "text/csv"}
    )
    assert needs.status_code == 200, needs.text
    totals = hq.get("/api/v1/totals", params={"group_by": "sector"})
    assert totals.json() == TOTALS_EXAMPLE
    csv = hq.get("/api/v1/exports/totals.csv", params={"group_by": "sector"})
    assert csv.text.replace("\r\n", "\n") == TOTALS_CSV_EXAMPLE
    lines = hq.get("/api/v1/exports/lines.csv").text.replace("\r\n", "\n").splitlines()
    documented = LINES_CSV_EXAMPLE.splitlines()
    assert lines[:2] == documented[:2]
    assert len(lines) == len(documented)
    feed = document["paths"]["/api/v1/clusters/{code}/feed"]["get"]["responses"]["200"]
    hxl = feed["content"]["application/json"]["examples"]["hxl"]["value"]
    rows = hq.get("/api/v1/clusters/shelter/feed", params={"format": "hxl"}).json()
    assert rows[:2] == hxl[:2]
    assert len(rows) == len(hxl)

    amended = field.put(
        f"/api/v1/sitreps/{sitrep_id}", json=example, headers={"If-Match": created.headers["ETag"]}
    )
    assert amended.status_code == 200, amended.text
    reason = SitrepWithdraw.model_json_schema()["examples"][0]
    withdrawn = field.request(
        "DELETE",
        f"/api/v1/sitreps/{sitrep_id}",
        json=reason,
        headers={"If-Match": amended.headers["ETag"]},
    )
    assert withdrawn.status_code == 200, withdrawn.text


def test_the_batch_example_is_accepted(api: Callable[..., Api], crisis_id: int) -> None:
    batch = copy.deepcopy(SitrepBatch.model_json_schema()["examples"][0])
    for sitrep in batch["sitreps"]:
        sitrep["crisis_id"] = crisis_id
    answer = api("field", countries=["SDN"]).post("/api/v1/sitreps/batch", json=batch)
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == len(batch["sitreps"]), answer.text


def test_the_sheet_example_imports_as_documented(
    api: Callable[..., Api], document: dict[str, Any]
) -> None:
    body = document["paths"]["/api/v1/imports"]["post"]["requestBody"]["content"]["text/csv"]
    assert body["example"] == SHEET_CSV_EXAMPLE
    answer = api("field", countries=["SDN"]).post(
        "/api/v1/imports",
        params={"dry_run": "true"},
        content=SHEET_CSV_EXAMPLE,
        headers={"Content-Type": "text/csv"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == ImportRead.model_json_schema()["examples"][0]
