"""Who is calling: the user whose API token a request to the API carries, found once per
request, before anything may refuse it.

``CallerMiddleware`` leaves the user's id in ``scope["state"]["caller"]`` (None: no live
token). The rate limit counts by it, and a request refused before its own authentication
runs (a body that is not JSON, an unknown query parameter) reads it to answer 401 first,
without asking the database again. When the database could not be asked, the key is
absent and the error is kept instead (``failure``): the request's own authentication
answers it (a 503 that names the cause) rather than waiting for the database again.

The lookup is handed in (``Identify``, from app.auth by app.main): this package knows no
domain. Found as ``current_user`` finds it: from the token cache, in memory, or else with a
lookup in the database on a thread, which fills the cache for the request's own
authentication. Concurrent requests with the same unknown token make one lookup."""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger(__name__)

CALLER = "caller"
_FAILURE = "caller_lookup_failure"


@dataclass(frozen=True, slots=True)
class Identify:
    """How to find the user of an ``Authorization`` header value."""

    # A key of the token (its hash), or None when the header carries no bearer token.
    key: Callable[[str], str | None]
    # The user's id from memory alone, or None when the database must be asked.
    cached: Callable[[str], int | None]
    # The user's id from the database, or None for no live token. May raise.
    look_up: Callable[[str], int | None]


def caller(scope: Scope) -> int | None:
    """The id of the user whose live token the request carries; None without one."""
    found: int | None = scope.get("state", {}).get(CALLER)
    return found


def without_token(scope: Scope) -> bool:
    """Whether the request is known to carry no live token (False when the database could
    not say): what makes a refusal before authentication a 401 first."""
    state = scope.get("state", {})
    return CALLER in state and state[CALLER] is None


def failure(scope: Scope) -> SQLAlchemyError | None:
    """The database's error when it could not say who the caller is."""
    failed: SQLAlchemyError | None = scope.get("state", {}).get(_FAILURE)
    return failed


class CallerMiddleware:
    def __init__(self, app: ASGIApp, *, identify: Identify) -> None:
        self.app = app
        self.identify = identify
        # Lookups in the database under way, by token key: a burst of one token that the
        # cache does not know (yet, or any more) makes one lookup, not one per request.
        self.lookups: dict[str, asyncio.Task[int | None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            try:
                found = await self._user_id(scope)
            except SQLAlchemyError as exc:
                logger.info("could not look the token up: %s", exc.__class__.__name__)
                scope.setdefault("state", {})[_FAILURE] = exc
            else:
                scope.setdefault("state", {})[CALLER] = found
        await self.app(scope, receive, send)

    async def _user_id(self, scope: Scope) -> int | None:
        header = dict(scope.get("headers", [])).get(b"authorization")
        authorization = header.decode("latin-1") if header else ""
        key = self.identify.key(authorization) if authorization else None
        if key is None:
            return None
        user_id = self.identify.cached(authorization)
        if user_id is not None:
            return user_id
        lookup = self.lookups.get(key)
        if lookup is None or lookup.get_loop() is not asyncio.get_running_loop():
            lookup = asyncio.ensure_future(run_in_threadpool(self.identify.look_up, authorization))
            self.lookups[key] = lookup

            def forget(done: asyncio.Task[int | None]) -> None:
                if self.lookups.get(key) is done:
                    del self.lookups[key]

            lookup.add_done_callback(forget)
        # Shielded: a client that goes away does not cancel the lookup others wait for.
        return await asyncio.shield(lookup)
