"""The rules of DOMAIN.md that a sitrep is held to before anything is written: what a
single submission, an amendment and a batch all check, the same way."""

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from app.config import get_settings
from app.crises.models import Crisis
from app.db import utcnow
from app.errors import Conflict, ValidationFailed
from app.i18n import _, number
from app.reference import service as reference
from app.sectors import service as sectors
from app.sitreps.schemas import LineIn, SitrepCreate

MAX_PERIOD_DAYS = 366
MAX_COUNT_INDICATOR = 1_000_000_000

Loc = tuple[str | int, ...]


def line_key(line: LineIn) -> str:
    return "|".join((line.sector, line.division, line.phase, line.admin1 or "", line.admin2 or ""))


def checked_lines(data: SitrepCreate, *, crisis: Crisis | None) -> list[dict[str, Any]]:
    """Every rule of DOMAIN.md for a sitrep; all problems at once, each at its field.
    Returns the lines as columns of SitrepLine, with people_reached_new filled in.
    ``crisis`` is the sitrep's crisis (None when it names none, or one that does not exist)."""
    problems: list[tuple[Loc, str]] = []
    settings = get_settings()
    if not reference.is_country(data.country):
        problems.append(
            (
                ("body", "country"),
                _("{code} is not an ISO 3166-1 alpha-3 country code", code=data.country),
            )
        )
    if data.period_end < data.period_start:
        problems.append((("body", "period_end"), _("the period ends before it starts")))
    elif (data.period_end - data.period_start).days + 1 > MAX_PERIOD_DAYS:
        problems.append(
            (
                ("body", "period_end"),
                _("a reporting period is at most {days} days", days=MAX_PERIOD_DAYS),
            )
        )
    if data.period_start > utcnow().date() + timedelta(days=1):
        problems.append((("body", "period_start"), _("the period has not started yet")))
    if data.crisis_id is not None:
        if crisis is None:
            problems.append(
                (
                    ("body", "crisis_id"),
                    _("there is no crisis {crisis_id}", crisis_id=data.crisis_id),
                )
            )
        elif data.country not in {c.country for c in crisis.countries}:
            covered = ", ".join(c.country for c in crisis.countries)
            problems.append(
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
    if len(data.lines) > settings.max_lines_per_sitrep:
        problems.append(
            (
                ("body", "lines"),
                _("at most {limit} lines per sitrep", limit=settings.max_lines_per_sitrep),
            )
        )
    seen: dict[str, int] = {}
    lines: list[dict[str, Any]] = []
    for i, line in enumerate(data.lines):
        problems += [(("body", "lines", i, *loc), msg) for loc, msg in _line_problems(data, line)]
        key = line_key(line)
        if key in seen:
            problems.append(
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
        lines.append(line_columns(line, key))
    if problems:
        raise ValidationFailed(problems)
    return lines


def _line_problems(data: SitrepCreate, line: LineIn) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    location = (
        reference.location_problem(data.country, line.admin1, line.admin2)
        if reference.is_country(data.country)
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
        "year_target": 0,  # chains.settle sets it
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
