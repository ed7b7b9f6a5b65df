"""Unknown query parameters are a 422 (API.md): a misspelt filter must never widen an
answer, so ``?contry=SDN`` is refused instead of listing every country. A parameter given
with no value (``?country=``, as a form or a URL template leaves it) is no filter at all.

A request line of 64 KiB or more never reaches the application: uvicorn's httptools parser
cannot parse such a URL (its offsets are 16-bit) and answers a plain-text 400 itself, which
no setting raises (with ``--http h11`` the limit is ``h11_max_incomplete_event_size``, 16 KiB
for the whole request head by default, answered the same way). No query of this API comes
near it: every country of the world as a filter is about 1 KiB."""

from typing import Annotated, Any
from urllib.parse import unquote_plus

from fastapi import Path as PathParam
from fastapi import Query, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.db import MAX_ID
from app.errors import Unauthorized, ValidationFailed
from app.http.callers import without_token
from app.http.requests import route_template
from app.i18n import _

# Ids in the path and the query: a larger id than any row can have cannot exist, and
# passing it to the database driver would fail, so ids are bounded where they enter.
PathId = Annotated[int, PathParam(ge=1, le=MAX_ID)]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]

QueryParameters = dict[tuple[str, str], frozenset[str]]
# Where EmptyQueryParametersMiddleware leaves the names of the parameters it dropped.
_DROPPED = "empty_query_parameters"


class EmptyQueryParametersMiddleware:
    """Drops every query parameter whose value is empty or blanks (``?country=&year=2024``
    is ``?year=2024``), so that an empty filter is no filter rather than a 422 about
    "nothing". The names stay known to ``known_query_parameters``: ``?contry=`` is still
    refused."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query: bytes = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if query:
            kept: list[bytes] = []
            dropped: list[str] = []
            for pair in query.split(b"&"):
                name, _equals, value = pair.partition(b"=")
                if unquote_plus(value.decode("latin-1")).strip():
                    kept.append(pair)
                elif name:
                    dropped.append(unquote_plus(name.decode("latin-1")))
            if dropped or len(kept) != query.count(b"&") + 1:
                scope = {**scope, "query_string": b"&".join(kept)}
                scope.setdefault("state", {})[_DROPPED] = dropped
        await self.app(scope, receive, send)


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


async def known_query_parameters(request: Request) -> None:
    """Refuses every query parameter the operation does not take, each at its name. It runs
    before the request's own dependencies (its session, its Idempotency-Key claim) and
    opens no session: a caller without a valid token (app.http.callers) hears 401 first."""
    method = "GET" if request.method == "HEAD" else request.method
    known = _query_parameters(request.app).get((route_template(request.scope), method))
    if known is None:
        return
    given = {*request.query_params, *request.scope.get("state", {}).get(_DROPPED, ())}
    unknown = sorted({name for name in given if name not in known})
    if not unknown:
        return
    if without_token(request.scope):
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
