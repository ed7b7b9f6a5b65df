"""The counting rules of DOMAIN.md, as SQL.

Three nested aggregations, all in the database:
1. per group, location (admin1, admin2) and sector: the sector's reach there;
2. per group and location: the largest sector (for the unique estimate) and the sums;
3. per group: the figures.

They run over ``totals_cells`` (``TotalsCell``): the live lines of the latest revisions
already summed per slot and year, kept exact by every write in its own transaction
(``apply_changes``). The same statement over ``sitrep_lines`` (``source=LINES``) is the
from-scratch recount that tests and the benchmark hold the cells to.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Label,
    RowMapping,
    Select,
    SQLColumnExpression,
    case,
    delete,
    event,
    func,
    insert,
    literal,
    select,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from app.auth import service as auth
from app.auth.models import Role, User
from app.needs import service as needs
from app.sitreps.models import LIVE_LINE, SitrepLine
from app.totals.chains import Counted, rederive_statement
from app.totals.models import NO_AREA, NO_CRISIS, TotalsCell, TotalsPlace, TotalsSlot
from app.totals.schemas import Totals, TotalsRow

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
    "lines",
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
    """What the counting rules read: a column per dimension, the four summed figures,
    and the condition a row must meet."""

    columns: dict[str, SQLColumnExpression[Any]]
    # admin1 and admin2 as stored: what tells one location from another.
    location: dict[str, SQLColumnExpression[Any]]
    reached: SQLColumnExpression[Any]
    in_periods: SQLColumnExpression[Any]
    targeted: SQLColumnExpression[Any]
    lines: SQLColumnExpression[Any]
    where: Sequence[ColumnElement[bool]]


def _summary(model: type[TotalsCell] | type[TotalsSlot], location: tuple[str, ...]) -> Source:
    """A summary table as a source: its key columns (no crisis stored as 0, no admin1 as
    ''), its locations as stored, and its sums."""
    columns: dict[str, SQLColumnExpression[Any]] = {
        name: getattr(model, name) for name in ("country", "year", "sector", "division", "phase")
    }
    columns["crisis"] = func.nullif(model.crisis_id, NO_CRISIS)
    stored = {name: getattr(model, name) for name in location}
    if "admin1" in stored:
        columns["admin1"] = func.nullif(stored["admin1"], NO_AREA)
    return Source(
        columns=columns,
        location=stored,
        reached=model.reached,
        in_periods=model.in_periods,
        targeted=model.targeted,
        lines=model.lines,
        where=(),
    )


CELLS = _summary(TotalsCell, ("admin1", "admin2"))
SLOTS = _summary(TotalsSlot, ())
LINES = Source(
    columns={
        "country": SitrepLine.country,
        "year": SitrepLine.year,
        "sector": SitrepLine.sector,
        "division": SitrepLine.division,
        "phase": SitrepLine.phase,
        "crisis": SitrepLine.crisis_id,
        "admin1": SitrepLine.admin1,
    },
    location={"admin1": SitrepLine.admin1, "admin2": SitrepLine.admin2},
    reached=SitrepLine.people_reached_new,
    in_periods=SitrepLine.people_reached,
    targeted=SitrepLine.year_target,
    lines=literal(1),
    where=(LIVE_LINE,),
)


def totals(session: Session, *, query: TotalsQuery, user: User) -> Totals:
    write_changes(session)
    rows = [
        totals_row(query, r) for r in session.execute(scoped_select(query, user=user)).mappings()
    ]
    needs.fill_coverage(session, rows, query=query)
    return Totals(rows=rows)


def scoped_select(query: TotalsQuery, *, user: User) -> Select[Any]:
    """The totals a user may read, as one SQL statement (a 403 when they may not)."""
    auth.require_role(user, Role.field, Role.hq, Role.admin)
    return totals_select(query, countries=auth.narrow_countries(user, query.countries))


def years(session: Session, *, countries: list[str] | None, crisis_id: int | None) -> list[int]:
    """Years with live lines, as totals count them (the year of the period's end)."""
    write_changes(session)
    query = select(TotalsSlot.year).distinct().order_by(TotalsSlot.year)
    if countries is not None:
        query = query.where(TotalsSlot.country.in_(countries))
    if crisis_id is not None:
        query = query.where(TotalsSlot.crisis_id == crisis_id)
    return list(session.scalars(query))


def group_fields(query: TotalsQuery) -> list[str]:
    """The fields of a row besides country, year and the figures, in column order."""
    return [FIELD_OF_GROUP.get(g, g) for g in GROUPS if g in query.group_by]


def totals_row(query: TotalsQuery, row: RowMapping) -> TotalsRow:
    """A row of ``totals_select``; only the grouped fields are set."""
    return TotalsRow(
        country=row["country"],
        year=row["year"],
        **{f: row[f] for f in (*group_fields(query), *FIGURES)},
    )


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

    where = list(source.where)
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
    figures = (
        func.sum(source.reached).label("reached"),
        func.sum(source.in_periods).label("in_periods"),
        func.sum(source.targeted).label("targeted"),
        func.sum(source.lines).label("lines"),
    )
    if "sector" in key_names:
        # Each location of a group then holds one sector, which is its largest: the unique
        # estimate is people_reached, and one aggregation gives every figure.
        return _ordered(
            select(
                *keys,
                func.sum(source.reached).label("people_reached"),
                func.sum(source.reached).label("people_reached_unique"),
                func.sum(source.in_periods).label("people_reached_in_periods"),
                func.sum(source.targeted).label("people_targeted"),
                func.sum(source.targeted).label("people_targeted_unique"),
                func.sum(source.lines).label("lines"),
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
            func.sum(p.reached).label("people_reached"),
            func.sum(p.top).label("people_reached_unique"),
            func.sum(p.in_periods).label("people_reached_in_periods"),
            func.sum(p.targeted).label("people_targeted"),
            func.sum(p.top_targeted).label("people_targeted_unique"),
            func.sum(p.lines).label("lines"),
        ).group_by(*group_keys),
        group_keys,
    )


def _places_select(query: TotalsQuery, *, countries: list[str] | None) -> Select[Any]:
    """Totals by country and year (and admin1) from the places: each place's largest
    sector, added up, is the unique estimate."""
    place = TotalsPlace
    sectors = [getattr(place, sector) for sector in PLACE_SECTORS]
    targets = [getattr(place, f"{sector}_targeted") for sector in PLACE_SECTORS]
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
            func.sum(sum(sectors[1:], sectors[0])).label("people_reached"),
            func.sum(greatest(*sectors)).label("people_reached_unique"),
            func.sum(place.in_periods).label("people_reached_in_periods"),
            func.sum(place.targeted).label("people_targeted"),
            func.sum(greatest(*targets)).label("people_targeted_unique"),
            func.sum(place.lines).label("lines"),
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


# --- keeping the cells exact --------------------------------------------------------------

CELL_KEY = ("year", "country", "sector", "division", "phase", "crisis_id", "admin1", "admin2")
CELL_FIGURES = ("reached", "in_periods", "targeted", "lines")
PLACE_KEY = ("year", "country", "admin1", "admin2")
PLACE_SECTORS = ("shelter", "wash", "cccm", "cash", "health")
PLACE_TARGETS = tuple(f"{sector}_targeted" for sector in PLACE_SECTORS)
PLACE_FIGURES = (*PLACE_SECTORS, *PLACE_TARGETS, "in_periods", "targeted", "lines")


def apply_changes(
    session: Session, *, removed: Iterable[Counted], added: Iterable[Counted]
) -> None:
    """Takes lines out of the cells as they were counted until now (``removed``) and puts
    them in as they count from now on (``added``), when the transaction commits.

    The summaries are shared by many slots (a place by every sector, a slot by every place),
    so the writes that change them would wait for each other if each took its rows when it
    wrote its lines. They are written instead at commit (``write_changes``), all of a
    transaction's changes at once, in key order: each row is held for the commit alone, and
    two transactions take their rows in the same order, so neither waits for the other's
    while holding one it needs. Changes made in a savepoint that rolls back (a refused
    sitrep of a batch, a dry run) are forgotten with it."""
    if session.get_transaction() is None:
        session.begin()  # the changes belong to a transaction, and end with it
    session.info.setdefault(_PENDING, []).append((_chain(session), list(removed), list(added)))


# Changes not written yet: (the transactions they were made in, removed, added).
_PENDING = "totals.pending"
# Changes written inside a savepoint: (its transactions, the changes), so that they wait
# again for the commit if that savepoint rolls back.
_WRITTEN = "totals.written"

_Change = tuple[list[SessionTransaction], list[Counted], list[Counted]]


def _chain(session: Session) -> list[SessionTransaction]:
    chain = []
    transaction = session.get_nested_transaction() or session.get_transaction()
    while transaction is not None:
        chain.append(transaction)
        transaction = transaction.parent
    return chain


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    pending: list[_Change] = session.info.get(_PENDING, [])
    for chain, changes in session.info.get(_WRITTEN, []):
        if previous_transaction in chain:
            pending += changes
    session.info[_WRITTEN] = [
        (chain, changes)
        for chain, changes in session.info.get(_WRITTEN, [])
        if previous_transaction not in chain
    ]
    session.info[_PENDING] = [c for c in pending if previous_transaction not in c[0]]


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    # The transaction is over (committed, rolled back, or its session closed): nothing of it
    # may reach the next one.
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_WRITTEN, None)


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    if not session.in_nested_transaction():
        # (A savepoint released: its changes wait for the transaction's own commit.)
        write_changes(session)
        session.info.pop(_WRITTEN, None)


