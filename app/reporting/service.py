"""Reporting completeness: which country offices sent a sitrep for which month.

A *country office* is a country that has at least one live sitrep or is a country of at
least one crisis: somewhere IOM reports from, or is expected to. Counting happens in SQL:
the twelve months of the year are a small derived table joined to the sitreps whose
period touches each month, grouped by country and month.
"""

import calendar
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    Select,
    Subquery,
    and_,
    case,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from app.auth import permissions
from app.auth.models import Role, User
from app.crises.models import Crisis, CrisisCountry
from app.reference import catalog as reference
from app.reporting.schemas import (
    Completeness,
    CountryFlags,
    DoubleCounting,
    FlaggedSlot,
    MonthCompleteness,
    MonthState,
    OfficeCompleteness,
)
from app.sitreps.models import LIVE, LIVE_LINE, Sitrep, SitrepLine
from app.totals import service as totals


@dataclass(frozen=True, slots=True)
class CompletenessQuery:
    as_of: date
    year: int | None = None
    countries: list[str] | None = None
    crisis_id: int | None = None


def completeness(session: Session, *, query: CompletenessQuery, user: User) -> Completeness:
    permissions.require_role(user, Role.field, Role.hq, Role.admin)
    countries = permissions.narrow_countries(user, query.countries)
    years = totals.years(session, countries=countries, crisis_id=query.crisis_id)
    year = query.year if query.year is not None else (years[-1] if years else query.as_of.year)
    offices = session.execute(_offices(countries=countries, crisis_id=query.crisis_id)).all()
    counts: dict[tuple[str, int], int] = {
        (country, month): sitreps
        for country, month, sitreps in session.execute(
            _counts(year, countries=countries, crisis_id=query.crisis_id)
        )
    }
    names = reference.countries()
    result = []
    for country, since, last_end in offices:
        months = [
            MonthCompleteness(
                month=month,
                sitreps=counts.get((country, month), 0),
                state=_state(
                    year, month, counts.get((country, month), 0), since=since, as_of=query.as_of
                ),
            )
            for month in range(1, 13)
        ]
        result.append(
            OfficeCompleteness(
                country=country,
                name=names[country].name if country in names else country,
                reporting_since=since,
                last_period_end=last_end,
                missing=sum(m.state == MonthState.missing for m in months),
                months=months,
            )
        )
    return Completeness(
        year=year,
        as_of=query.as_of,
        years=sorted({*years, query.as_of.year}),
        offices=result,
    )


def _state(year: int, month: int, sitreps: int, *, since: date, as_of: date) -> MonthState:
    if sitreps:
        return MonthState.reported
    last_day = date(year, month, calendar.monthrange(year, month)[1])
    if last_day >= as_of:
        return MonthState.not_due
    if last_day < since:
        return MonthState.not_expected
    return MonthState.missing


def _offices(*, countries: list[str] | None, crisis_id: int | None) -> Select[Any]:
    """(country, reporting_since, last_period_end) of every country office, by country."""
    reported = select(
        Sitrep.country.label("country"),
        func.min(Sitrep.period_start).label("since"),
        func.max(Sitrep.period_end).label("last_end"),
    ).where(LIVE)
    in_crisis = select(
        CrisisCountry.country.label("country"),
        func.min(Crisis.started_on).label("since"),
        literal(None, Date).label("last_end"),
    ).join(Crisis, Crisis.id == CrisisCountry.crisis_id)
    if countries is not None:
        reported = reported.where(Sitrep.country.in_(countries))
        in_crisis = in_crisis.where(CrisisCountry.country.in_(countries))
    if crisis_id is not None:
        reported = reported.where(Sitrep.crisis_id == crisis_id)
        in_crisis = in_crisis.where(CrisisCountry.crisis_id == crisis_id)
    both = union_all(
        reported.group_by(Sitrep.country), in_crisis.group_by(CrisisCountry.country)
    ).subquery("offices")
    return (
        select(both.c.country, func.min(both.c.since), func.max(both.c.last_end))
        .group_by(both.c.country)
        .order_by(both.c.country)
    )


