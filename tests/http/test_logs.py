"""Logs (issue 5, part 4): one JSON object per line, the request id on every line written
during a request, one access line per request in place of uvicorn's."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app.http import logs
from app.http.requests import request_id
from tests.factories import assert_problem


@pytest.fixture
def json_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """``json_lines()``: every log line written so far in the test, as serve writes them
    (JSON), parsed: each line must be one JSON object."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.RequestIdFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(text) for text in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_a_json_line_has_time_level_logger_message_and_request_id() -> None:
    formatter = logs.JsonFormatter()
    record = logging.LogRecord("app.x", logging.WARNING, __file__, 1, "hello %s", ("you",), None)
    token = request_id.set("abc-123")
    try:
        logs.RequestIdFilter().filter(record)
    finally:
        request_id.reset(token)
    entry = json.loads(formatter.format(record))
    assert entry["level"] == "WARNING" and entry["logger"] == "app.x"
    assert entry["message"] == "hello you" and entry["request_id"] == "abc-123"
    assert entry["time"].endswith("+00:00") and "T" in entry["time"]


def test_a_line_outside_requests_has_no_request_id_and_keeps_extras() -> None:
    record = logging.LogRecord("app.x", logging.INFO, __file__, 1, "started", (), None)
    record.rows = 12  # as extra={"rows": 12} would
    logs.RequestIdFilter().filter(record)
    entry = json.loads(logs.JsonFormatter().format(record))
    assert "request_id" not in entry and entry["rows"] == 12


def test_exceptions_are_in_the_log_for_operators() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "app.x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    entry = json.loads(logs.JsonFormatter().format(record))
    assert "Traceback" in entry["exception"] and "ValueError: boom" in entry["exception"]
    assert "\n" not in logs.JsonFormatter().format(record)  # still one line


def test_every_line_of_a_request_carries_its_id(api, json_lines) -> None:
    hq = api("hq")
    response = hq.get("/api/v1/exports/lines.csv", headers={"X-Request-ID": "export-42"})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "export-42"
    hq.get("/api/v1/sitreps/123456", headers={"X-Request-ID": "read-43"})

    lines = json_lines()
    mine = [line for line in lines if line.get("request_id") == "export-42"]
    # The export's own line (written in a worker thread while the body streamed) and the
    # access line.
    assert [line["logger"] for line in mine] == ["app.exports.service", logs.ACCESS_LOGGER]
    assert mine[0]["rows"] == 0 and mine[0]["complete"] is True
    access = mine[1]
    assert access["method"] == "GET" and access["path"] == "/api/v1/exports/lines.csv"
    assert access["route"] == "/api/v1/exports/lines.{format}"
    assert access["status"] == 200 and access["duration_ms"] >= 0
    assert access["level"] == "INFO"

    (read,) = [line for line in lines if line.get("request_id") == "read-43"]
    assert read["status"] == 404 and read["route"] == "/api/v1/sitreps/{sitrep_id}"


def test_refused_and_unrouted_requests_are_logged_too(client, json_lines) -> None:
    client.post("/api/v1/sitreps", content=b"x" * 20_000_000, headers={"X-Request-ID": "big"})
    client.get("/nowhere", headers={"X-Request-ID": "lost"})
    by_id = {line["request_id"]: line for line in json_lines() if "status" in line}
    assert by_id["big"]["status"] == 413 and by_id["big"]["route"] == "/api/v1/sitreps"
    assert by_id["lost"]["status"] == 404 and by_id["lost"]["route"] == "<unmatched>"


def test_an_unexpected_error_is_logged_with_its_traceback_and_answered_without(
    api, json_lines, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.sectors import router as sectors_router

    def broken(_code: str) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(sectors_router.clusters, "cluster_of_sector", broken)
    response = api("hq").get("/api/v1/sectors", headers={"X-Request-ID": "oops-1"})
    assert_problem(response, 500)
    assert response.headers["X-Request-ID"] == "oops-1"
    assert "secret internals" not in response.text and "Traceback" not in response.text
    lines = [line for line in json_lines() if line.get("request_id") == "oops-1"]
    error = next(line for line in lines if line["level"] == "ERROR")
    assert "secret internals" in error["exception"]
    assert lines[-1]["status"] == 500


def test_serve_logging_config_routes_uvicorn_through_ours(capsys) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        logging.config.dictConfig(logs.logging_config("json", "info"))
        logging.getLogger("uvicorn.error").info("Application startup complete.")
        logging.getLogger("uvicorn.access").info("GET / 200")  # replaced by ours: dropped
        logging.config.dictConfig(logs.logging_config("text", "info"))
        logging.getLogger("app.x").info("plain")
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    out = capsys.readouterr().out.splitlines()
    assert json.loads(out[0])["message"] == "Application startup complete."
    assert json.loads(out[0])["logger"] == "uvicorn.error"
    assert len(out) == 2 and out[1].endswith("INFO    app.x [-] plain")
