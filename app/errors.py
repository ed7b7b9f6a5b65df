"""Errors as RFC 9457 problem details, and the one place that renders them."""

import logging
import sys
from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import get_settings
from app.i18n import _, either, number, pydantic_message, title
from app.requests import allowed_methods

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"


class AppError(Exception):
    """An error a client can act on; carries its HTTP status and problem type."""

    status: int = 400
    type: str = "about:blank"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions
        self.headers: dict[str, str] = {}


class BadRequest(AppError):
    status = 400
    type = "urn:crisis-tracker:problem:bad-request"


class Unauthorized(AppError):
    status = 401
    type = "urn:crisis-tracker:problem:unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(AppError):
    status = 403
    type = "urn:crisis-tracker:problem:forbidden"


class NotFound(AppError):
    status = 404
    type = "urn:crisis-tracker:problem:not-found"


class Conflict(AppError):
    status = 409
    type = "urn:crisis-tracker:problem:conflict"


class PreconditionFailed(AppError):
    status = 412
    type = "urn:crisis-tracker:problem:precondition-failed"


class PreconditionRequired(AppError):
    status = 428
    type = "urn:crisis-tracker:problem:precondition-required"


class ValidationFailed(AppError):
    """A 422 that points at each offending field: ``errors: [{"loc": [...], "msg": ...}]``."""

    status = 422
    type = "urn:crisis-tracker:problem:validation"

    def __init__(self, errors: Sequence[tuple[Sequence[str | int], str]]) -> None:
        first_loc, first_msg = errors[0]
        detail = f"{'.'.join(str(part) for part in first_loc)}: {first_msg}"
        if len(errors) > 1:
            detail += " " + _("(and {count} more)", count=len(errors) - 1)
        super().__init__(detail, errors=[{"loc": list(loc), "msg": msg} for loc, msg in errors])


class UnsupportedMediaType(AppError):
    status = 415
    type = "urn:crisis-tracker:problem:unsupported-media-type"


class ServiceUnavailable(AppError):
    status = 503
    type = "urn:crisis-tracker:problem:unavailable"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail, **extensions)
        # As the database-unavailable handler says it: when to try again.
        self.headers = {"Retry-After": "5"}


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
    return {
        "type": type_,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extensions,
    }


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


