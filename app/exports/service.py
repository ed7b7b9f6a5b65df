"""Exports of totals and of sitrep lines, streamed from the database.

An export reads on a connection of its own, not on the request's session: the session
commits and closes when the endpoint returns, before the response body is sent. The
statement runs before the response starts (so a database that does not answer is still a
503), then its rows stream in batches of ``export_batch_rows``: a server-side cursor on
PostgreSQL, SQLite's own row-by-row stepping on SQLite. One statement also means one
snapshot: a sitrep amended during a long export is in it before or after, never half.
"""

import logging
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, Generic, TypeVar

import orjson
from sqlalchemy import Row, Select, select

from app.auth import permissions
from app.auth.models import Role, User
from app.clusters import service as clusters
from app.config import get_settings
from app.db import get_engine, new_session
from app.errors import ValidationFailed
from app.needs import service as needs
from app.sectors.catalog import SECTORS
from app.sitreps.models import LIVE_LINE, SitrepLine
from app.totals import service as totals

R = TypeVar("R")

logger = logging.getLogger(__name__)

_FEED_TAGS = dict(clusters.HXL_COLUMNS)
# HXL hashtag of each totals column: the feed's for the dimensions they share.
TOTALS_TAGS = {
    **{field: _FEED_TAGS[field] for field in ("country", "sector", "division", "phase")},
    "crisis_id": _FEED_TAGS["crisis_id"],
    "admin1": _FEED_TAGS["admin1"],
    "year": "#date+year",
    "people_reached": "#reached",
    "people_reached_unique": "#reached+unique",
    "people_reached_in_periods": "#reached+in_periods",
    "people_targeted": "#targeted",
    "people_targeted_unique": "#targeted+unique",
    "women": _FEED_TAGS["women"],
    "men": _FEED_TAGS["men"],
    "girls": _FEED_TAGS["girls"],
    "boys": _FEED_TAGS["boys"],
    "people_reached_not_disaggregated": "#reached+unknown",
    "lines": "#meta+lines",
    "people_in_need": "#inneed",
    "coverage": "#indicator+coverage",
}


class Streamed(Generic[R]):
    """The rows of one statement, converted, read in batches on a connection of their own.

    The statement runs when this is made; iterating reads the rest and closes the
    connection, as does dropping it unread (a client that went away)."""

    def __init__(self, name: str, statement: Select[Any], convert: Callable[[Row[Any]], R]) -> None:
        connection = get_engine().connect()
        try:
            self._result = connection.execution_options(
                stream_results=True, yield_per=get_settings().export_batch_rows
            ).execute(statement)
        except BaseException:
            connection.close()
            raise
        self._name = name
        self._convert = convert
        self._close = weakref.finalize(self, connection.close)

    def __iter__(self) -> Iterator[R]:
        rows = 0
        complete = False
        try:
            for row in self._result:
                yield self._convert(row)
                rows += 1
            complete = True
        finally:
            self.close()
            logger.info(
                "export of %s: %d rows%s",
                self._name,
                rows,
                "" if complete else ", then stopped before the end",
                extra={"export": self._name, "rows": rows, "complete": complete},
            )

    def close(self) -> None:
        self._result.close()
        self._close()


@dataclass(frozen=True, slots=True)
class Table(Generic[R]):
    """What an export holds: a name (for the file, the sheet and the JSON member), column
    names and their HXL hashtags, and records, each as JSON text or as a row of values."""

    name: str
    json_member: str
    columns: list[str]
    tags: list[str]
    records: Streamed[R]
    as_json: Callable[[R], str]
    as_row: Callable[[R], list[Any]]


def totals_table(*, query: totals.TotalsQuery, user: User) -> Table[dict[str, Any]]:
    """The rows of GET /totals for the same query and user, as an export."""
    statement = totals.scoped_select(query, user=user)
    columns = [
        "country",
        "year",
        *totals.group_fields(query),
        *totals.FIGURES,
        "people_in_need",
        "coverage",
    ]
    with new_session() as session:
        make = totals.row_maker(
            query,
            needs.needs_for(
                session,
                countries=permissions.narrow_countries(user, query.countries),
                years=query.years,
            ),
        )
    return Table(
        name="totals",
        json_member="rows",
        columns=columns,
        tags=[TOTALS_TAGS[c] for c in columns],
        records=Streamed("totals", statement, lambda row: make(row._mapping)),
        as_json=lambda row: orjson.dumps(row).decode(),
        as_row=lambda row: [row[c] for c in columns],
    )


@dataclass(frozen=True, slots=True)
class LinesQuery:
    countries: list[str] | None = None
    years: list[int] | None = None
    period_from: date | None = None
    period_to: date | None = None
    crisis_id: int | None = None
    sectors: list[str] | None = None
    divisions: list[str] | None = None
    phases: list[str] | None = None


def lines_table(*, query: LinesQuery, user: User) -> Table[dict[str, Any]]:
    """The live lines of the latest revision of every sitrep the query selects, in the
    order they were first reported, as the cluster feed's items. Field officers get their
    own countries; coordinators the sectors of their clusters (and their countries)."""
    permissions.require_role(user, Role.field, Role.hq, Role.admin, Role.coordinator)
    if query.period_from and query.period_to and query.period_from > query.period_to:
        raise ValidationFailed([(("query", "period_to"), "must not be before period_from")])
    countries = permissions.narrow_countries(user, query.countries)
    sectors = permissions.narrow_sectors(user, query.sectors)
    statement = lines_select(query, countries=countries, sectors=sectors)
    indicators = clusters.sector_indicators(s for s in SECTORS if not sectors or s in sectors)
    columns, tags = clusters.hxl_header(indicators)
    return Table(
        name="lines",
        json_member="items",
        columns=columns,
        tags=tags,
        records=Streamed("lines", statement, clusters.feed_item),
        as_json=lambda item: clusters.json_bytes(item).decode(),
        as_row=lambda item: clusters.hxl_values(item, indicators, typed=True),
    )


def lines_select(
    query: LinesQuery, *, countries: list[str] | None, sectors: list[str] | None
) -> Select[Any]:
    """The lines as one statement (``countries`` and ``sectors`` already narrowed to the
    user's scope)."""
    line = SitrepLine
    where = [LIVE_LINE]
    if countries is not None:
        where.append(line.country.in_(countries))
    if query.years is not None:
        where.append(line.year.in_(query.years))
    if query.period_from is not None:
        where.append(line.period_end >= query.period_from)
    if query.period_to is not None:
        where.append(line.period_start <= query.period_to)
    if query.crisis_id is not None:
        where.append(line.crisis_id == query.crisis_id)
    if sectors is not None:
        where.append(line.sector.in_(sectors))
    if query.divisions is not None:
        where.append(line.division.in_(query.divisions))
    if query.phases is not None:
        where.append(line.phase.in_(query.phases))
    return select(*clusters.FEED_COLUMNS).where(*where).order_by(line.id)
