"""Errors as problem+json (RFC 9457): the one place that renders them. ``AppError`` and
its subclasses carry their status (app.errors); FastAPI's and Starlette's own errors, and
the database's, are answered here in the same form; anything else is a logged 500."""

import logging
import sys
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import get_settings
from app.errors import (
    PROBLEM_MEDIA_TYPE,
    AppError,
    ServiceUnavailable,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
    problem,
    problem_body,
    validation_failed,
)
from app.http.callers import without_token
from app.http.requests import allowed_methods
from app.i18n import _, either, number

logger = logging.getLogger(__name__)


def problem_response(
    status: int,
    detail: str,
    *,
    type_: str = "about:blank",
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    return JSONResponse(
        problem(status, detail, type_=type_, **extensions),
        status_code=status,
        headers=headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


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
    without a valid token must still hear 401 first, as for any other request to the API.
    Who the caller is was found before the request reached the application
    (app.http.callers); when the database could not say, the refusal stands."""
    if request.url.path.startswith("/api/") and without_token(request.scope):
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
    # Admission (app.http.admission) keeps requests at work within the pool's size, so this
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
