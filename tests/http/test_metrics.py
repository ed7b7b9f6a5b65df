"""Prometheus metrics at /metrics (issue 5, part 4), in process. Several worker processes
are in test_serve.py."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.config import get_settings
from app.db import get_engine
from app.http import metrics
from tests.factories import Api, assert_problem, line, sitrep


def scrape(client: Any, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """/metrics as {(sample name, sorted labels): value}."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_are_counted_by_route_template_never_raw_path(api, client) -> None:
    hq = api("hq")
    before = scrape(client)
    for sitrep_id in (111, 222, 333):
        assert hq.get(f"/api/v1/sitreps/{sitrep_id}").status_code == 404
    hq.get("/api/v1/exports/totals.json")
    client.get("/no/such/path/4711")
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    route = "/api/v1/sitreps/{sitrep_id}"
    assert delta("tracker_http_requests_total", method="GET", route=route, status="404") == 3
    count = "tracker_http_request_duration_seconds_count"
    assert delta(count, method="GET", route=route) == 3
    assert delta(count, method="GET", route="/api/v1/exports/totals.{format}") == 1
    assert delta("tracker_http_requests_total", method="GET", route="<unmatched>", status="404")
    assert not [key for key in after if any("111" in v or "4711" in v for _, v in key[1])]


def test_sitreps_are_counted_once_committed(api, client) -> None:
    field: Api = api("field", countries=["SDN"])

    def counts() -> dict[str, float]:
        samples = scrape(client)
        return {
            action: value(samples, "tracker_sitreps_total", action=action)
            for action in ("submitted", "amended", "withdrawn")
        }

    start = counts()
    created = field.post("/api/v1/sitreps", json=sitrep(line()))
    assert created.status_code == 201
    # Refused: the same slot again.
    assert field.post("/api/v1/sitreps", json=sitrep(line())).status_code == 409
    body = {**sitrep(line(reached=120)), "narrative": "Corrected."}
    amended = field.put(
        f"/api/v1/sitreps/{created.json()['id']}",
        json=body,
        headers={"If-Match": created.headers["ETag"]},
    )
    assert amended.status_code == 200
    withdrawn = field.delete(
        f"/api/v1/sitreps/{created.json()['id']}",
        json={"reason": "twice"},
        headers={"If-Match": amended.headers["ETag"]},
    )
    assert withdrawn.status_code == 200
    # A batch of two, one refused (its savepoint rolls back); then an import's dry run,
    # which rolls back everything it wrote.
    batch = field.post(
        "/api/v1/sitreps/batch",
        json={"sitreps": [sitrep(line(admin1="SD02")), sitrep(line(admin1="TCD14"))]},
    )
    assert batch.json()["accepted"] == 1
    dry = field.post(
        "/api/v1/imports?dry_run=true",
        content="country,period_start,period_end,sector,division,phase,admin1,people_reached\n"
        "SDN,2024-05-01,2024-05-31,shelter,hod,response,SD01,50\n",
        headers={"Content-Type": "text/csv"},
    )
    assert dry.status_code == 200 and dry.json()["dry_run"] is True

    end = counts()
    assert {k: end[k] - start[k] for k in end} == {"submitted": 2, "amended": 1, "withdrawn": 1}


def test_pool_gauges_follow_connections_in_use(client) -> None:
    before = scrape(client)
    assert value(before, "tracker_db_pool_size") >= 1
    with get_engine().connect() as held:
        held.exec_driver_sql("SELECT 1")
        during = scrape(client)
    after = scrape(client)
    checked_out = "tracker_db_pool_checked_out"
    assert value(during, checked_out) == value(before, checked_out) + 1
    assert value(after, checked_out) == value(before, checked_out)


def test_requests_in_progress_are_a_gauge(client) -> None:
    samples = scrape(client)
    # The scrape itself is the one request in progress.
    assert value(samples, "tracker_http_requests_in_progress", method="GET", route="/metrics") == 1


def test_metrics_are_open_by_default_and_not_in_the_api_document(client) -> None:
    assert client.get("/metrics").status_code == 200
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


@pytest.fixture
def metrics_token(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("TRACKER_METRICS_TOKEN", "scrape-me")
    get_settings.cache_clear()
    yield "scrape-me"
    get_settings.cache_clear()


def test_metrics_token_protects_them_when_set(client, metrics_token: str) -> None:
    body = assert_problem(client.get("/metrics"), 401)
    assert "metrics token" in body["detail"]
    assert_problem(client.get("/metrics", headers={"Authorization": "Bearer nope"}), 401)
    scrape(client, Authorization=f"Bearer {metrics_token}")


def test_serve_prepares_a_directory_for_workers_metrics(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (setenv first: delenv of an unset variable would not restore it as unset afterwards)
    monkeypatch.setenv(metrics.MULTIPROC_DIR, "")
    monkeypatch.delenv(metrics.MULTIPROC_DIR)
    assert metrics.prepare_multiprocess(1) is None  # one process: metrics in memory
    assert metrics.MULTIPROC_DIR not in os.environ
    made = metrics.prepare_multiprocess(2)
    assert made is not None and made.is_dir() and os.environ[metrics.MULTIPROC_DIR] == str(made)
    made.rmdir()

    # A directory the operator chose: an earlier run's files go, this process's stay.
    (tmp_path / "counter_999999.db").write_bytes(b"")
    (tmp_path / f"counter_{os.getpid()}.db").write_bytes(b"")
    monkeypatch.setenv(metrics.MULTIPROC_DIR, str(tmp_path))
    assert metrics.prepare_multiprocess(4) is None
    assert [p.name for p in tmp_path.iterdir()] == [f"counter_{os.getpid()}.db"]


def test_a_metrics_directory_not_made_yet_does_not_stop_the_command(tmp_path) -> None:
    directory = tmp_path / "not" / "yet"
    result = subprocess.run(
        [sys.executable, "-c", "import app.cli"],
        env={**os.environ, metrics.MULTIPROC_DIR: str(directory)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert directory.is_dir()
