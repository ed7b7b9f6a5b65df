"""Logs: one JSON object per line (or text for a terminal), each carrying the id of the
request it was written during, and one access line per request in place of uvicorn's."""

import json
import logging
from datetime import UTC, datetime
from typing import Any

from starlette.types import Scope

from app.http.requests import request_id

ACCESS_LOGGER = "app.access"
# Attributes every LogRecord has; anything else was passed in ``extra=`` and is logged.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}


class RequestIdFilter(logging.Filter):
    """Puts the id of the request being handled, if any, on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", "request_id", ...extra}`` on one line; an
    exception is added as ``exception`` (its traceback: logs are for operators)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid is not None:
            entry["request_id"] = rid
        for key, value in record.__dict__.items():
            # uvicorn adds a copy of its messages with terminal colours.
            if key not in _STANDARD and key != "color_message":
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        return super().format(record)


def logging_config(log_format: str, level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` document for ``crisis-tracker serve``: everything,
    uvicorn's own lines included, through one handler on standard output. uvicorn applies it
    in every worker process."""
    formatter = {"()": f"{__name__}.{'JsonFormatter' if log_format == 'json' else 'TextFormatter'}"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": f"{__name__}.RequestIdFilter"}},
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "default",
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["default"], "level": level.upper()},
        "loggers": {
            # Propagate to the root handler instead of uvicorn's own.
            "uvicorn": {"handlers": [], "level": level.upper(), "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            # Replaced by log_access (and turned off in serve as well).
            "uvicorn.access": {"handlers": [], "propagate": False},
            # /readyz reads the migration state: two INFO lines a probe otherwise.
            "alembic.runtime.migration": {"level": "WARNING"},
        },
    }


def log_access(scope: Scope, *, route: str, status: int, seconds: float) -> None:
    """The access line of a request whose response has been sent (or that failed): method,
    path, route template, status, duration_ms and the client's address. Written by
    ``metrics.RequestsMiddleware``, inside RequestIdMiddleware, so it carries the id."""
    duration_ms = round(seconds * 1000, 2)
    client = scope.get("client")
    logging.getLogger(ACCESS_LOGGER).info(
        "%s %s %s %.1fms",
        scope["method"],
        scope["path"],
        status,
        duration_ms,
        extra={
            "method": scope["method"],
            "path": scope["path"],
            "route": route,
            "status": status,
            "duration_ms": duration_ms,
            "client": client[0] if client else None,
        },
    )
