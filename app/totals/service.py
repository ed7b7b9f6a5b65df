"""The counting rules of DOMAIN.md, as SQL.

Three nested aggregations, all in the database:
1. per group, location (admin1, admin2) and sector: the sector's reach there;
2. per group and location: the largest sector (for the unique estimate) and the sums;
3. per group: the figures.

They run over ``totals_cells`` (``TotalsCell``): the live lines of the latest revisions
already summed per slot and year, kept exact by every write in its own transaction
(``app.totals.summaries``). The same statement over the live lines (``source=LINES``) is
the from-scratch recount that tests and the benchmark hold the summaries to.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Label,
    RowMapping,
    Select,
    SQLColumnExpression,
    cast,
    func,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from app.auth import permissions
from app.auth.models import Role, User
from app.needs import service as needs
from app.totals import summaries
from app.totals.chains import rederive_statement
from app.totals.models import NO_AREA, NO_CRISIS, TotalsCell, TotalsPlace, TotalsSlot
from app.totals.schemas import Totals

# group_by names, in the order rows are sorted by, and the field each one fills.
GROUPS = ("sector", "division", "phase", "crisis", "admin1")
FIELD_OF_GROUP = {"crisis": "crisis_id"}
# The figures of every row, in column order.
FIGURES = (
    "people_reached",
    "people_reached_unique",
    "people_reached_in_periods",
    "people_targeted",
    "people_targeted_unique",
    "women",
    "men",
    "girls",
    "boys",
    "people_reached_not_disaggregated",
    "lines",
)
# The row field of each sex and age figure the summaries keep.
SPLIT_FIELDS = dict(
    zip(summaries.SPLIT, (*summaries.PARTS, "people_reached_not_disaggregated"), strict=True)
)


@dataclass(frozen=True, slots=True)
class TotalsQuery:
    group_by: tuple[str, ...] = ()
    countries: list[str] | None = None
    years: list[int] | None = None
    sectors: list[str] | None = None
    divisions: list[str] | None = None
    phases: list[str] | None = None
    crisis_id: int | None = None


@dataclass(frozen=True, slots=True)
class Source:
    """What the counting rules read: a column per dimension and the summed figures (those
    of a cell: reached, in_periods, targeted, lines and the sex and age split)."""

    columns: dict[str, SQLColumnExpression[Any]]
    # admin1 and admin2 as stored: what tells one location from another.
    location: dict[str, SQLColumnExpression[Any]]
    figures: dict[str, SQLColumnExpression[Any]]


def _summary(table: Any, location: tuple[str, ...]) -> Source:
    """A table of cells as a source: its key columns (no crisis stored as 0, no admin1 as
    ''), its locations as stored, and its sums."""
    columns: dict[str, SQLColumnExpression[Any]] = {
        name: getattr(table, name) for name in ("country", "year", "sector", "division", "phase")
    }
    columns["crisis"] = func.nullif(table.crisis_id, NO_CRISIS)
    stored = {name: getattr(table, name) for name in location}
    if "admin1" in stored:
        columns["admin1"] = func.nullif(stored["admin1"], NO_AREA)
    return Source(
        columns=columns,
        location=stored,
        figures={name: getattr(table, name) for name in summaries.CELLS.figures},
    )


CELLS = _summary(TotalsCell, ("admin1", "admin2"))
SLOTS = _summary(TotalsSlot, ())
# Each live line with what it adds to its cell, by the summaries' own definition.
LINES = _summary(summaries.live_lines().c, ("admin1", "admin2"))


def totals(session: Session, *, query: TotalsQuery, user: User) -> Totals:
    """The totals as the API shows them, typed."""
    return Totals.model_validate({"rows": rows(session, query=query, user=user)})


def rows(session: Session, *, query: TotalsQuery, user: User) -> list[dict[str, Any]]:
    """The rows of the totals, as GET /totals answers them: plain values, so that the
    answer is written out without a model per row (a thousand rows by sector and country
    cost tens of milliseconds that way). Only the grouped fields appear."""
    summaries.write_changes(session)
    found = session.execute(scoped_select(query, user=user)).mappings().all()
    need = (
        needs.needs_for(
            session, countries={r["country"] for r in found}, years={r["year"] for r in found}
        )
        if found and _comparable(query)
        else {}
    )
    make = row_maker(query, need)
    return [make(r) for r in found]


def scoped_select(query: TotalsQuery, *, user: User) -> Select[Any]:
    """The totals a user may read, as one SQL statement (a 403 when they may not)."""
    permissions.require_role(user, Role.field, Role.hq, Role.admin)
    return totals_select(query, countries=permissions.narrow_countries(user, query.countries))


def years(session: Session, *, countries: list[str] | None, crisis_id: int | None) -> list[int]:
    """Years with live lines, as totals count them (the year of the period's end)."""
    summaries.write_changes(session)
    query = select(TotalsSlot.year).distinct().order_by(TotalsSlot.year)
    if countries is not None:
        query = query.where(TotalsSlot.country.in_(countries))
    if crisis_id is not None:
        query = query.where(TotalsSlot.crisis_id == crisis_id)
    return list(session.scalars(query))


def group_fields(query: TotalsQuery) -> list[str]:
    """The fields of a row besides country, year and the figures, in column order."""
    return [FIELD_OF_GROUP.get(g, g) for g in GROUPS if g in query.group_by]


def totals_select(
    query: TotalsQuery, *, countries: list[str] | None, source: Source = CELLS
) -> Select[Any]:
    """The totals as one SQL statement (``countries`` already narrowed to the user's scope)."""
    if source is CELLS and "sector" in query.group_by and "admin1" not in query.group_by:
        source = SLOTS
    c = source.columns
    keys: list[Label[Any]] = [
        c["country"].label("country"),
        c["year"].label("year"),
        *(c[g].label(FIELD_OF_GROUP.get(g, g)) for g in GROUPS if g in query.group_by),
    ]
    key_names = [k.name for k in keys]

    where: list[ColumnElement[bool]] = []
    if countries is not None:
        where.append(c["country"].in_(countries))
    if query.years is not None:
        where.append(c["year"].in_(query.years))
    if query.sectors is not None:
        where.append(c["sector"].in_(query.sectors))
    if query.divisions is not None:
        where.append(c["division"].in_(query.divisions))
    if query.phases is not None:
        where.append(c["phase"].in_(query.phases))
    if query.crisis_id is not None:
        where.append(c["crisis"] == query.crisis_id)

    if (
        source is CELLS
        and set(query.group_by) <= {"admin1"}
        and all(f is None for f in (query.sectors, query.divisions, query.phases, query.crisis_id))
    ):
        return _places_select(query, countries=countries)
    f = source.figures
    figures = [func.sum(figure).label(name) for name, figure in f.items()]
    split = [_total(f[name]).label(field) for name, field in SPLIT_FIELDS.items()]
    if "sector" in key_names:
        # Each location of a group then holds one sector, which is its largest: the unique
        # estimate is people_reached, and one aggregation gives every figure.
        return _ordered(
            select(
                *keys,
                _total(f["reached"]).label("people_reached"),
                _total(f["reached"]).label("people_reached_unique"),
                _total(f["in_periods"]).label("people_reached_in_periods"),
                _total(f["targeted"]).label("people_targeted"),
                _total(f["targeted"]).label("people_targeted_unique"),
                *split,
                _total(f["lines"]).label("lines"),
            )
            .where(*where)
            .group_by(*keys),
            keys,
        )

    # 1. per group, location and sector (locations grouped by their stored values)
    location: list[Label[Any]] = [
        source.location[name].label(f"location_{name}")
        for name in ("admin1", "admin2")
        if name not in key_names
    ]
    per_sector_keys = [*keys, *location, c["sector"].label("sector")]
    per_sector = (
        select(*per_sector_keys, *figures)
        .where(*where)
        .group_by(*per_sector_keys)
        .subquery("per_sector")
    )
    # 2. per group and location: the largest sector
    s = per_sector.c
    per_location_keys = [s[name] for name in key_names] + [s[k.name] for k in location]
    per_location = (
        select(
            *per_location_keys,
            func.max(s.reached).label("top"),
            func.max(s.targeted).label("top_targeted"),
            func.sum(s.reached).label("reached"),
            func.sum(s.in_periods).label("in_periods"),
            func.sum(s.targeted).label("targeted"),
            *(func.sum(s[name]).label(name) for name in summaries.SPLIT),
            func.sum(s.lines).label("lines"),
        )
        .group_by(*per_location_keys)
        .subquery("per_location")
    )
    # 3. per group
    p = per_location.c
    group_keys = [p[name] for name in key_names]
    return _ordered(
        select(
            *group_keys,
            _total(p.reached).label("people_reached"),
            _total(p.top).label("people_reached_unique"),
            _total(p.in_periods).label("people_reached_in_periods"),
            _total(p.targeted).label("people_targeted"),
            _total(p.top_targeted).label("people_targeted_unique"),
            *(_total(p[name]).label(field) for name, field in SPLIT_FIELDS.items()),
            _total(p.lines).label("lines"),
        ).group_by(*group_keys),
        group_keys,
    )


def _total(figure: Any) -> ColumnElement[int]:
    """A figure's sum as a whole number: PostgreSQL sums bigints as numeric, which the
    driver would give as Decimal."""
    return cast(func.sum(figure), BigInteger)


def _places_select(query: TotalsQuery, *, countries: list[str] | None) -> Select[Any]:
    """Totals by country and year (and admin1) from the places: each place's largest
    sector, added up, is the unique estimate."""
    place = TotalsPlace
    sectors = [getattr(place, sector) for sector in summaries.SECTORS]
    targets = [getattr(place, f"{sector}_targeted") for sector in summaries.SECTORS]
    keys: list[Label[Any]] = [place.country.label("country"), place.year.label("year")]
    if "admin1" in query.group_by:
        keys.append(func.nullif(place.admin1, NO_AREA).label("admin1"))
    where = []
    if countries is not None:
        where.append(place.country.in_(countries))
    if query.years is not None:
        where.append(place.year.in_(query.years))
    return _ordered(
        select(
            *keys,
            _total(sum(sectors[1:], sectors[0])).label("people_reached"),
            _total(greatest(*sectors)).label("people_reached_unique"),
            _total(place.in_periods).label("people_reached_in_periods"),
            _total(place.targeted).label("people_targeted"),
            _total(greatest(*targets)).label("people_targeted_unique"),
            *(_total(getattr(place, name)).label(field) for name, field in SPLIT_FIELDS.items()),
            _total(place.lines).label("lines"),
        )
        .where(*where)
        .group_by(*keys),
        keys,
    )


class greatest(FunctionElement[Any]):
    """The largest of its arguments: GREATEST on PostgreSQL, multi-argument max() on SQLite."""

    inherit_cache = True


@compiles(greatest)
def _greatest(element: greatest, compiler: SQLCompiler, **kw: Any) -> str:
    return f"greatest({compiler.process(element.clauses, **kw)})"


@compiles(greatest, "sqlite")
def _greatest_sqlite(element: greatest, compiler: SQLCompiler, **kw: Any) -> str:
    return f"max({compiler.process(element.clauses, **kw)})"


def _ordered(statement: Select[Any], keys: Sequence[ColumnElement[Any]]) -> Select[Any]:
    # NULL (no crisis, country-wide) sorts last on every database.
    return statement.order_by(*[part for key in keys for part in (key.is_(None), key)])


def rebuild(session: Session) -> None:
    """Settles every chain, then recomputes every summary from the live lines: for bulk
    loads that bypass the service."""
    summaries.forget_changes(session)
    for statement in rebuild_statements():
        session.execute(statement)


def rebuild_statements() -> list[Executable]:
    # The figures the chains give their lines first: the summaries sum them.
    return [rederive_statement(), *summaries.rebuild_statements()]


# --- coverage: reach against people in need -----------------------------------------


Needs = dict[tuple[str, int, str | None, str | None], int]


def _comparable(query: TotalsQuery) -> bool:
    by_sector = "sector" in query.group_by
    one_sector = query.sectors is not None and len(query.sectors) == 1
    return not ({"division", "phase", "crisis"} & set(query.group_by)) and (
        by_sector or query.sectors is None or one_sector
    )


def row_maker(query: TotalsQuery, need: Needs) -> Callable[[RowMapping], dict[str, Any]]:
    """What makes a row of ``totals_select`` a row of the answer: the grouped fields and
    the figures, and ``people_in_need`` and ``coverage`` from ``need``
    (``needs.needs_for``, for the rows' countries and years).

    A row's need is that of its country and year and of what it is grouped by: its sector
    (grouped by sector, or filtered to one sector), else "Intersectoral"; its admin1 area
    (grouped by admin1), else the whole country. A row of the Intersectoral figure is
    compared with ``people_reached_unique``, a sector's with ``people_reached``. Rows
    grouped by division, phase or crisis, filtered to several sectors, or grouped by
    admin1 with no admin1 have no matching need: null, as is coverage wherever the need
    is unknown or zero."""
    fields = ["country", "year", *group_fields(query), *FIGURES]
    by_sector = "sector" in query.group_by
    by_admin1 = "admin1" in query.group_by
    one_sector = query.sectors[0] if query.sectors is not None and len(query.sectors) == 1 else None
    comparable = _comparable(query)

    def make(row: RowMapping) -> dict[str, Any]:
        values = {name: row[name] for name in fields}
        values["people_in_need"] = values["coverage"] = None
        admin1 = values["admin1"] if by_admin1 else None
        if not comparable or (by_admin1 and admin1 is None):
            return values
        sector = values["sector"] if by_sector else one_sector
        figure = need.get((values["country"], values["year"], sector, admin1))
        if figure is not None:
            reached = values["people_reached" if sector is not None else "people_reached_unique"]
            values["people_in_need"] = figure
            values["coverage"] = round(reached / figure, 4) if figure > 0 else None
        return values

    return make
