"""The chain of a slot's year: what each line of it counts for, by DOMAIN.md's rules.

A chain is the live lines of one slot (crisis, country, sector, division, phase, admin1,
admin2: ``country``, ``crisis_id`` and ``line_key``) in one year (of the period's end), in
period order; the one-sitrep-per-slot rule keeps their periods apart. Along it:

- the **year-to-date reach** after a line is its ``people_reached_cumulative`` when it gave
  one, otherwise the year-to-date reach before it plus its ``people_reached_new``; before
  the year's first line it is 0;
- a line that gave ``people_reached_cumulative`` stands for the increase over the
  year-to-date reach before it: that is the ``people_reached_new`` stored for it, the
  figure totals, feeds and exports count (January 800, February 1,100, March 1,450 stand
  for 800, 300 and 350);
- the **year's target** is the ``people_targeted`` of the latest line that states one: that
  line carries it in ``year_target``, every other line 0. A restatement replaces, never
  adds (twelve monthly sitreps restating 5,000 mean 5,000), and a period silent on the
  target does not erase it.

This module is the one definition of those rules: one SQL statement (``derived``) that
submission, amendment and withdrawal run over the chains they touch (``settle``) and that
the rebuild of the totals summaries runs over every chain (``rederive_statement``).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Subquery,
    Update,
    and_,
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from app.errors import Conflict
from app.i18n import _, number
from app.sitreps.models import LIVE_LINE, SitrepLine
from app.totals.summaries import Counted, counted


@dataclass(slots=True)
class Scope:
    """Chains of one country: every (crisis, line_key, year) combination of these sets.
    A superset of the chains a write touches does no harm: chains it did not touch are
    already settled."""

    country: str
    crisis_ids: set[int | None] = field(default_factory=set)
    line_keys: set[str] = field(default_factory=set)
    years: set[int] = field(default_factory=set)

    def add(self, line: SitrepLine) -> None:
        self.crisis_ids.add(line.crisis_id)
        self.line_keys.add(line.line_key)
        self.years.add(line.year)

    def where(self) -> list[ColumnElement[bool]]:
        return _chains_of({self.country}, self.crisis_ids, self.line_keys, self.years)


def _chains_of(
    countries: set[str], crisis_ids: set[int | None], line_keys: set[str], years: set[int]
) -> list[ColumnElement[bool]]:
    line = SitrepLine
    return [
        line.country.in_(sorted(countries)),
        line.line_key.in_(sorted(line_keys)),
        line.year.in_(sorted(years)),
        of_crises(crisis_ids),
    ]


def of_crises(crisis_ids: set[int | None]) -> ColumnElement[bool]:
    """Lines of these crises (None: of no crisis)."""
    crises = sorted(c for c in crisis_ids if c is not None)
    in_crisis = [SitrepLine.crisis_id.in_(crises)] if crises else []
    if None in crisis_ids:
        in_crisis.append(SitrepLine.crisis_id.is_(None))
    return or_(*in_crisis)


def derived(where: Sequence[ColumnElement[bool]] = ()) -> Subquery:
    """Every live line of the chains ``where`` selects (whole chains only: conditions on
    country, crisis, line_key and year), with the figures its chain gives it: ``new`` (the
    people_reached_new it counts for; negative when a cumulative figure went down),
    ``ytd_before`` (the year-to-date reach before it) and ``before_sitrep_id`` (the sitrep
    of the line before it)."""
    line = SitrepLine
    chain = [line.country, line.crisis_id, line.line_key, line.year]
    # 1. segments: a cumulative figure starts a new one; and the line carrying the target.
    target_end = func.max(case((line.people_targeted.is_not(None), line.period_end))).over(
        partition_by=chain
    )
    segments = (
        select(
            line.id,
            line.sitrep_id,
            line.period_end,
            *chain,
            line.people_reached_new.label("stored_new"),
            line.people_reached_cumulative.label("cumulative"),
            func.count(line.people_reached_cumulative)
            .over(partition_by=chain, order_by=line.period_end)
            .label("segment"),
            line.year_target.label("stored_target"),
            case((line.period_end == target_end, line.people_targeted), else_=0).label("target"),
        )
        .where(LIVE_LINE, *where)
        .subquery("chain_segments")
    )
    # 2. the year-to-date reach after each line: its segment's cumulative figure (0 before
    # the first) plus the new reach the segment's other lines gave, up to this one.
    g = segments.c
    g_chain = [g.country, g.crisis_id, g.line_key, g.year]
    given_new = case((g.cumulative.is_(None), g.stored_new), else_=0)
    ytd = func.coalesce(
        func.max(g.cumulative).over(partition_by=[*g_chain, g.segment]), 0
    ) + func.sum(given_new).over(partition_by=[*g_chain, g.segment], order_by=g.period_end)
    to_date = select(
        g.id,
        g.sitrep_id,
        g.period_end,
        *g_chain,
        g.stored_new,
        g.cumulative,
        g.stored_target,
        g.target,
        ytd.label("ytd"),
    ).subquery("chain_to_date")
    # 3. what each line stands for, from the year-to-date reach before it.
    t = to_date.c
    t_chain = [t.country, t.crisis_id, t.line_key, t.year]
    ytd_before = func.coalesce(func.lag(t.ytd).over(partition_by=t_chain, order_by=t.period_end), 0)
    return select(
        t.id,
        t.sitrep_id,
        t.line_key,
        t.stored_new,
        t.cumulative,
        t.stored_target,
        t.target,
        case((t.cumulative.is_(None), t.stored_new), else_=t.cumulative - ytd_before).label("new"),
        ytd_before.label("ytd_before"),
        func.lag(t.sitrep_id)
        .over(partition_by=t_chain, order_by=t.period_end)
        .label("before_sitrep_id"),
    ).subquery("chain_derived")


def _unsettled(d: Subquery) -> Select[Any]:
    return select(d).where(or_(d.c.new != d.c.stored_new, d.c.target != d.c.stored_target))


@dataclass(frozen=True, slots=True)
class Resettled:
    """A line of another sitrep that a write changed: what it counted for until now, and
    whether feeds publish it again (its people_reached_new changed; year_target is not in
    feeds)."""

    line: SitrepLine
    before: Counted
    republish: bool


def settle(session: Session, *, scope: Scope, sitrep_id: int) -> list[Resettled]:
    """Brings the stored figures of the chains in ``scope`` in line with their rules, after
    a write of sitrep ``sitrep_id`` (flushed, holding the locks of the scope's slots).
    Returns the lines of other sitreps whose figures changed.

    A cumulative figure below the year-to-date reach before it is a 409 naming the sitrep
    at fault: the earlier one when the line is this sitrep's, otherwise the later sitrep
    whose cumulative figure this write would leave behind. The caller's transaction (or
    savepoint) then writes nothing."""
    if not scope.line_keys:
        return []
    d = derived(scope.where())
    rows = session.execute(_unsettled(d)).all()
    if not rows:
        return []
    negative = sorted(
        (r for r in rows if r.new < 0), key=lambda r: (r.sitrep_id != sitrep_id, r.id)
    )
    if negative:
        raise _going_down(negative[0], sitrep_id=sitrep_id, country=scope.country)
    return _resettle(session, rows, mine={sitrep_id}, written={})


def settle_set(
    session: Session, *, scopes: Sequence[Scope], written: Sequence[SitrepLine]
) -> list[Resettled] | None:
    """``settle`` for the new sitreps of a batch at once: ``written`` are their lines (in the
    database, not the session's: what settling changes of them is set on these objects for
    the caller to store), ``scopes`` the chains they touch, in one statement. Returns None,
    and changes nothing, when a cumulative figure would go down: which sitrep that refuses
    depends on the order the sitreps are written in, so the caller writes them one at a
    time instead."""
    scopes = [scope for scope in scopes if scope.line_keys]
    if not scopes:
        return []
    rows = session.execute(_unsettled(derived([_within(scopes)]))).all()
    if any(r.new < 0 for r in rows):
        return None
    return _resettle(
        session,
        rows,
        mine={line.sitrep_id for line in written},
        written={line.id: line for line in written},
    )


def goes_down(session: Session, *, scopes: Sequence[Scope]) -> bool:
    """Whether a cumulative figure of the chains in ``scopes`` is below the year-to-date
    reach before it, as the lines stand (``settle_set`` would refuse)."""
    scopes = [scope for scope in scopes if scope.line_keys]
    if not scopes:
        return False
    d = derived([_within(scopes)])
    return session.execute(select(d.c.id).where(d.c.new < 0).limit(1)).first() is not None


def _within(scopes: Sequence[Scope]) -> ColumnElement[bool]:
    """The chains of every scope, and others (those of one scope's country with another's
    line keys, crises or years), which do no harm (see Scope). One condition over the sets
    instead of one per scope: for a batch of 100 sitreps of 20 countries on PostgreSQL 15,
    run on its own, planning took 3.5 ms instead of 12.4 and the statement 18 ms instead of
    32; within the batch's request, 13 ms instead of 55."""
    return and_(
        *_chains_of(
            {scope.country for scope in scopes},
            {c for scope in scopes for c in scope.crisis_ids},
            {k for scope in scopes for k in scope.line_keys},
            {y for scope in scopes for y in scope.years},
        )
    )


