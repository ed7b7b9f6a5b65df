"""Unknown query parameters are a 422 (API.md): a misspelt filter must never widen an
answer, so ``?contry=SDN`` is refused instead of listing every country."""

from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from app.auth import service as auth
from app.db import new_session
from app.errors import Unauthorized, ValidationFailed
from app.i18n import _
from app.requests import route_template

QueryParameters = dict[tuple[str, str], frozenset[str]]


def _query_parameters(app: Any) -> QueryParameters:
    """The query parameters of every operation, by path template and method, as the
    OpenAPI document declares them (built once per application)."""
    table: QueryParameters | None = getattr(app.state, "query_parameters", None)
    if table is None:
        table = {
            (path, method.upper()): frozenset(
                p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"
            )
            for path, operations in app.openapi()["paths"].items()
            for method, operation in operations.items()
        }
        app.state.query_parameters = table
    return table


def _valid_header(authorization: str) -> bool:
    with new_session() as session:
        return auth.authenticate_header(session, authorization=authorization) is not None


async def known_query_parameters(request: Request) -> None:
    """Refuses every query parameter the operation does not take, each at its name. It runs
    before the request's own dependencies (its session, its Idempotency-Key claim), so it
    opens no session unless it refuses, and then a caller without a valid token hears 401
    first. Every API request passes here: the check runs on the event loop, and only a
    refusal goes to a thread (it may ask the database about the token)."""
    method = "GET" if request.method == "HEAD" else request.method
    known = _query_parameters(request.app).get((route_template(request.scope), method))
    if known is None:
        return
    unknown = sorted({name for name in request.query_params if name not in known})
    if not unknown:
        return
    authorization = request.headers.get("Authorization", "")
    if not await run_in_threadpool(_valid_header, authorization):
        raise Unauthorized(_("Send a valid API token as 'Authorization: Bearer <token>'."))
    takes = ", ".join(sorted(known))
    raise ValidationFailed(
        [
            (
                ("query", name),
                _(
                    "{name} is not a parameter of this endpoint; it takes {known}",
                    name=name,
                    known=takes,
                )
                if known
                else _("{name} is not a parameter of this endpoint, which takes none", name=name),
            )
            for name in unknown
        ]
    )
