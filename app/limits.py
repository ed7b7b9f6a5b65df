"""Request limits: a body size cap (413) and a per-token rate limit (429)."""

import hashlib
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import problem_response
from app.i18n import _, number


class BodyTooLarge(HTTPException):
    """Raised while the body streams in; FastAPI lets an HTTPException from reading the
    body through, to the problem handler."""

    problem_type = "urn:crisis-tracker:problem:body-too-large"

    def __init__(self, max_bytes: int) -> None:
        super().__init__(
            413,
            _(
                "The request body is larger than {limit} bytes; split it (a batch into smaller "
                "batches, a file into smaller files).",
                limit=number(max_bytes),
            ),
        )


class BodySizeLimitMiddleware:
    """Refuses a request body over ``max_bytes`` with 413: at once when Content-Length says
    so, otherwise as soon as the streamed body passes the limit."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counting_receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = BodyTooLarge(self.max_bytes)
        response = problem_response(413, error.detail, type_=error.problem_type)
        await response(scope, receive, send)


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimitMiddleware:
    """A token bucket per API token: ``per_minute`` requests a minute on average, bursts of
    up to ``burst``. Over the limit, 429 with Retry-After. Counted in each server process,
    so with N workers a token can make up to N times as many requests."""

    MAX_BUCKETS = 10_000

    def __init__(self, app: ASGIApp, *, per_minute: int, burst: int) -> None:
        self.app = app
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        # Least recently used first, so the table stays bounded at O(1) a request.
        self.buckets: OrderedDict[bytes, _Bucket] = OrderedDict()
        self.lock = Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        authorization = dict(scope.get("headers", [])).get(b"authorization")
        if scope["type"] != "http" or not authorization or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        wait = self._take(hashlib.sha256(authorization).digest())
        if wait > 0:
            response = problem_response(
                429,
                _(
                    "Too many requests with this token; slow down and retry after the number "
                    "of seconds in Retry-After."
                ),
                type_="urn:crisis-tracker:problem:rate-limited",
                headers={"Retry-After": str(math.ceil(wait))},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _take(self, key: bytes) -> float:
        """Takes one token; returns 0, or how many seconds until one is available."""
        now = time.monotonic()
        with self.lock:
            bucket = self.buckets.get(key)
            if bucket is None:
                if len(self.buckets) >= self.MAX_BUCKETS:
                    self.buckets.popitem(last=False)
                bucket = self.buckets[key] = _Bucket(tokens=self.burst, updated=now)
            else:
                self.buckets.move_to_end(key)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) / self.rate