def _resettle(
    session: Session, rows: Sequence[Any], *, mine: set[int], written: dict[int, SitrepLine]
) -> list[Resettled]:
    """Gives the lines the figures that ``rows`` (of ``derived``) give them: those of
    ``written`` as they are held (their caller stores them), the others read afresh into the
    session (which stores them). Returns the lines of sitreps other than ``mine`` that
    changed."""
    settled = {r.id: r for r in rows}
    held = [written[i] for i in sorted(settled.keys() & written.keys())]
    unheld = sorted(settled.keys() - written.keys())
    if unheld:
        held += session.scalars(
            select(SitrepLine)
            .where(SitrepLine.id.in_(unheld))
            .order_by(SitrepLine.id)
            .execution_options(populate_existing=True)
        )
    others = []
    for line in sorted(held, key=lambda line: line.id):
        row = settled[line.id]
        if line.sitrep_id not in mine:
            others.append(Resettled(line, counted(line), row.new != line.people_reached_new))
        line.people_reached_new = row.new
        line.year_target = row.target
    return others


def _going_down(row: Any, *, sitrep_id: int, country: str) -> Conflict:
    sector, division, phase, admin1, admin2 = row.line_key.split("|")
    where = admin2 or admin1 or _("{country} (country-wide)", country=country)
    slot = f"{sector}/{division}/{phase}"
    if row.sitrep_id == sitrep_id:
        earlier = row.before_sitrep_id
        return Conflict(
            _(
                "people_reached_cumulative {cumulative} for {slot} at {where} is lower than the "
                "{before} people sitrep {earlier} already counts as reached this year by an "
                "earlier period; a year-to-date figure cannot go down. Correct the figure, "
                "or amend sitrep {earlier} first.",
                cumulative=number(row.cumulative),
                slot=slot,
                where=where,
                before=number(row.ytd_before),
                earlier=earlier,
            ),
            conflicting_sitrep_id=earlier,
        )
    return Conflict(
        _(
            "Sitrep {later} reports people_reached_cumulative {cumulative} for {slot} at {where} "
            "in a later period; this change would make the year-to-date reach before it {before}, "
            "more than that. Amend sitrep {later} first.",
            later=row.sitrep_id,
            cumulative=number(row.cumulative),
            slot=slot,
            where=where,
            before=number(row.ytd_before),
        ),
        conflicting_sitrep_id=row.sitrep_id,
    )


def rederive_statement() -> Update:
    """Settles every chain at once: for the rebuild of the totals summaries, after bulk
    loads that bypass the service."""
    d = derived()
    unsettled = _unsettled(d).subquery("unsettled")
    return (
        update(SitrepLine)
        .where(SitrepLine.id == unsettled.c.id)
        .values(people_reached_new=unsettled.c.new, year_target=unsettled.c.target)
    )