def _months(year: int) -> Subquery:
    """The twelve months of a year as rows (month, starts_on, ends_on)."""
    return union_all(
        *(
            select(
                literal(month, Integer).label("month"),
                literal(date(year, month, 1), Date).label("starts_on"),
                literal(date(year, month, calendar.monthrange(year, month)[1]), Date).label(
                    "ends_on"
                ),
            )
            for month in range(1, 13)
        )
    ).subquery("months")


def _counts(year: int, *, countries: list[str] | None, crisis_id: int | None) -> Select[Any]:
    """(country, month, live sitreps whose period touches the month)."""
    months = _months(year)
    query = (
        select(Sitrep.country, months.c.month, func.count())
        .join(
            months,
            and_(Sitrep.period_start <= months.c.ends_on, Sitrep.period_end >= months.c.starts_on),
        )
        .where(
            LIVE,
            Sitrep.period_start <= date(year, 12, 31),
            Sitrep.period_end >= date(year, 1, 1),
        )
        .group_by(Sitrep.country, months.c.month)
    )
    if countries is not None:
        query = query.where(Sitrep.country.in_(countries))
    if crisis_id is not None:
        query = query.where(Sitrep.crisis_id == crisis_id)
    return query


# --- double counting that the rules cannot see (DOMAIN.md, "Cumulative figures") ----------

SLOT_AND_PLACE = ("sector", "division", "phase", "crisis_id", "admin1", "admin2")


def double_counting(
    session: Session, *, year: int | None, countries: list[str] | None, user: User
) -> DoubleCounting:
    """The slots and locations that report several live periods of a year, each giving
    people_reached_new equal to people_reached (or no new figure, which means the same), so
    that each month may count the same people again; with the reach they carry.

    A line giving people_reached_cumulative is never such a line: its new reach is the
    increase the rules derive. A slot whose reach is 0 carries nothing and is left out."""
    permissions.require_role(user, Role.field, Role.hq, Role.admin)
    countries = permissions.narrow_countries(user, countries)
    years = totals.years(session, countries=countries, crisis_id=None)
    if year is None:
        year = years[-1] if years else date.today().year
    line = SitrepLine
    where = [LIVE_LINE, line.year == year]
    if countries is not None:
        where.append(line.country.in_(countries))
    keys = [line.country, *(getattr(line, k) for k in SLOT_AND_PLACE)]
    restated = case(
        (
            and_(
                line.people_reached_cumulative.is_(None),
                line.people_reached_new == line.people_reached,
            ),
            0,
        ),
        else_=1,
    )
    flagged = session.execute(
        select(
            *keys,
            func.count(func.distinct(line.sitrep_id)).label("periods"),
            func.sum(line.people_reached_new).label("reach"),
        )
        .where(*where)
        .group_by(*keys)
        .having(
            func.count(func.distinct(line.sitrep_id)) >= 2,
            func.sum(restated) == 0,
            func.sum(line.people_reached_new) > 0,
        )
    ).all()
    if not flagged:
        return DoubleCounting(year=year, years=years, countries=[])
    reach_of = dict(
        session.execute(
            select(line.country, func.sum(line.people_reached_new))
            .where(*where, line.country.in_(sorted({row.country for row in flagged})))
            .group_by(line.country)
        ).all()
    )
    names = reference.countries()
    by_country: dict[str, list[FlaggedSlot]] = {}
    for row in flagged:
        by_country.setdefault(row.country, []).append(
            FlaggedSlot(
                **{k: getattr(row, k) for k in SLOT_AND_PLACE},
                periods=row.periods,
                people_reached=row.reach,
                share=round(row.reach / reach_of[row.country], 4),
            )
        )
    result = []
    for country in sorted(by_country):
        slots = sorted(
            by_country[country],
            key=lambda s: (-s.people_reached, *(str(getattr(s, k) or "") for k in SLOT_AND_PLACE)),
        )
        flagged_reach = sum(s.people_reached for s in slots)
        result.append(
            CountryFlags(
                country=country,
                name=names[country].name if country in names else country,
                people_reached=reach_of[country],
                flagged_reach=flagged_reach,
                share=round(flagged_reach / reach_of[country], 4),
                slots=slots,
            )
        )
    return DoubleCounting(year=year, years=years, countries=result)
