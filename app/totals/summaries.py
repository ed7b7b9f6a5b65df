"""The totals summaries: what one live line adds to each of them, written once, in SQL.

Three tables hold the live lines already summed (``app.totals.models``): the cells (every
dimension), the slots (no location) and the places (no slot; each sector's reach apart, for
the unique estimate). What a line adds to each is defined here once, as SQL expressions over
a line's columns (``LINE_COLUMNS``), and the same definition serves:

- **writes**: a transaction's changes (lines as they counted until now, taken out; as they
  count from now on, put in) are sent as one JSON parameter, read back as rows by the
  database (``_changes``), run through the definition and added to the tables with one
  upsert per table (``apply_changes``, at commit);
- **the rebuild** (``rebuild_statements``), over the live lines: after bulk loads that
  bypass the service (the benchmark's generator), and as the backfill of a migration that
  changes a summary (``migrations/env.py`` runs it once the database is at head);
- **the recount** (``app.totals.service.LINES``), the same figures straight from the lines,
  that tests and the benchmark hold the tables to.

Sex and age: a line's new reach is split in the proportions of its own disaggregation by the
largest-remainder rule (``_split``): each part gets floor(new * part / sum), and the people
left over (fewer than four) go one each to the parts with the largest remainders, ties to
women, men, girls, boys in that order. The four parts add up to the new reach exactly. A line
that gave no disaggregation (or one that sums to 0) adds its new reach to
``not_disaggregated`` instead.
"""

import typing
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    String,
    Subquery,
    Table,
    bindparam,
    case,
    cast,
    column,
    delete,
    event,
    func,
    literal_column,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnClause
from sqlalchemy.sql.expression import FromClause

from app.db import transaction_chain
from app.sitreps.models import LIVE_LINE, SitrepLine
from app.totals.models import NO_AREA, NO_CRISIS, TotalsCell, TotalsPlace, TotalsSlot

# The columns of a line that the summaries read, with their types: a line's contribution is
# a function of these alone (``counted`` takes them off a line).
LINE_COLUMNS: tuple[tuple[str, type[Integer] | type[String]], ...] = (
    ("year", Integer),
    ("country", String),
    ("sector", String),
    ("division", String),
    ("phase", String),
    ("crisis_id", Integer),
    ("admin1", String),
    ("admin2", String),
    ("people_reached_new", Integer),
    ("people_reached", Integer),
    ("year_target", Integer),
    ("women", Integer),
    ("men", Integer),
    ("girls", Integer),
    ("boys", Integer),
)
LINE_NAMES = tuple(name for name, _type in LINE_COLUMNS)

# A line as it counts: its LINE_COLUMNS values, in order.
Counted = tuple[Any, ...]

SECTORS = ("shelter", "wash", "cccm", "cash", "health")
PARTS = ("women", "men", "girls", "boys")
# What every summary keeps besides its own figures: the sex and age split of the reach.
SPLIT = (*PARTS, "not_disaggregated")


def counted(line: SitrepLine) -> Counted:
    """What a live line adds to the summaries, as it stands: its LINE_COLUMNS values."""
    return tuple(getattr(line, name) for name in LINE_NAMES)


ZERO = literal_column("0", BigInteger)
ONE = literal_column("1", BigInteger)
# A LIMIT keeps a subquery a subquery: without one both databases pull the subqueries of
# ``_prepared`` up into the query that reads them, and inline every expression where it is
# used, so that the split by sex and age repeats the shares and remainders hundreds of
# times. Measured (one 12-line sitrep's upsert into the cells): PostgreSQL 15 planned it in
# 1.8 ms and ran it in 0.6 inlined, 0.3 and 0.15 kept apart; SQLite ran it in 0.45 ms
# against 0.11. Only where nothing outside filters the lines (``summed``): a LIMIT also keeps
# the conditions of the query that reads the subquery out of it, so the recount of one
# country-year over ``live_lines`` read every line (at a million lines on PostgreSQL, 487 ms
# against 13). The largest 64-bit integer, so that no row is ever left out; a literal, since
# the benchmark compiles these statements with their values in place. (Not OFFSET 0: on
# SQLite SQLAlchemy adds LIMIT -1 to it as a bound value, even when told to inline values.)
EVERY_ROW = literal_column("9223372036854775807", BigInteger)