def write_changes(session: Session) -> None:
    """Writes the changes this transaction made so far to the summaries: at commit, or
    before the transaction reads the summaries itself."""
    pending: list[_Change] = session.info.pop(_PENDING, [])
    if not pending:
        return
    if session.in_nested_transaction():
        session.info.setdefault(_WRITTEN, []).append((_chain(session), pending))
    _write_changes(
        session,
        removed=[line for _chain, removed, _added in pending for line in removed],
        added=[line for _chain, _removed, added in pending for line in added],
    )


def _write_changes(
    session: Session, *, removed: Iterable[Counted], added: Iterable[Counted]
) -> None:
    deltas: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for sign, lines in ((-1, removed), (1, added)):
        for key, reached, in_periods, targeted in lines:
            delta = deltas[key]
            delta[0] += sign * reached
            delta[1] += sign * in_periods
            delta[2] += sign * targeted
            delta[3] += sign
    places: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * len(PLACE_FIGURES))
    for (year, country, sector, _division, _phase, _crisis, admin1, admin2), d in deltas.items():
        place = places[(year, country, admin1, admin2)]
        place[PLACE_SECTORS.index(sector)] += d[0]
        place[len(PLACE_SECTORS) + PLACE_SECTORS.index(sector)] += d[2]
        place[-3] += d[1]
        place[-2] += d[2]
        place[-1] += d[3]
    slots: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * len(CELL_FIGURES))
    for key, d in deltas.items():
        slot = slots[key[:6]]
        for i, value in enumerate(d):
            slot[i] += value
    _add(session, TotalsCell, CELL_KEY, CELL_FIGURES, deltas)
    _add(session, TotalsPlace, PLACE_KEY, PLACE_FIGURES, places)
    _add(session, TotalsSlot, CELL_KEY[:6], CELL_FIGURES, slots)


