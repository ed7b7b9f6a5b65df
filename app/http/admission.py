"""Admission: no more requests at work than there are database connections, and no caller
taking them all.

A request to the API holds a database connection from its first query to its commit, and
runs its dependencies and its endpoint on threads of the thread pool. Left alone, a burst
larger than the connection pool fills the thread pool with requests blocked on the pool
while the requests that hold connections wait for a thread: everything stalls until the
pool's timeout turns the lot into 503s, with the database healthy. So a request waits here,
in the event loop (no thread, no connection held), until one of ``capacity`` places is free
(the pool's size plus its overflow; the thread pool is made at least that large), and a
caller (an API token, or a client address without one) holds at most ``per_caller`` of them,
so that one caller's burst queues behind itself while other users' requests go on. A
request that cannot get a place within ``timeout`` seconds is a 503 that says the service is
busy, with Retry-After.
"""

import asyncio
import hashlib
import math
import time
from collections import deque

from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import ServiceUnavailable
from app.http.problems import problem_response
from app.i18n import _


class _Gate:
    """A first-come first-served semaphore of ``size`` places."""

    __slots__ = ("free", "waiters")

    def __init__(self, size: int) -> None:
        self.free = size
        self.waiters: deque[asyncio.Future[None]] = deque()

    async def enter(self, timeout: float) -> bool:
        if self.free > 0 and not self.waiters:
            self.free -= 1
            return True
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except TimeoutError:
            if waiter.done():  # handed a place just as the wait ran out: keep it
                return True
            self.waiters.remove(waiter)
            waiter.cancel()
            return False
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.leave()
            elif waiter in self.waiters:
                self.waiters.remove(waiter)
            raise
        return True

    def leave(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the place passes straight to the next in line
                return
        self.free += 1


def caller_key(scope: Scope) -> bytes:
    """Who is calling: the bearer token however it is spelt (scheme in any case, any
    spaces), or the client's address for requests without one."""
    authorization = dict(scope.get("headers", [])).get(b"authorization", b"")
    scheme, _sep, token = authorization.strip().partition(b" ")
    if scheme.lower() == b"bearer" and token.strip():
        return b"t:" + hashlib.sha256(token.strip()).digest()
    client = scope.get("client")
    return b"a:" + (client[0].encode() if client else b"")


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp, *, capacity: int, per_caller: int, timeout: float) -> None:
        self.app = app
        self.timeout = timeout
        self.per_caller = per_caller
        self.everyone = _Gate(capacity)
        self.callers: dict[bytes, tuple[_Gate, int]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        key = caller_key(scope)
        gate, users = self.callers.get(key, (None, 0))
        if gate is None:
            gate = _Gate(self.per_caller)
        self.callers[key] = (gate, users + 1)
        try:
            deadline = time.monotonic() + self.timeout
            if not await gate.enter(self.timeout):
                await self._busy(scope, receive, send)
                return
            try:
                if not await self.everyone.enter(max(0.0, deadline - time.monotonic())):
                    await self._busy(scope, receive, send)
                    return
                try:
                    await self.app(scope, receive, send)
                finally:
                    self.everyone.leave()
            finally:
                gate.leave()
        finally:
            gate, users = self.callers[key]
            if users == 1:
                del self.callers[key]
            else:
                self.callers[key] = (gate, users - 1)

    async def _busy(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            503,
            _(
                "The service is busy: no request place came free within {seconds} s. The "
                "database is up; try again after the number of seconds in Retry-After.",
                seconds=f"{self.timeout:g}",
            ),
            type_=ServiceUnavailable.type,
            headers={"Retry-After": str(max(1, math.ceil(self.timeout / 10)))},
        )
        await response(scope, receive, send)
