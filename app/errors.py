"""Errors a client can act on: ``AppError`` and its subclasses, each carrying its HTTP
status and problem type, and the problem details (RFC 9457) they become. app.http.problems
is the one place that renders them."""

from collections.abc import Sequence
from typing import Any

from app.i18n import _, pydantic_message, title

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


class ContentTooLarge(AppError):
    """More than the service takes in one request: a body over the size cap, a sheet
    over the import's limits."""

    status = 413
    type = "urn:crisis-tracker:problem:body-too-large"


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


def problem(
    status: int,
    detail: str,
    *,
    type_: str = "about:blank",
    title_: str | None = None,
    **extensions: Any,
) -> dict[str, Any]:
    """An RFC 9457 problem: its title in the request's language unless given."""
    return {
        "type": type_,
        "title": title(status) if title_ is None else title_,
        "status": status,
        "detail": detail,
        **extensions,
    }


def problem_body(exc: AppError) -> dict[str, Any]:
    return problem(exc.status, exc.detail, type_=exc.type, **exc.extensions)


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


def validation_problems(errors: Sequence[Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """Pydantic's errors as (location, message) pairs, as ValidationFailed takes them."""
    return [(_validation_loc(error["loc"]), _validation_message(error)) for error in errors]


def validation_failed(errors: Sequence[Any]) -> ValidationFailed:
    """Pydantic's errors as a ValidationFailed pointing at each field."""
    return ValidationFailed(validation_problems(errors))
