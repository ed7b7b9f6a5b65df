"""Prometheus metrics, served at GET /metrics.

With one server process the metrics live in memory. With ``serve --workers N`` every worker
writes its metrics to files in ``PROMETHEUS_MULTIPROC_DIR`` (``serve`` makes the directory)
and /metrics, served by any worker, adds them up (prometheus_client's multiprocess mode).
"""

import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, SessionTransaction
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import get_settings
from app.db import transaction_chain
from app.errors import Unauthorized
from app.http.logs import log_access
from app.http.requests import route_template

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
if os.environ.get(MULTIPROC_DIR):
    # In multiprocess mode prometheus_client opens its files as metrics are defined, below:
    # a directory the operator named but did not make would stop every command here.
    Path(os.environ[MULTIPROC_DIR]).mkdir(parents=True, exist_ok=True)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter(
    "tracker_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "tracker_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
IN_PROGRESS = Gauge(
    "tracker_http_requests_in_progress",
    "Requests being handled, by route template.",
    ["method", "route"],
    multiprocess_mode="livesum",
)
SITREPS = Counter(
    "tracker_sitreps",
    "Sitrep writes committed: submitted, amended, withdrawn.",
    ["action"],
)
for _action in ("submitted", "amended", "withdrawn"):
    SITREPS.labels(_action)
POOL_SIZE = Gauge(
    "tracker_db_pool_size",
    "Connections the database pool keeps (its configured size), over all worker processes.",
    multiprocess_mode="livesum",
)
POOL_CHECKED_OUT = Gauge(
    "tracker_db_pool_checked_out",
    "Database connections in use by requests, over all worker processes.",
    multiprocess_mode="livesum",
)


def read_metrics(request: Request) -> Response:
    """The Prometheus text format. Open like /healthz, unless TRACKER_METRICS_TOKEN is set:
    then it needs ``Authorization: Bearer <that token>``."""
    token = get_settings().metrics_token
    if token is not None:
        given = request.headers.get("Authorization", "").encode()
        if not secrets.compare_digest(given, f"Bearer {token.get_secret_value()}".encode()):
            raise Unauthorized("Send the metrics token as 'Authorization: Bearer <token>'.")
    return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)


def _registry() -> CollectorRegistry:
    if MULTIPROC_DIR not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


class RequestsMiddleware:
    """Observes every request once: counts and times it by method, route template (never
    the raw path, so the number of series stays bounded) and status, and writes its access
    log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"] if scope["method"] in METHODS else "other"
        route = route_template(scope)
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception escaped every handler

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        in_progress = IN_PROGRESS.labels(method, route)
        in_progress.inc()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            seconds = time.perf_counter() - started
            in_progress.dec()
            LATENCY.labels(method, route).observe(seconds)
            REQUESTS.labels(method, route, str(status)).inc()
            log_access(scope, route=route, status=status, seconds=seconds)


# --- the database pool -------------------------------------------------------------------


def _checked_out(*_args: Any) -> None:
    POOL_CHECKED_OUT.inc()


def _checked_in(*_args: Any) -> None:
    POOL_CHECKED_OUT.dec()


def watch_pool(engine: Engine) -> None:
    """Follows the engine's pool (once, however often the application starts)."""
    if event.contains(engine, "checkout", _checked_out):
        return
    POOL_SIZE.inc(getattr(engine.pool, "size", lambda: 0)())
    event.listen(engine, "checkout", _checked_out)
    event.listen(engine, "checkin", _checked_in)


# --- sitreps, once committed -------------------------------------------------------------

_PENDING = "metrics.sitreps"
_COMMITTED = "metrics.committed"


def count_sitrep(session: Session, action: str) -> None:
    """Counts a sitrep write when the session's transaction commits: not when it, or the
    savepoint the write was made in (a batch item, an import's dry run), rolls back."""
    session.info.setdefault(_PENDING, []).append((action, transaction_chain(session)))


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    if _PENDING in session.info:
        session.info[_PENDING] = [
            (action, chain)
            for action, chain in session.info[_PENDING]
            if previous_transaction not in chain
        ]


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    # Always followed by the end of the transaction that committed (a savepoint or the
    # whole transaction): _ended knows from this that it committed.
    session.info[_COMMITTED] = True


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    committed = session.info.pop(_COMMITTED, False)
    if transaction.parent is None and _PENDING in session.info:
        pending = session.info.pop(_PENDING)
        if committed:
            for action, _chain in pending:
                SITREPS.labels(action).inc()


# --- several worker processes ------------------------------------------------------------


def prepare_multiprocess(workers: int) -> Path | None:
    """For ``serve``: with several workers (or PROMETHEUS_MULTIPROC_DIR already set), a
    directory for their metric files, emptied of an earlier run's. Returns a directory it
    made itself (for the caller to remove on exit)."""
    given = os.environ.get(MULTIPROC_DIR)
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        mine = f"_{os.getpid()}.db"
        for stale in directory.glob("*.db"):
            if not stale.name.endswith(mine):
                stale.unlink(missing_ok=True)
        return None
    if workers == 1:
        return None
    made = Path(tempfile.mkdtemp(prefix="crisis-tracker-metrics-"))
    os.environ[MULTIPROC_DIR] = str(made)
    return made


def process_exit() -> None:
    """A worker stopping takes its live gauges (requests in progress, pool) out of the sum."""
    if MULTIPROC_DIR in os.environ:
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