def _prepared(lines: FromClause, *, apart: bool) -> Subquery:
    """``lines`` (LINE_COLUMNS, and sign for changes) with what the split by sex and age
    starts from: ``given`` (the disaggregation's sum) and, for each part, ``base_<part>``
    (floor(new * part / given)) and ``rest_<part>`` (the remainder of that division).
    ``apart``: its subqueries kept apart (EVERY_ROW), for queries that filter none of it."""
    limit = EVERY_ROW if apart else None
    c = lines.c
    new = cast(c.people_reached_new, BigInteger)
    parts = [cast(func.coalesce(getattr(c, part), ZERO), BigInteger) for part in PARTS]
    given = parts[0] + parts[1] + parts[2] + parts[3]
    shares = (
        select(
            *c,
            given.label("given"),
            *((new * x).label(f"share_{p}") for x, p in zip(parts, PARTS, strict=True)),
        )
        .limit(limit)
        .subquery("shares")
    )
    s = shares.c
    divisor = func.nullif(s.given, ZERO)
    # Integer division (both databases truncate, and nothing is negative); the remainder as
    # share - base * given, since "%" would need escaping in SQL compiled for psycopg.
    base = {p: s[f"share_{p}"].op("/", return_type=BigInteger())(divisor) for p in PARTS}
    return (
        select(
            *s,
            *(base[p].label(f"base_{p}") for p in PARTS),
            *((s[f"share_{p}"] - base[p] * s.given).label(f"rest_{p}") for p in PARTS),
        )
        .limit(limit)
        .subquery("prepared")
    )


def _split(c: Any) -> dict[str, ColumnElement[Any]]:
    """The new reach of a line of ``_prepared`` split by sex and age: each part its base,
    and one more for the parts ranked (by remainder, then in PARTS order) within the people
    left over."""
    base = [c[f"base_{p}"] for p in PARTS]
    rest = [c[f"rest_{p}"] for p in PARTS]
    left = c.people_reached_new - (base[0] + base[1] + base[2] + base[3])
    split: dict[str, ColumnElement[Any]] = {}
    for i, part in enumerate(PARTS):
        ahead = [
            case((rest[j] >= rest[i] if j < i else rest[j] > rest[i], ONE), else_=ZERO)
            for j in range(len(PARTS))
            if j != i
        ]
        extra = case((ahead[0] + ahead[1] + ahead[2] < left, ONE), else_=ZERO)
        split[part] = case((c.given > ZERO, base[i] + extra), else_=ZERO)
    split["not_disaggregated"] = case((c.given > ZERO, ZERO), else_=c.people_reached_new)
    return split


@dataclass(frozen=True, slots=True)
class Summary:
    """A summary table: its key and what a line adds to each of its figures."""

    model: type[TotalsCell] | type[TotalsPlace] | type[TotalsSlot]
    key: tuple[str, ...]
    figures: tuple[str, ...]

    @property
    def table(self) -> Table:
        return typing.cast(Table, self.model.__table__)

    def contributions(self, c: Any) -> dict[str, ColumnElement[Any]]:
        """What the line ``c`` (a row of ``_prepared``) adds to each figure."""
        common: dict[str, ColumnElement[Any]] = {
            "in_periods": c.people_reached,
            "targeted": c.year_target,
            "lines": ONE,
            **_split(c),
        }
        if self.model is TotalsPlace:
            for sector in SECTORS:
                common[sector] = case((c.sector == sector, c.people_reached_new), else_=ZERO)
                common[f"{sector}_targeted"] = case((c.sector == sector, c.year_target), else_=ZERO)
        else:
            common["reached"] = c.people_reached_new
        return {name: common[name] for name in self.figures}