def _add(
    session: Session,
    model: type[TotalsCell] | type[TotalsPlace] | type[TotalsSlot],
    key_names: tuple[str, ...],
    figures: tuple[str, ...],
    deltas: dict[tuple[Any, ...], list[int]],
) -> None:
    """Adds ``deltas`` (figures by key) to the rows of ``model``, creating missing rows and
    deleting those left with no line, so that no group shows up with 0 lines."""
    changes = [
        {**dict(zip(key_names, key, strict=True)), **dict(zip(figures, d, strict=True))}
        for key, d in sorted(deltas.items())
        if any(d)
    ]
    if not changes:
        return
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    upsert = dialect.insert(model)
    session.execute(
        upsert.on_conflict_do_update(
            index_elements=list(key_names),
            set_={f: getattr(model, f) + getattr(upsert.excluded, f) for f in figures},
        ),
        changes,
    )
    emptied = [tuple(change[k] for k in key_names) for change in changes if change["lines"] < 0]
    if emptied:
        session.execute(
            delete(model).where(
                model.lines == 0,
                tuple_(*(getattr(model, k) for k in key_names)).in_(emptied),
            )
        )


def rebuild_cells(session: Session) -> None:
    """Recomputes every cell, slot and place from the live lines: for bulk loads that
    bypass the service."""
    session.info.pop(_PENDING, None)
    session.info.pop(_WRITTEN, None)
    for statement in rebuild_statements():
        session.execute(statement)


def rebuild_statements() -> list[Executable]:
    line = SitrepLine
    keys = [
        line.year,
        line.country,
        line.sector,
        line.division,
        line.phase,
        func.coalesce(line.crisis_id, NO_CRISIS),
        func.coalesce(line.admin1, NO_AREA),
        func.coalesce(line.admin2, NO_AREA),
    ]
    return [
        # The figures the chains give their lines first: the summaries sum them.
        rederive_statement(),
        delete(TotalsCell),
        insert(TotalsCell).from_select(
            [*CELL_KEY, *CELL_FIGURES],
            select(
                *keys,
                func.sum(line.people_reached_new),
                func.sum(line.people_reached),
                func.sum(line.year_target),
                func.count(),
            )
            .where(LIVE_LINE)
            .group_by(*keys),
        ),
        delete(TotalsSlot),
        insert(TotalsSlot).from_select(
            [*CELL_KEY[:6], *CELL_FIGURES],
            select(
                *keys[:6],
                func.sum(line.people_reached_new),
                func.sum(line.people_reached),
                func.sum(line.year_target),
                func.count(),
            )
            .where(LIVE_LINE)
            .group_by(*keys[:6]),
        ),
        delete(TotalsPlace),
        insert(TotalsPlace).from_select(
            [*PLACE_KEY, *PLACE_FIGURES],
            select(
                line.year,
                line.country,
                keys[-2],
                keys[-1],
                *(
                    func.sum(case((line.sector == sector, line.people_reached_new), else_=0))
                    for sector in PLACE_SECTORS
                ),
                *(
                    func.sum(case((line.sector == sector, line.year_target), else_=0))
                    for sector in PLACE_SECTORS
                ),
                func.sum(line.people_reached),
                func.sum(line.year_target),
                func.count(),
            )
            .where(LIVE_LINE)
            .group_by(line.year, line.country, keys[-2], keys[-1]),
        ),
    ]
