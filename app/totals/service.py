"""The counting rules of DOMAIN.md, as SQL over the live lines of latest revisions.

Three nested aggregations, all in the database:
1. per group, location (admin1, admin2) and sector: the sector's reach there;
2. per group and location: the largest sector (for the unique estimate) and the sums;
3. per group: the figures.
``sitrep_lines`` holds only the current state of each line, and its partial index
``ix_sitrep_lines_totals`` covers every column read here, for live lines only.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Label, RowMapping, Select, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.auth import service as auth
from app.auth.models import Role, User
from app.sitreps.models import LIVE_LINE, SitrepLine
from app.totals.schemas import Totals, TotalsRow

# group_by names, in the order rows are sorted by, and the column each groups on.
GROUPS: dict[str, InstrumentedAttribute[Any]] = {
    "sector": SitrepLine.sector,
    "division": SitrepLine.division,
    "phase": SitrepLine.phase,
    "crisis": SitrepLine.crisis_id,
    "admin1": SitrepLine.admin1,
}
FIELD_OF_GROUP = {"crisis": "crisis_id"}


@dataclass(frozen=True, slots=True)
class TotalsQuery:
    group_by: tuple[str, ...] = ()
    countries: list[str] | None = None
    years: list[int] | None = None
    sectors: list[str] | None = None
    divisions: list[str] | None = None
    phases: list[str] | None = None
    crisis_id: int | None = None


def totals(session: Session, *, query: TotalsQuery, user: User) -> Totals:
    rows = session.execute(scoped_select(query, user=user)).mappings()
    return Totals(rows=[totals_row(query, row) for row in rows])


def scoped_select(query: TotalsQuery, *, user: User) -> Select[Any]:
    """The totals a user may read, as one SQL statement (a 403 when they may not)."""
    auth.require_role(user, Role.field, Role.hq, Role.admin)
    return totals_select(query, countries=auth.narrow_countries(user, query.countries))


def group_fields(query: TotalsQuery) -> list[str]:
    """The fields of a row besides country, year and the figures, in column order."""
    return [FIELD_OF_GROUP.get(g, g) for g in GROUPS if g in query.group_by]


def totals_row(query: TotalsQuery, row: RowMapping) -> TotalsRow:
    """A row of ``totals_select``; only the grouped fields are set."""
    return TotalsRow(
        country=row["country"],
        year=row["year"],
        **{f: row[f] for f in group_fields(query)},
        people_reached=row["people_reached"],
        people_reached_unique=row["people_reached_unique"],
        people_reached_in_periods=row["people_reached_in_periods"],
        people_targeted=row["people_targeted"],
        lines=row["lines"],
    )


def totals_select(query: TotalsQuery, *, countries: list[str] | None) -> Select[Any]:
    """The totals as one SQL statement (``countries`` already narrowed to the user's scope)."""
    line = SitrepLine
    groups = [GROUPS[g].label(FIELD_OF_GROUP.get(g, g)) for g in GROUPS if g in query.group_by]
    keys: list[Label[Any]] = [line.country.label("country"), line.year.label("year"), *groups]
    key_names = [k.name for k in keys]
    location = [c for c in (line.admin1, line.admin2) if c.key not in key_names]
    sector = [] if "sector" in key_names else [line.sector]

    where = [LIVE_LINE]
    if countries is not None:
        where.append(line.country.in_(countries))
    if query.years is not None:
        where.append(line.year.in_(query.years))
    if query.sectors is not None:
        where.append(line.sector.in_(query.sectors))
    if query.divisions is not None:
        where.append(line.division.in_(query.divisions))
    if query.phases is not None:
        where.append(line.phase.in_(query.phases))
    if query.crisis_id is not None:
        where.append(line.crisis_id == query.crisis_id)

    # 1. per group, location and sector
    per_sector_keys = [*keys, *location, *sector]
    per_sector = (
        select(
            *per_sector_keys,
            func.sum(line.people_reached_new).label("reached"),
            func.sum(line.people_reached).label("in_periods"),
            func.sum(func.coalesce(line.people_targeted, 0)).label("targeted"),
            func.count().label("lines"),
        )
        .where(*where)
        .group_by(*per_sector_keys)
        .subquery("per_sector")
    )
    # 2. per group and location: the largest sector
    s = per_sector.c
    per_location_keys = [s[name] for name in key_names] + [s[c.key] for c in location]
    per_location = (
        select(
            *per_location_keys,
            func.max(s.reached).label("top"),
            func.sum(s.reached).label("reached"),
            func.sum(s.in_periods).label("in_periods"),
            func.sum(s.targeted).label("targeted"),
            func.sum(s.lines).label("lines"),
        )
        .group_by(*per_location_keys)
        .subquery("per_location")
    )
    # 3. per group
    p = per_location.c
    group_keys = [p[name] for name in key_names]
    return (
        select(
            *group_keys,
            func.sum(p.reached).label("people_reached"),
            func.sum(p.top).label("people_reached_unique"),
            func.sum(p.in_periods).label("people_reached_in_periods"),
            func.sum(p.targeted).label("people_targeted"),
            func.sum(p.lines).label("lines"),
        )
        .group_by(*group_keys)
        # NULL (no crisis, country-wide) sorts last on every database.
        .order_by(*[part for key in group_keys for part in (key.is_(None), key)])
    )