def key_columns(c: Any) -> dict[str, ColumnElement[Any]]:
    """A line's summary key: no crisis is 0 and no admin area '' (``app.totals.models``)."""
    return {
        "year": c.year,
        "country": c.country,
        "sector": c.sector,
        "division": c.division,
        "phase": c.phase,
        "crisis_id": func.coalesce(c.crisis_id, NO_CRISIS),
        "admin1": func.coalesce(c.admin1, NO_AREA),
        "admin2": func.coalesce(c.admin2, NO_AREA),
    }


_CELL_KEY = ("year", "country", "sector", "division", "phase", "crisis_id", "admin1", "admin2")
_SLOT_FIGURES = ("reached", "in_periods", "targeted", "lines", *SPLIT)
CELLS = Summary(TotalsCell, _CELL_KEY, _SLOT_FIGURES)
SLOTS = Summary(TotalsSlot, _CELL_KEY[:6], _SLOT_FIGURES)
PLACES = Summary(
    TotalsPlace,
    ("year", "country", "admin1", "admin2"),
    (*SECTORS, *(f"{s}_targeted" for s in SECTORS), "in_periods", "targeted", "lines", *SPLIT),
)
SUMMARIES = (CELLS, PLACES, SLOTS)


def summed(summary: Summary, lines: FromClause, *, signed: bool = False) -> Select[Any]:
    """What the rows ``lines`` (LINE_COLUMNS) add to ``summary``, per key, in key order.
    ``signed``: the rows also have ``sign`` (1 to put a line in, -1 to take it out), and only
    the keys whose figures move are given."""
    c = _prepared(lines, apart=True).c
    sign = c.sign if signed else None
    keys = key_columns(c)
    figures = summary.contributions(c)
    by = [keys[name].label(name) for name in summary.key]
    sums = [
        func.sum(figures[name] if sign is None else sign * figures[name])
        for name in summary.figures
    ]
    statement = (
        select(*by, *(s.label(name) for s, name in zip(sums, summary.figures, strict=True)))
        .group_by(*by)
        .order_by(*by)
    )
    if signed:
        # A key whose figures do not move is not written (nor locked).
        statement = statement.having(or_(*(s != 0 for s in sums)))
    return statement


# --- the live lines ---------------------------------------------------------------------


def rebuild_statements() -> list[Executable]:
    """Recompute every summary from the live lines (their people_reached_new and
    year_target as the chains have settled them)."""
    statements: list[Executable] = []
    for summary in SUMMARIES:
        columns = [*summary.key, *summary.figures]
        statements += [
            delete(summary.table),
            summary.table.insert().from_select(columns, summed(summary, _live())),
        ]
    return statements


def _live() -> Subquery:
    return (
        select(*(getattr(SitrepLine, name) for name in LINE_NAMES))
        .where(LIVE_LINE)
        .subquery("live")
    )


def live_lines() -> Subquery:
    """The live lines with what each adds to its cell (``CELLS``' figures), for the recount:
    grouping these gives what the summaries hold."""
    c = _prepared(_live(), apart=False).c
    figures = CELLS.contributions(c)
    return select(
        *(c[name] for name in ("year", "country", "sector", "division", "phase")),
        c.crisis_id,
        c.admin1,
        c.admin2,
        *(figure.label(name) for name, figure in figures.items()),
    ).subquery("counted_lines")


# --- a transaction's changes ------------------------------------------------------------


