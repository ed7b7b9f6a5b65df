"""Request limits: the body, whole, within a size cap (413) and a time limit (408), and a
per-user rate limit (429)."""

import asyncio
import logging
import math
import time

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter as SharedMovingWindow
from limits.errors import StorageError
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import ContentTooLarge
from app.http.callers import caller
from app.http.problems import problem_response
from app.i18n import _, number

logger = logging.getLogger(__name__)


BODY_TIMEOUT = "urn:crisis-tracker:problem:body-timeout"


def _declares_body(scope: Scope) -> bool:
    """Whether the request says a body follows (a Content-Length above 0, or chunks)."""
    headers = dict(scope["headers"])
    length = headers.get(b"content-length")
    return b"transfer-encoding" in headers or (length is not None and length.strip() != b"0")


class BodyMiddleware:
    """Reads a request's whole body before the application sees it, so that nothing the
    application holds (an admission place, a pooled connection, SQLite's write lock) waits
    for a client: a body over ``max_bytes`` is a 413 (at once when Content-Length says so,
    otherwise as soon as the streamed body passes the limit), and a body of which nothing
    arrives for ``timeout`` seconds a 408. A client that goes away meanwhile gets nothing.

    The limit on time is between two pieces of the body, not on the whole of it: a field
    office on a slow line sending a large sheet keeps going as long as bytes arrive, and
    while it sends it holds only its socket and the bytes so far (at most ``max_bytes``:
    the application would read the body whole anyway). It sits outside the admission
    (app.http.admission), inside the caller and the rate limit: a caller over its limit is
    refused before its body is read."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _declares_body(scope):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        parts: list[bytes] = []
        received = 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), self.timeout)
            except TimeoutError:
                await self._timed_out(scope, receive, send, received)
                return
            if message["type"] == "http.disconnect":
                return
            part = message.get("body", b"")
            received += len(part)
            if received > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            parts.append(part)
            if not message.get("more_body", False):
                break
        body = b"".join(parts)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # what comes after the body: the disconnect
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = _(
            "The request body is larger than {limit} bytes; split it (a batch into smaller "
            "batches, a file into smaller files).",
            limit=number(self.max_bytes),
        )
        # The rest of the body is not read: the connection cannot carry another request.
        response = problem_response(
            413, detail, type_=ContentTooLarge.type, headers={"Connection": "close"}
        )
        await response(scope, receive, send)

    async def _timed_out(self, scope: Scope, receive: Receive, send: Send, received: int) -> None:
        detail = _(
            "The request body stopped arriving: nothing came for {seconds} seconds, after "
            "{received} bytes. Send the request again.",
            seconds=f"{self.timeout:g}",
            received=number(received),
        )
        response = problem_response(
            408, detail, type_=BODY_TIMEOUT, headers={"Connection": "close"}
        )
        await response(scope, receive, send)


def rate_limit_item(per_minute: int, burst: int) -> RateLimitItem:
    """``burst`` requests in any window of ``burst / per_minute`` minutes: on average at
    most ``per_minute`` a minute, and at most ``burst`` at once. The window is a whole
    number of seconds (rounded up, at least 1), so when ``burst * 60`` is not a multiple
    of ``per_minute`` the average is a little under ``per_minute``."""
    window = max(1, math.ceil(burst * 60 / per_minute))
    return RateLimitItemPerSecond(burst, window)


def _async_redis_uri(url: str) -> str:
    # limits names its asyncio storages async+redis://, async+rediss://, ...
    return url if url.startswith("async+") else f"async+{url}"


class RateLimitMiddleware:
    """A moving window per user (``rate_limit_item``), with the ``limits`` library: every
    token of one user, however its header is spelt, counts against the same budget;
    requests to the API without a valid token count per client address. Over the limit,
    429 with Retry-After (when the oldest request in the window leaves it).

    With ``redis_url`` the windows live in Redis, shared by every worker and server.
    Redis that fails (down, or slower than ``REDIS_TIMEOUT_SECONDS``) does not fail
    requests: they are counted in this process's memory, as without Redis, with a warning
    in the log, and Redis is tried again ``REDIS_RETRY_SECONDS`` later. Without Redis,
    each server process counts on its own, so with N workers a user can make up to N
    times as many requests.

    The user is the one app.http.callers found, or none when it could not be found."""

    REDIS_TIMEOUT_SECONDS = 0.5
    REDIS_RETRY_SECONDS = 5.0

    def __init__(
        self,
        app: ASGIApp,
        *,
        per_minute: int,
        burst: int,
        redis_url: str | None = None,
        key_prefix: str = "crisis-tracker",
    ) -> None:
        self.app = app
        self.item = rate_limit_item(per_minute, burst)
        # The memory storage of limits drops a key once its window has passed.
        self.local = MovingWindowRateLimiter(MemoryStorage())
        self.shared: SharedMovingWindow | None = None
        if redis_url is not None:
            storage = RedisStorage(
                _async_redis_uri(redis_url),
                implementation="redispy",
                key_prefix=f"{key_prefix}:rate-limit",
                wrap_exceptions=True,
                socket_timeout=self.REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=self.REDIS_TIMEOUT_SECONDS,
            )
            self.shared = SharedMovingWindow(storage)
        self.shared_failed_at: float | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        user_id = caller(scope)
        if user_id is not None:
            key = f"user:{user_id}"
        else:
            client = scope.get("client")
            key = f"address:{client[0] if client else ''}"
        wait = await self._hit(key)
        if wait > 0:
            detail = (
                _(
                    "Too many requests from your account (all its tokens count together); "
                    "slow down and retry after the number of seconds in Retry-After."
                )
                if user_id is not None
                else _(
                    "Too many requests without a valid API token from this address; slow "
                    "down and retry after the number of seconds in Retry-After."
                )
            )
            response = problem_response(
                429,
                detail,
                type_="urn:crisis-tracker:problem:rate-limited",
                headers={"Retry-After": str(math.ceil(wait))},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _hit(self, key: str) -> float:
        """Counts one request; returns 0, or how many seconds until one more may pass."""
        if self.shared is not None and not self._shared_resting():
            try:
                if await self.shared.hit(self.item, key):
                    wait = 0.0
                else:
                    stats = await self.shared.get_window_stats(self.item, key)
                    wait = max(1.0, stats.reset_time - time.time())
            except StorageError as exc:
                self.shared_failed_at = time.monotonic()
                logger.warning(
                    "Redis is not answering (%s); the rate limit is counted in each "
                    "process until it is back",
                    exc.storage_error,
                )
            else:
                if self.shared_failed_at is not None:
                    self.shared_failed_at = None
                    logger.warning("Redis answers again; the rate limit is shared again")
                return wait
        if self.local.hit(self.item, key):
            return 0.0
        stats = self.local.get_window_stats(self.item, key)
        return max(1.0, stats.reset_time - time.time())

    def _shared_resting(self) -> bool:
        failed = self.shared_failed_at
        return failed is not None and time.monotonic() - failed < self.REDIS_RETRY_SECONDS