def problem_response(
    status: int,
    detail: str,
    *,
    type_: str = "about:blank",
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": type_,
        "title": title(status),
        "status": status,
        "detail": detail,
        **extensions,
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _validation_loc(loc: Sequence[Any]) -> tuple[str | int, ...]:
    # Pydantic adds the name of a union member or a function validator to the path; a client
    # only needs to know where in its own document the problem is.
    return tuple(
        part for part in loc if isinstance(part, int) or not str(part).startswith("function-")
    )


def _validation_message(error: dict[str, Any]) -> str:
    if error.get("type") == "json_invalid":
        return _("the body is not valid JSON")
    return pydantic_message(error).removeprefix("Value error, ")


def _line_and_column(text: str | bytes, offset: int) -> tuple[int, int]:
    """Where ``offset`` is, as an editor counts: line and column from 1."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")  # one character per byte: offsets stay the same
    return text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)


def _json_syntax_error(doc: str, offset: int) -> ValidationFailed:
    """A JSON syntax error at its line and column (a character offset reads like a field
    path); a body that stops before its JSON does says it was cut off."""
    line, column = _line_and_column(doc, offset)
    msg = (
        _(
            "the body ends before its JSON does (line {line}, column {column}): was it cut off?",
            line=line,
            column=column,
        )
        if offset >= len(doc.rstrip())
        else _(
            "the body is not valid JSON: see line {line}, column {column}", line=line, column=column
        )
    )
    return ValidationFailed([(("body",), msg)])


def _unparsable_body(request: Request, cause: BaseException | None) -> AppError | None:
    """What to tell a client whose body the JSON parser could not even read, or None when
    ``cause`` is no such failure. FastAPI answers them all with a bare 400 "There was an
    error parsing the body"."""
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        problem: AppError = UnsupportedMediaType(
            _(
                "Send the request body uncompressed: this service does not accept a "
                "Content-Encoding ({encoding}) on requests; its answers are compressed when "
                "you send Accept-Encoding: gzip.",
                encoding=encoding,
            )
        )
        # RFC 9110 §15.5.16: a 415 for a content coding says which codings are accepted.
        problem.headers = {"Accept-Encoding": "identity"}
        return problem
    if isinstance(cause, UnicodeDecodeError):
        line, column = _line_and_column(cause.object, cause.start)
        msg = _(
            "the body is not UTF-8 text (byte 0x{byte:02X} at line {line}, column {column}); "
            "JSON is sent in UTF-8",
            byte=cause.object[cause.start],
            line=line,
            column=column,
        )
    elif isinstance(cause, RecursionError):
        msg = _("the body nests arrays or objects too deeply to be read")
    elif isinstance(cause, ValueError) and "digits" in str(cause):
        msg = _(
            "the body holds a number of more than {digits} digits",
            digits=number(sys.get_int_max_str_digits()),
        )
    else:
        return None
    return ValidationFailed([(("body",), msg)])


def _not_json(request: Request, exc: RequestValidationError) -> UnsupportedMediaType | None:
    """A body sent as something other than JSON (no Content-Type, or curl's default form
    type) reaches validation as bytes: ask for application/json, as /imports asks for its
    sheet types."""
    if not isinstance(exc.body, bytes | bytearray) or not any(
        tuple(error.get("loc", ()))[:1] == ("body",) for error in exc.errors()
    ):
        return None
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return UnsupportedMediaType(
        _(
            "Send the body as JSON with Content-Type: application/json, not {media_type}.",
            media_type=media_type,
        )
        if media_type
        else _(
            "Send the body as JSON with Content-Type: application/json; this request has no "
            "Content-Type."
        )
    )


def problem_body(exc: AppError) -> dict[str, Any]:
    return {
        "type": exc.type,
        "title": title(exc.status),
        "status": exc.status,
        "detail": exc.detail,
        **exc.extensions,
    }


def validation_problems(errors: Sequence[Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """Pydantic's errors as (location, message) pairs, as ValidationFailed takes them."""
    return [(_validation_loc(error["loc"]), _validation_message(error)) for error in errors]


def validation_failed(errors: Sequence[Any]) -> ValidationFailed:
    """Pydantic's errors as a ValidationFailed pointing at each field."""
    return ValidationFailed(validation_problems(errors))


async def _app_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return JSONResponse(
        problem_body(exc),
        status_code=exc.status,
        headers=exc.headers or None,
        media_type=PROBLEM_MEDIA_TYPE,
    )


async def _unauthenticated(request: Request) -> JSONResponse | None:
    """A body that is not even JSON is rejected before authentication runs; a caller
    without a valid token must still hear 401 first, as for any other request to the API."""
    if request.url.path.startswith("/api/") and not await run_in_threadpool(
        _has_valid_token, request
    ):
        return await _app_error(
            request, Unauthorized(_("Send a valid API token as 'Authorization: Bearer <token>'."))
        )
    return None


async def _request_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    refused = await _unauthenticated(request)
    if refused is not None:
        return refused
    errors = exc.errors()
    syntax = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if syntax is not None and isinstance(exc.body, str):
        return await _app_error(request, _json_syntax_error(exc.body, int(syntax["loc"][-1])))
    return await _app_error(request, _not_json(request, exc) or validation_failed(errors))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    unparsable = _unparsable_body(request, exc.__cause__) if exc.status_code == 400 else None
    if unparsable is not None:
        return await _unauthenticated(request) or await _app_error(request, unparsable)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 404 and detail == "Not Found":
        detail = _("There is no such endpoint.")
    elif exc.status_code == 405:
        # Starlette names only the methods of the first route that matched.
        allowed = allowed_methods(request.app, request.url.path) or frozenset()
        return method_not_allowed(request.method, allowed)
    problem_type = getattr(exc, "problem_type", "about:blank")
    return problem_response(exc.status_code, detail, type_=problem_type, headers=headers or None)


def method_not_allowed(method: str, allowed: frozenset[str]) -> JSONResponse:
    """405, with the methods of the resource in ``Allow`` (the message leaves out HEAD,
    which goes without saying where GET is)."""
    named = sorted(allowed - {"HEAD"} if "GET" in allowed else allowed)
    return problem_response(
        405,
        _("{method} is not supported here; use {allowed}.", method=method, allowed=either(named)),
        headers={"Allow": ", ".join(sorted(allowed))},
    )


def _has_valid_token(request: Request) -> bool:
    from app.auth import service as auth  # auth imports this module
    from app.db import new_session

    with new_session() as session:
        authorization = request.headers.get("Authorization", "")
        return auth.authenticate_header(session, authorization=authorization) is not None


def _writes_met() -> str:
    return _(
        "This write met another one at the same time and was undone, with nothing "
        "stored; send it again (with the same Idempotency-Key)."
    )


def _statement_too_slow() -> str:
    return _(
        "The database took longer than {seconds} s to answer, so this request was "
        "cancelled and nothing it did was kept; try again shortly, or ask for less.",
        seconds=f"{get_settings().statement_timeout:g}",
    )


def _lock_held_too_long() -> str:
    return _(
        "Another request held a lock on data this one needed for more than {seconds} s, "
        "so this one was cancelled and nothing it did was kept; try again shortly.",
        seconds=f"{get_settings().lock_timeout:g}",
    )


# PostgreSQL's answers that are not an outage, by SQLSTATE: the database is up, and the
# same request can be sent again. What the log says, what the client reads, Retry-After.
_UP_BUT_REFUSED: dict[str, tuple[str, Callable[[], str], int]] = {
    # Writers that met each other: a deadlock it broke, a serialization failure.
    "40P01": ("write met another and was rolled back", _writes_met, 1),
    "40001": ("write met another and was rolled back", _writes_met, 1),
    # TRACKER_STATEMENT_TIMEOUT and TRACKER_LOCK_TIMEOUT (app.db.postgres_deadlines).
    "57014": ("statement cancelled (statement_timeout)", _statement_too_slow, 5),
    "55P03": ("lock not obtained in time (lock_timeout)", _lock_held_too_long, 2),
}


async def _database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    if sqlstate in _UP_BUT_REFUSED:
        log, detail, retry_after = _UP_BUT_REFUSED[sqlstate]
        logger.warning("%s: %s", log, exc.__class__.__name__)
        return problem_response(
            503,
            detail(),
            type_=ServiceUnavailable.type,
            headers={"Retry-After": str(retry_after)},
        )
    logger.warning("database unavailable: %s", exc.__class__.__name__)
    return problem_response(
        503,
        _("The database is not answering; try again shortly."),
        type_=ServiceUnavailable.type,
        headers={"Retry-After": "5"},
    )


async def _pool_busy(_request: Request, exc: Exception) -> JSONResponse:
    # Admission (app.admission) keeps requests at work within the pool's size, so this
    # means connections held outside requests (commands, a long export) took them all.
    logger.warning("no database connection came free: %s", exc)
    return problem_response(
        503,
        _(
            "The service is busy: every database connection stayed in use. The database is "
            "up; try again shortly."
        ),
        type_=ServiceUnavailable.type,
        headers={"Retry-After": "5"},
    )


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unexpected error", exc_info=exc)
    return _internal_error()


def _internal_error() -> JSONResponse:
    return problem_response(500, _("An unexpected error occurred; it has been logged."))


class UnexpectedErrorMiddleware:
    """Answers an exception that no handler took with a 500 problem, and logs it with its
    traceback. It runs inside the request-id middleware, so the answer carries X-Request-ID
    and the log line the request id: Starlette's own last resort (``_unexpected``, kept for
    errors in the outer middleware) runs outside every middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                # Too late for a problem (a stream broke off): the server drops the
                # connection, so the client sees an incomplete response.
                logger.exception("unexpected error after the response started", exc_info=exc)
                raise
            logger.exception("unexpected error", exc_info=exc)
            await _internal_error()(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(PoolTimeoutError, _pool_busy)
    app.add_exception_handler(Exception, _unexpected)
