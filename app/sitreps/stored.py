"""What a write stores, as plain definitions: a new sitrep's row, the columns each live line
repeats of its sitrep, how a revision turns the lines it had into the lines it has, which
lines a withdrawal takes out, and the documents a revision and the audit trail keep.

Every function here takes and gives plain values or objects with the models' attribute
names, and touches no session: the writes of app.sitreps.service and app.sitreps.batches
use them on the models, and bench/generate.py on its own light rows, so that the rows of a
generated data set are the rows the service would have written.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, Protocol, TypeVar

from app.sitreps.models import SitrepLine, SitrepStatus


class Period(Protocol):
    """A sitrep's country, crisis and period (a SitrepCreate, a Sitrep, or alike)."""

    @property
    def country(self) -> str: ...
    @property
    def crisis_id(self) -> int | None: ...
    @property
    def period_start(self) -> date: ...
    @property
    def period_end(self) -> date: ...


class SitrepHeader(Period, Protocol):
    """What a line repeats of its sitrep (a Sitrep, or a row shaped like one)."""

    @property
    def revision(self) -> int: ...


class StoredLine(Protocol):
    """What a revision or a withdrawal changes of a stored line (a SitrepLine, or a row
    shaped like one)."""

    status: str
    revision: int
    year_target: int
    updated_at: Any


Row = TypeVar("Row", bound=StoredLine)


def sitrep_fields(data: Period, *, created_by_id: int, now: datetime) -> dict[str, Any]:
    """The columns of a new sitrep's row (its first revision is written with its lines)."""
    return {
        "country": data.country,
        "crisis_id": data.crisis_id,
        "period_start": data.period_start,
        "period_end": data.period_end,
        "revision": 1,
        "status": SitrepStatus.submitted.value,
        "created_at": now,
        "created_by_id": created_by_id,
    }


def line_header(sitrep: SitrepHeader, *, now: datetime) -> dict[str, Any]:
    """What each live line of a sitrep's current revision repeats of it."""
    return {
        "revision": sitrep.revision,
        "country": sitrep.country,
        "crisis_id": sitrep.crisis_id,
        "period_start": sitrep.period_start,
        "period_end": sitrep.period_end,
        "year": sitrep.period_end.year,
        "status": SitrepStatus.submitted.value,
        "updated_at": now,
    }


@dataclass(frozen=True, slots=True)
class Revised(Generic[Row]):
    """A revision's lines: ``rows`` in the revision's order (those kept by slot updated in
    place, so that a line keeps its id; ``new`` the ones made for new slots), and ``dropped``,
    the live lines of slots the revision no longer reports, now withdrawn. Feeds publish
    ``rows`` then ``dropped``, in that order."""

    rows: list[Row]
    new: list[Row]
    dropped: list[Row]


def revise(
    existing: Mapping[str, Row],
    lines: Sequence[Mapping[str, Any]],
    header: Mapping[str, Any],
    *,
    make: Callable[..., Row],
) -> Revised[Row]:
    """Turns a sitrep's lines (``existing``, by line key, in id order) into those of its new
    revision: ``lines`` (rules.line_columns of each) under ``header`` (line_header).
    ``make(**columns)`` makes a line for a slot the sitrep did not have."""
    kept = {line["line_key"] for line in lines}
    dropped = [
        row
        for key, row in existing.items()
        if row.status == SitrepStatus.submitted and key not in kept
    ]
    rows: list[Row] = []
    new: list[Row] = []
    for line in lines:
        row = existing.get(line["line_key"])
        fields = {**header, **line}
        if row is None:
            row = make(**fields)
            new.append(row)
        else:
            for name, value in fields.items():
                setattr(row, name, value)
        rows.append(row)
    for row in dropped:
        row.status = SitrepStatus.withdrawn.value
        row.year_target = 0
        row.revision = header["revision"]
        row.updated_at = header["updated_at"]
    return Revised(rows, new, dropped)


def withdraw_lines(live: Sequence[StoredLine], *, now: datetime) -> None:
    """Takes a withdrawn sitrep's live lines (in id order, as feeds publish them) out."""
    for line in live:
        line.status = SitrepStatus.withdrawn.value
        line.year_target = 0
        line.updated_at = now


def revision_fields(
    sitrep: SitrepHeader,
    *,
    sitrep_id: int,
    narrative: str | None,
    rows: Sequence[SitrepLine],
    submitted_by_id: int,
    now: datetime,
) -> dict[str, Any]:
    """The columns of a sitrep's revision row, its lines as the API shows them."""
    return {
        "sitrep_id": sitrep_id,
        "revision": sitrep.revision,
        "country": sitrep.country,
        "crisis_id": sitrep.crisis_id,
        "period_start": sitrep.period_start,
        "period_end": sitrep.period_end,
        "narrative": narrative,
        "lines": [line_document(row) for row in rows],
        "submitted_at": now,
        "submitted_by_id": submitted_by_id,
    }


class RevisionLike(SitrepHeader, Protocol):
    """A revision as stored (a SitrepRevision, or alike)."""

    @property
    def narrative(self) -> str | None: ...
    @property
    def lines(self) -> list[dict[str, Any]]: ...


def revision_document(revision: RevisionLike) -> dict[str, Any]:
    """A revision as the audit trail keeps it: JSON-ready."""
    return {
        "revision": revision.revision,
        "country": revision.country,
        "crisis_id": revision.crisis_id,
        "period_start": revision.period_start.isoformat(),
        "period_end": revision.period_end.isoformat(),
        "narrative": revision.narrative,
        "lines": revision.lines,
    }


def line_document(row: SitrepLine) -> dict[str, Any]:
    """A line as a revision keeps it: the API's shape, JSON-ready (of a SitrepLine, or of
    any row with its attributes)."""
    disaggregation = (
        None
        if row.women is None
        else {"women": row.women, "men": row.men, "girls": row.girls, "boys": row.boys}
    )
    return {
        "id": row.id,
        "sector": row.sector,
        "division": row.division,
        "phase": row.phase,
        "admin1": row.admin1,
        "admin2": row.admin2,
        "people_reached": row.people_reached,
        "people_reached_new": row.people_reached_new,
        "people_reached_cumulative": row.people_reached_cumulative,
        "people_targeted": row.people_targeted,
        "disaggregation": disaggregation,
        "persons_with_disabilities": row.persons_with_disabilities,
        "indicators": row.indicators,
    }
