"""`crisis-tracker serve` as operators run it (issue 5, part 4): JSON logs, metrics added
up over worker processes, and a SIGTERM that lets requests in flight finish."""

from __future__ import annotations

import itertools
import json
import signal
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from app.db import new_session
from app.sitreps import service as sitreps_service
from app.sitreps.models import Sitrep
from app.sitreps.schemas import SitrepCreate
from tests.factories import make_user
from tests.servers import Server, running

DEADLINE = 60.0


def metric(server: Server, name: str, **labels: str) -> float:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def wait_for_log(server: Server, marker: str, count: int = 1) -> None:
    """Until ``marker`` is in the log ``count`` times: a worker writes its access line once
    the response is on its way, so the client can be answered before the line is written."""
    deadline = time.monotonic() + DEADLINE
    while server.log_text().count(marker) < count:
        assert time.monotonic() < deadline, f"{marker!r} not logged {count} times"
        time.sleep(0.05)


def log_entries(server: Server) -> list[dict[str, Any]]:
    """The server's log: every line must be one JSON object."""
    return [json.loads(line) for line in server.log_text().splitlines() if line.strip()]


def test_json_logs_and_metrics_over_two_workers(migrated: str, tmp_path: Path) -> None:
    """Two worker processes: /metrics (prometheus multiprocess mode, set up by serve)
    counts every request whichever worker served it; every log line is JSON."""
    with running(migrated, tmp_path / "server.log", workers=2) as server:
        requests = "tracker_http_requests_total"
        labels = {"method": "GET", "route": "/healthz", "status": "200"}
        before = metric(server, requests, **labels)
        # A connection each, so that the kernel spreads them over both workers.
        for n in range(20):
            response = httpx.get(
                f"{server.url}/healthz", headers={"X-Request-ID": f"probe-{n}"}, timeout=10
            )
            assert response.headers["X-Request-ID"] == f"probe-{n}"
        # Whichever worker answers the scrape, it adds up every worker's counts.
        assert metric(server, requests, **labels) - before == 20
        assert metric(server, "tracker_db_pool_size") >= 2  # one pool a worker

        wait_for_log(server, '"probe-', count=20)
        entries = log_entries(server)
        assert {"Application startup complete."} <= {e["message"] for e in entries}
        assert all({"time", "level", "logger", "message"} <= e.keys() for e in entries)
        access = [e for e in entries if str(e.get("request_id", "")).startswith("probe-")]
        assert len(access) == 20
        for entry in access:
            assert entry["logger"] == "app.access" and entry["status"] == 200
            assert entry["method"] == "GET" and entry["path"] == entry["route"] == "/healthz"
            assert isinstance(entry["duration_ms"], float)
        # uvicorn's own access log is replaced by ours.
        assert not [e for e in entries if e["logger"] == "uvicorn.access"]
        assert "Traceback" not in server.log_text()
        # /readyz probes do not fill the log with the migration library's chatter.
        assert not [e for e in entries if e["logger"].startswith("alembic")]


def backlog(sitreps: int, lines: int) -> list[dict[str, Any]]:
    """A field office's backlog: weekly sitreps going back in time, many lines each."""
    slots = list(
        itertools.product(
            ("shelter", "wash", "cccm", "cash", "health"),
            ("hod", "pcca", "prd"),
            ("preparedness", "response", "recovery"),
        )
    )[:lines]
    first = date(2024, 1, 1)
    return [
        {
            "country": "SDN",
            "period_start": str(first - timedelta(weeks=week)),
            "period_end": str(first - timedelta(weeks=week) + timedelta(days=6)),
            "lines": [
                {
                    "sector": sector,
                    "division": division,
                    "phase": phase,
                    "admin1": "SD01",
                    "people_reached": 10 + week,
                }
                for sector, division, phase in slots
            ],
        }
        for week in range(sitreps)
    ]


def test_sigterm_lets_a_request_in_flight_finish(migrated: str, tmp_path: Path) -> None:
    """A batch is in flight when SIGTERM arrives: the server stops accepting connections
    at once, answers the batch (2xx) and only then exits; every sitrep of it is stored.

    The test holds the locks the batch's writes take (SQLite's write lock, or on PostgreSQL
    the advisory locks of the batch's slots) until after the signal, so the batch is certainly still
    being handled then, however fast the machine."""
    token = make_user("field", countries=["SDN"])
    batch = {"sitreps": backlog(sitreps=50, lines=20)}
    with running(migrated, tmp_path / "server.log", shutdown_timeout="120") as server:
        answer: dict[str, Any] = {}

        def send_batch() -> None:
            try:
                answer["response"] = httpx.post(
                    f"{server.url}/api/v1/sitreps/batch",
                    json=batch,
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=180,
                )
            except httpx.HTTPError as exc:  # pragma: no cover - the failure under test
                answer["error"] = exc

        sender = threading.Thread(target=send_batch)
        with new_session(writes=True) as lock_holder:
            sitreps_service.lock_slots_of(
                lock_holder, [SitrepCreate.model_validate(s) for s in batch["sitreps"]]
            )
            sender.start()
            in_flight = {"method": "POST", "route": "/api/v1/sitreps/batch"}
            deadline = time.monotonic() + DEADLINE
            while metric(server, "tracker_http_requests_in_progress", **in_flight) < 1:
                assert time.monotonic() < deadline, "the batch never arrived"
                time.sleep(0.05)

            server.process.send_signal(signal.SIGTERM)
            refused = False
            while not refused and time.monotonic() < deadline:
                try:
                    httpx.get(f"{server.url}/healthz", timeout=5)
                except httpx.ConnectError:
                    refused = True
                except httpx.TransportError:
                    pass  # accepted just before the listener closed, then shut: try again
                else:
                    time.sleep(0.05)
            assert refused, "the server still accepted connections after SIGTERM"
            assert sender.is_alive() and server.process.poll() is None
            lock_holder.rollback()

        sender.join(timeout=180)
        # uvicorn re-raises the signal once it has shut down cleanly.
        assert server.process.wait(timeout=60) in (0, -signal.SIGTERM)

    assert "error" not in answer, answer.get("error")
    response = answer["response"]
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 50 and response.json()["refused"] == 0
    with new_session() as session:
        assert session.scalar(select(func.count()).select_from(Sitrep)) == 50
    assert "Waiting for connections to close" in server.log_text()


def test_text_logs_on_request(migrated: str, tmp_path: Path) -> None:
    with running(migrated, tmp_path / "server.log", log_format="text") as server:
        httpx.get(f"{server.url}/healthz", headers={"X-Request-ID": "plain-1"}, timeout=10)
        wait_for_log(server, "[plain-1]")
        lines = server.log_text().splitlines()
    (access,) = [line for line in lines if "[plain-1]" in line]
    assert " INFO    app.access [plain-1] GET /healthz 200 " in access
