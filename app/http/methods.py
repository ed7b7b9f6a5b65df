"""The methods each path answers: HEAD wherever GET is, and a 405 naming the others."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http.problems import method_not_allowed
from app.http.requests import allowed_methods


class MethodsMiddleware:
    """Answers a method the resource at the path does not have with a 405 problem and its
    ``Allow`` header, before routing: the router would otherwise try the next route, and a
    literal path (``PUT /api/v1/sitreps/batch``) fall into a parameter of another
    (``/api/v1/sitreps/{sitrep_id}``), answering a 422 about it. And answers ``HEAD`` as
    ``GET`` with the same headers and no body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        allowed = allowed_methods(scope["app"], scope["path"])
        if method == "HEAD":
            send = _headers_only(send)
        if allowed is not None and method not in allowed:
            await method_not_allowed(method, allowed)(scope, receive, send)
        elif method == "HEAD":
            await self.app({**scope, "method": "GET"}, receive, send)
        else:
            await self.app(scope, receive, send)


def _headers_only(send: Send) -> Send:
    async def send_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            await send(message)
        elif message["type"] == "http.response.pathsend" or (
            message["type"] == "http.response.body" and not message.get("more_body", False)
        ):
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    return send_headers
