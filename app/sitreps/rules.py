"""The rules of DOMAIN.md that a sitrep is held to before anything is written: what a
single submission, an amendment and a batch all check, the same way."""

import contextlib
import copy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Any, cast

from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from app.config import get_settings
from app.crises.models import Crisis
from app.db import utcnow
from app.errors import Conflict, ValidationFailed
from app.i18n import _, number
from app.reference import catalog as reference
from app.sectors import catalog as sectors
from app.sitreps.schemas import LineIn, SitrepCreate

MAX_PERIOD_DAYS = 366
MAX_COUNT_INDICATOR = 1_000_000_000

Loc = tuple[str | int, ...]


def line_key(line: LineIn) -> str:
    return "|".join((line.sector, line.division, line.phase, line.admin1 or "", line.admin2 or ""))


@dataclass(frozen=True, slots=True)
class Checkable:
    """What the rules can check of a sitrep document: the header fields that passed the
    schema (None where one did not, or where a crisis is not named) and the lines that did,
    each with its index in the document."""

    country: str | None
    crisis_id: int | None
    period_start: date | None
    period_end: date | None
    line_count: int
    lines: list[tuple[int, LineIn]]

    @classmethod
    def of(cls, data: SitrepCreate) -> "Checkable":
        return cls(
            country=data.country,
            crisis_id=data.crisis_id,
            period_start=data.period_start,
            period_end=data.period_end,
            line_count=len(data.lines),
            lines=list(enumerate(data.lines)),
        )


def checked_lines(data: SitrepCreate, *, crisis: Crisis | None) -> list[dict[str, Any]]:
    """Every rule of DOMAIN.md for a sitrep; all problems at once, each at its field.
    Returns the lines as columns of SitrepLine, with people_reached_new filled in.
    ``crisis`` is the sitrep's crisis (None when it names none, or one that does not exist)."""
    found = problems(Checkable.of(data), crisis=crisis)
    if found:
        raise ValidationFailed(found)
    return [line_columns(line, line_key(line)) for line in data.lines]


def problems(data: Checkable, *, crisis: Crisis | None) -> list[tuple[Loc, str]]:
    """The problems the rules find in what can be checked, each at its field."""
    found: list[tuple[Loc, str]] = []
    settings = get_settings()
    if data.country is not None and not reference.is_country(data.country):
        found.append(
            (
                ("body", "country"),
                _("{code} is not an ISO 3166-1 alpha-3 country code", code=data.country),
            )
        )
    if data.period_start is not None and data.period_end is not None:
        if data.period_end < data.period_start:
            found.append((("body", "period_end"), _("the period ends before it starts")))
        elif (data.period_end - data.period_start).days + 1 > MAX_PERIOD_DAYS:
            found.append(
                (
                    ("body", "period_end"),
                    _("a reporting period is at most {days} days", days=MAX_PERIOD_DAYS),
                )
            )
    if data.period_start is not None and data.period_start > utcnow().date() + timedelta(days=1):
        found.append((("body", "period_start"), _("the period has not started yet")))
    if data.crisis_id is not None:
        if crisis is None:
            found.append(
                (
                    ("body", "crisis_id"),
                    _("there is no crisis {crisis_id}", crisis_id=data.crisis_id),
                )
            )
        elif data.country is not None and data.country not in {c.country for c in crisis.countries}:
            covered = ", ".join(c.country for c in crisis.countries)
            found.append(
                (
                    ("body", "crisis_id"),
                    _(
                        "crisis {crisis_id} ({name}) covers {covered}, not {country}",
                        crisis_id=crisis.id,
                        name=crisis.name,
                        covered=covered,
                        country=data.country,
                    ),
                )
            )
    if data.line_count > settings.max_lines_per_sitrep:
        found.append(
            (
                ("body", "lines"),
                _("at most {limit} lines per sitrep", limit=settings.max_lines_per_sitrep),
            )
        )
    seen: dict[str, int] = {}
    for i, line in data.lines:
        located = _line_problems(data.country, line)
        found += [(("body", "lines", i, *loc), msg) for loc, msg in located]
        key = line_key(line)
        if key in seen:
            found.append(
                (
                    ("body", "lines", i),
                    _(
                        "repeats the sector, division, phase and location of lines[{index}]; "
                        "report each slot once",
                        index=seen[key],
                    ),
                )
            )
        seen.setdefault(key, i)
    return found


# Each header field of SitrepCreate on its own, to read those a refused document got right.
_HEADER_FIELDS = ("country", "crisis_id", "period_start", "period_end")
_HEADER_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    name: TypeAdapter(cast(Any, Annotated[field.annotation, field]))
    for name, field in SitrepCreate.model_fields.items()
    if name in _HEADER_FIELDS
}


def readable(document: dict[str, Any], errors: Sequence[Any]) -> Checkable:
    """What the rules can check of a document the schema refused: unknown fields left out,
    the header fields without a problem, and the lines that pass on their own."""
    document = copy.deepcopy(document)
    broken = set()
    for error in errors:
        loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden":
            _drop(document, loc)
        elif loc:
            broken.add(loc[0])
    header: dict[str, Any] = dict.fromkeys(_HEADER_FIELDS)
    for name in _HEADER_FIELDS:
        if name in document and name not in broken:
            with contextlib.suppress(PydanticValidationError):
                header[name] = _HEADER_ADAPTERS[name].validate_python(document[name])
    raw_lines = document.get("lines")
    lines: list[tuple[int, LineIn]] = []
    for i, raw in enumerate(raw_lines if isinstance(raw_lines, list) else []):
        try:
            lines.append((i, LineIn.model_validate(raw)))
        except PydanticValidationError:
            continue
    return Checkable(
        **header,
        line_count=len(raw_lines) if isinstance(raw_lines, list) else 0,
        lines=lines,
    )


