"""What the service knows about the request being handled, for audit records and logs."""

import re
import uuid
from contextvars import ContextVar
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


class RequestIdMiddleware:
    """Gives every request an id (the client's X-Request-ID when it is a sensible one),
    makes it available as ``request_id`` and returns it in the X-Request-ID header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = (
            dict(scope["headers"]).get(REQUEST_ID_HEADER.lower().encode(), b"").decode("latin-1")
        )
        current = offered if _VALID_REQUEST_ID.match(offered) else uuid.uuid4().hex
        token = request_id.set(current)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = current
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)


def route_template(scope: Scope) -> str:
    """The path template a request addresses (``/api/v1/sitreps/{sitrep_id}``), for logs
    and metrics: bounded, unlike raw paths. Known before routing, so requests refused
    before it (413, 429) have theirs too; a path matching none is ``<unmatched>``."""
    app = scope.get("app")
    if app is None:
        return UNMATCHED
    best: tuple[tuple[int, bool], str] | None = None
    for template, pattern, methods in route_templates(app):
        if pattern.fullmatch(scope["path"]):
            # The resource the path names, as allowed_methods finds it: literal segments
            # over parameters (/sitreps/batch over /sitreps/{sitrep_id}), whatever the
            # method; then, among equals, a route of this method.
            rank = (-template.count("{"), scope["method"] in methods)
            if best is None or rank > best[0]:
                best = (rank, template)
    return UNMATCHED if best is None else best[1]


UNMATCHED = "<unmatched>"
Template = tuple[str, re.Pattern[str], frozenset[str]]


def route_templates(app: Any) -> list[Template]:
    """Every path template of the application with its methods: the operations of its
    OpenAPI document, and the routes it leaves out (/metrics, /docs)."""
    table: list[Template] | None = getattr(app.state, "route_templates", None)
    if table is None:
        paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
        entries = [(t, {m.upper() for m in operations}) for t, operations in paths.items()]
        entries += [
            (route.path, set(route.methods or ()) - {"HEAD"})
            for route in app.routes
            if isinstance(route, Route) and route.path not in paths
        ]
        table = [
            (t, re.compile(re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(t))), frozenset(m))
            for t, m in entries
        ]
        app.state.route_templates = table
    return table


def allowed_methods(app: Any, path: str) -> frozenset[str] | None:
    """The methods of the resource at ``path``, None when no route has it. That resource is
    the most literal template matching the path, as the router prefers it
    (/sitreps/batch, not /sitreps/{sitrep_id}); HEAD is allowed wherever GET is."""
    matches = [
        (template.count("{"), methods)
        for template, pattern, methods in route_templates(app)
        if pattern.fullmatch(path)
    ]
    if not matches:
        return None
    fewest = min(parameters for parameters, _methods in matches)
    allowed = set().union(*(methods for parameters, methods in matches if parameters == fewest))
    if "GET" in allowed:
        allowed.add("HEAD")
    return frozenset(allowed)