@cache
def _changes(dialect: str) -> Subquery:
    """The rows of the JSON parameter ``changes`` (arrays: sign, then LINE_COLUMNS), as a
    table the definition reads."""
    if dialect == "postgresql":
        cast_to = {Integer: "bigint", String: "text"}
        fields = ", ".join(
            f"CAST(r->>{i + 1} AS {cast_to[kind]}) AS {name}"
            for i, (name, kind) in enumerate(LINE_COLUMNS)
        )
        sql = (
            f"SELECT CAST(r->>0 AS integer) AS sign, {fields} "
            "FROM jsonb_array_elements(CAST(:changes AS jsonb)) AS r"
        )
    else:
        fields = ", ".join(
            f"json_extract(value, '$[{i + 1}]') AS {name}"
            for i, (name, _kind) in enumerate(LINE_COLUMNS)
        )
        sql = f"SELECT json_extract(value, '$[0]') AS sign, {fields} FROM json_each(:changes)"
    columns: list[ColumnClause[Any]] = [column("sign", Integer)] + [
        column(name, kind()) for name, kind in LINE_COLUMNS
    ]
    return (
        text(sql)
        .bindparams(bindparam("changes", type_=String))
        .columns(*columns)
        .subquery("changes")
    )


@cache
def _write_statements(dialect: Dialect) -> list[tuple[SQLCompiler, bool]]:
    """The statements that add a transaction's changes to the summaries, compiled once per
    dialect (their only parameter is ``changes``): per summary, the upsert, and the delete
    of rows left with no line (run only when lines were taken out)."""
    changes = _changes(dialect.name)
    insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
    keys = key_columns(changes.c)
    statements: list[tuple[SQLCompiler, bool]] = []
    for summary in SUMMARIES:
        table = summary.table
        upsert = insert(table).from_select(
            [*summary.key, *summary.figures], summed(summary, changes, signed=True)
        )
        upsert = upsert.on_conflict_do_update(
            index_elements=list(summary.key),
            set_={f: table.c[f] + upsert.excluded[f] for f in summary.figures},
        )
        # No row stays with 0 lines, so that no group shows up with nothing in it.
        emptied = delete(table).where(
            table.c.lines == 0,
            tuple_(*(table.c[k] for k in summary.key)).in_(
                select(*(keys[k] for k in summary.key)).where(changes.c.sign < 0)
            ),
        )
        statements += [
            (upsert.compile(dialect=dialect), False),
            (emptied.compile(dialect=dialect), True),
        ]
    return statements


def _write(session: Session, *, removed: list[Counted], added: list[Counted]) -> None:
    if not removed and not added:
        return
    connection = session.connection()
    changes = orjson.dumps([[-1, *line] for line in removed] + [[1, *line] for line in added])
    given = {"changes": changes.decode()}
    for compiled, after_removal in _write_statements(connection.dialect):
        if after_removal and not removed:
            continue
        parameters = compiled.construct_params(given) or {}
        if compiled.positiontup is not None:
            connection.exec_driver_sql(
                compiled.string, tuple(parameters[name] for name in compiled.positiontup)
            )
        else:
            connection.exec_driver_sql(compiled.string, parameters)


def apply_changes(session: Session, *, removed: list[Counted], added: list[Counted]) -> None:
    """Takes lines out of the summaries as they counted until now (``removed``) and puts
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
    change = (transaction_chain(session), list(removed), list(added))
    session.info.setdefault(_PENDING, []).append(change)


# Changes not written yet: (the transactions they were made in, removed, added).
_PENDING = "totals.pending"
# Changes written inside a savepoint: (its transactions, the changes), so that they wait
# again for the commit if that savepoint rolls back.
_WRITTEN = "totals.written"

_Change = tuple[list[SessionTransaction], list[Counted], list[Counted]]


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
        session.info.setdefault(_WRITTEN, []).append((transaction_chain(session), pending))
    _write(
        session,
        removed=[line for _chain, removed, _added in pending for line in removed],
        added=[line for _chain, _removed, added in pending for line in added],
    )


def forget_changes(session: Session) -> None:
    """Drops the changes not written yet: before a rebuild, which recounts everything."""
    session.info.pop(_PENDING, None)
    session.info.pop(_WRITTEN, None)
