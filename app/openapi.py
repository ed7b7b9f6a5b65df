"""The OpenAPI document: the problem models and the example of each status that
operations list, and the fixes FastAPI's document needs (problem+json media types, the
nulls of examples)."""

from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, ConfigDict

from app.errors import (
    PROBLEM_MEDIA_TYPE,
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    ServiceUnavailable,
    Unauthorized,
    ValidationFailed,
    problem,
)


class ProblemError(BaseModel):
    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """An RFC 9457 problem. Some carry extension members (e.g. ``conflicting_sitrep_id``)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str


class ValidationProblem(Problem):
    errors: list[ProblemError]


def _example(status: int, type_: str, detail: str, **extensions: Any) -> dict[str, Any]:
    return problem(status, detail, type_=type_, title_=HTTPStatus(status).phrase, **extensions)


# What a client meets for each status, as the service words it: one example per status, in
# the OpenAPI document of every operation that can answer it.
PROBLEM_EXAMPLES: dict[int, dict[str, Any]] = {
    400: _example(
        400,
        "urn:crisis-tracker:problem:malformed-cursor",
        "The cursor is malformed: pass back a next_cursor exactly as this endpoint returned it.",
    ),
    401: _example(401, Unauthorized.type, "Send an API token as 'Authorization: Bearer <token>'."),
    403: _example(403, Forbidden.type, "SDN is not one of your countries (TCD)."),
    404: _example(404, NotFound.type, "There is no sitrep 42."),
    409: _example(
        409,
        Conflict.type,
        "Sitrep 42 already reports shelter/hod/response at SD01 for 2024-03-01..2024-03-31, "
        "which overlaps this period; amend sitrep 42 instead of submitting a second one.",
        conflicting_sitrep_id=42,
        slot={
            "crisis_id": 7,
            "country": "SDN",
            "sector": "shelter",
            "division": "hod",
            "phase": "response",
            "admin1": "SD01",
            "admin2": None,
        },
    ),
    412: _example(
        412,
        PreconditionFailed.type,
        'Sitrep 42 has changed (its ETag is now "42-2-submitted", revision 2, submitted); read '
        "it again and redo your change.",
        current_etag='"42-2-submitted"',
    ),
    408: _example(
        408,
        "urn:crisis-tracker:problem:body-timeout",
        "The request body stopped arriving: nothing came for 30 seconds, after 8 bytes. "
        "Send the request again.",
    ),
    413: _example(
        413,
        "urn:crisis-tracker:problem:body-too-large",
        "The request body is larger than 16,777,216 bytes; split it (a batch into smaller "
        "batches, a file into smaller files).",
    ),
    415: _example(
        415,
        "urn:crisis-tracker:problem:unsupported-media-type",
        "Send the sheet as the request body with Content-Type text/csv or "
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet, not text/plain.",
    ),
    422: _example(
        422,
        ValidationFailed.type,
        "body.lines.0.admin1: ET01 is in ETH, not SDN (and 1 more)",
        errors=[
            {"loc": ["body", "lines", 0, "admin1"], "msg": "ET01 is in ETH, not SDN"},
            {
                "loc": ["body", "lines", 1, "disaggregation"],
                "msg": "women, men, girls and boys add up to 2021, not to people_reached (2500)",
            },
        ],
    ),
    428: _example(
        428,
        PreconditionRequired.type,
        "Send the sitrep's current ETag in If-Match, so that an edit based on an older "
        "revision cannot overwrite a newer one.",
    ),
    429: _example(
        429,
        "urn:crisis-tracker:problem:rate-limited",
        "Too many requests from your account (all its tokens count together); slow down and "
        "retry after the number of seconds in Retry-After.",
    ),
    503: _example(
        503, ServiceUnavailable.type, "The database is not answering; try again shortly."
    ),
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the problem statuses an operation can return, each with an
    example (``use_problem_media_type`` files it under application/problem+json)."""
    return {
        status: {
            "model": ValidationProblem if status == 422 else Problem,
            "description": HTTPStatus(status).phrase,
            "content": {"application/json": {"example": PROBLEM_EXAMPLES[status]}},
        }
        for status in statuses
    }


def use_problem_media_type(openapi: dict[str, Any]) -> None:
    """Error responses are application/problem+json, not the application/json that
    FastAPI writes for every documented response."""
    for operations in openapi.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if status[0] in "45" and "application/json" in content:
                    content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")


def _allows_null(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "null" or any(
        branch.get("type") == "null" for branch in schema.get("anyOf", [])
    )


def _restore_nulls(openapi: dict[str, Any], schema: dict[str, Any], value: Any) -> None:
    """Puts back the nulls of required fields in ``value``, an example of ``schema``."""
    while "$ref" in schema:
        schema = openapi["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    for branch in schema.get("anyOf", []):
        _restore_nulls(openapi, branch, value)
    if isinstance(value, list) and "items" in schema:
        for item in value:
            _restore_nulls(openapi, schema["items"], item)
    elif isinstance(value, dict) and schema.get("type") == "object":
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value and _allows_null(properties.get(name, {})):
                value[name] = None
        for name, member in value.items():
            if name in properties:
                _restore_nulls(openapi, properties[name], member)


def restore_example_nulls(openapi: dict[str, Any]) -> None:
    """FastAPI writes the document without any null (``exclude_none``), examples included,
    which leaves them without the required fields whose value is null (a line's admin2):
    put those back, so that every example is valid against its schema."""
    for schema in openapi.get("components", {}).get("schemas", {}).values():
        for example in schema.get("examples", []):
            _restore_nulls(openapi, schema, example)
    for operations in openapi.get("paths", {}).values():
        for operation in operations.values():
            contents = [operation.get("requestBody", {}).get("content", {})]
            contents += [r.get("content", {}) for r in operation.get("responses", {}).values()]
            for media in (m for content in contents for m in content.values()):
                examples = [e["value"] for e in media.get("examples", {}).values()]
                for example in [media["example"]] if "example" in media else examples:
                    _restore_nulls(openapi, media.get("schema", {}), example)


def complete(document: dict[str, Any]) -> None:
    """FastAPI's document made right: problem+json error responses, valid examples."""
    use_problem_media_type(document)
    restore_example_nulls(document)