def _drop(document: Any, loc: tuple[Any, ...]) -> None:
    """Removes the member at ``loc`` (a path of keys and indexes) when it is there."""
    *path, last = loc
    for part in path:
        try:
            document = document[part]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(document, dict):
        document.pop(last, None)


def _line_problems(country: str | None, line: LineIn) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    location = (
        reference.location_problem(country, line.admin1, line.admin2)
        if country is not None and reference.is_country(country)
        else None
    )
    if location is not None:
        problems.append(((location[0],), location[1]))
    reached = line.people_reached
    if line.people_reached_new is not None and line.people_reached_new > reached:
        problems.append(
            (
                ("people_reached_new",),
                _(
                    "{value} is more than people_reached ({reached})",
                    value=line.people_reached_new,
                    reached=reached,
                ),
            )
        )
    cumulative = line.people_reached_cumulative
    if cumulative is not None and line.people_reached_new is not None:
        problems.append(
            (
                ("people_reached_cumulative",),
                _(
                    "give people_reached_new or people_reached_cumulative, not both: the new "
                    "reach of a cumulative figure is its increase over the earlier period"
                ),
            )
        )
    if cumulative is not None and cumulative < reached:
        problems.append(
            (
                ("people_reached_cumulative",),
                _(
                    "{cumulative} is less than people_reached ({reached}): everyone reached "
                    "in the period was reached this year",
                    cumulative=cumulative,
                    reached=reached,
                ),
            )
        )
    if line.disaggregation is not None:
        d = line.disaggregation
        total = d.women + d.men + d.girls + d.boys
        if total != reached:
            problems.append(
                (
                    ("disaggregation",),
                    _(
                        "women, men, girls and boys add up to {total}, not to people_reached "
                        "({reached})",
                        total=total,
                        reached=reached,
                    ),
                )
            )
    if line.persons_with_disabilities is not None and line.persons_with_disabilities > reached:
        problems.append(
            (
                ("persons_with_disabilities",),
                _(
                    "{value} is more than people_reached ({reached})",
                    value=line.persons_with_disabilities,
                    reached=reached,
                ),
            )
        )
    sector = sectors.SECTORS[line.sector]
    for name, value in line.indicators.items():
        indicator = sector.indicator(name)
        if indicator is None:
            owner = sectors.sector_of_indicator(name)
            known = ", ".join(i.code for i in sector.indicators)
            why = (
                _(
                    "{name} is an indicator of {owner}, not {sector}; {sector} reports {known}",
                    name=name,
                    owner=owner.code,
                    sector=sector.code,
                    known=known,
                )
                if owner
                else _(
                    "{name} is not an indicator; {sector} reports {known}",
                    name=name,
                    sector=sector.code,
                    known=known,
                )
            )
            problems.append((("indicators", name), why))
        elif indicator.kind == "count" and (
            value != value.to_integral_value() or value > MAX_COUNT_INDICATOR
        ):
            problems.append(
                (
                    ("indicators", name),
                    _(
                        "{name} is a whole number up to {maximum}",
                        name=name,
                        maximum=number(MAX_COUNT_INDICATOR),
                    ),
                )
            )
    return problems


def line_columns(line: LineIn, key: str) -> dict[str, Any]:
    """A line as the columns of SitrepLine it is stored in."""
    sector = sectors.SECTORS[line.sector]
    indicators: dict[str, Any] = {}
    for name, value in line.indicators.items():
        indicator = sector.indicator(name)
        if indicator is not None:
            indicators[name] = (
                int(value) if indicator.kind == "count" else str(value.quantize(Decimal("0.01")))
            )
    d = line.disaggregation
    return {
        "line_key": key,
        "sector": line.sector,
        "division": line.division,
        "phase": line.phase,
        "admin1": line.admin1,
        "admin2": line.admin2,
        "people_reached": line.people_reached,
        # A cumulative line's new reach comes from its chain: chains.settle sets it.
        "people_reached_new": (
            line.people_reached if line.people_reached_new is None else line.people_reached_new
        ),
        "people_reached_cumulative": line.people_reached_cumulative,
        "people_targeted": line.people_targeted,
        # What chains.settle gives a line that is the latest of its chain to state a target,
        # as a new (or amended) line usually is; settle corrects it where a later period
        # states one (so that most lines written need no second write).
        "year_target": line.people_targeted or 0,
        "women": d.women if d else None,
        "men": d.men if d else None,
        "girls": d.girls if d else None,
        "boys": d.boys if d else None,
        "persons_with_disabilities": line.persons_with_disabilities,
        "indicators": dict(sorted(indicators.items())),
    }


def slot_conflict(
    data: SitrepCreate, *, sitrep_id: int, line_key: str, period_start: date, period_end: date
) -> Conflict:
    """The 409 of a sitrep reporting a slot that sitrep ``sitrep_id`` already reports for an
    overlapping period (``period_start``..``period_end``)."""
    sector, division, phase, admin1, admin2 = line_key.split("|")
    where = admin2 or admin1 or _("{country} (country-wide)", country=data.country)
    return Conflict(
        _(
            "Sitrep {sitrep_id} already reports {slot} at {where} for {start}..{end}, which "
            "overlaps this period; amend sitrep {sitrep_id} instead of submitting a second one.",
            sitrep_id=sitrep_id,
            slot=f"{sector}/{division}/{phase}",
            where=where,
            start=period_start,
            end=period_end,
        ),
        conflicting_sitrep_id=sitrep_id,
        slot={
            "crisis_id": data.crisis_id,
            "country": data.country,
            "sector": sector,
            "division": division,
            "phase": phase,
            "admin1": admin1 or None,
            "admin2": admin2 or None,
        },
    )
