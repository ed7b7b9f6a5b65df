"""Clusters, the sectors they coordinate, and their feeds of sitrep lines."""

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Row, select, tuple_
from sqlalchemy.orm import Session

from app.auth import permissions
from app.auth.models import Role, User
from app.clusters.catalog import Cluster
from app.pagination import decode_cursor, encode_cursor
from app.sectors import catalog as sectors
from app.sitreps import order
from app.sitreps.models import LIVE_LINE, SitrepLine

# --- feeds -------------------------------------------------------------------------------

# (field, HXL hashtag) of each feed column, in order. Tags of DOMAIN.md where it names one.
HXL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("line_id", "#meta+id"),
    ("sitrep_id", "#meta+sitrep"),
    ("revision", "#meta+revision"),
    ("status", "#status"),
    ("country", "#country+code"),
    ("admin1", "#adm1+code"),
    ("admin2", "#adm2+code"),
    ("sector", "#sector+code"),
    ("division", "#meta+division"),
    ("phase", "#meta+phase"),
    ("crisis_id", "#crisis+id"),
    ("period_start", "#date+start"),
    ("period_end", "#date+end"),
    ("people_reached", "#reached"),
    ("people_reached_new", "#reached+new"),
    ("people_reached_cumulative", "#reached+cumulative"),
    ("women", "#reached+f+adults"),
    ("men", "#reached+m+adults"),
    ("girls", "#reached+f+children"),
    ("boys", "#reached+m+children"),
    ("persons_with_disabilities", "#reached+disabled"),
    ("people_targeted", "#targeted"),
    ("updated_at", "#date+updated"),
)


# The feed's columns, read as plain rows: a page of 1,000 lines is built straight into the
# dicts it is serialised from, without ORM objects or models in between (the response's
# shape is FeedPage; tests hold the two together).
FEED_COLUMNS = (
    SitrepLine.id,
    SitrepLine.sitrep_id,
    SitrepLine.revision,
    SitrepLine.status,
    SitrepLine.country,
    SitrepLine.admin1,
    SitrepLine.admin2,
    SitrepLine.sector,
    SitrepLine.division,
    SitrepLine.phase,
    SitrepLine.crisis_id,
    SitrepLine.period_start,
    SitrepLine.period_end,
    SitrepLine.people_reached,
    SitrepLine.people_reached_new,
    SitrepLine.people_reached_cumulative,
    SitrepLine.people_targeted,
    SitrepLine.women,
    SitrepLine.men,
    SitrepLine.girls,
    SitrepLine.boys,
    SitrepLine.persons_with_disabilities,
    SitrepLine.indicators,
    SitrepLine.updated_at,
    SitrepLine.feed_xid,
    SitrepLine.feed_seq,
)


@dataclass(frozen=True, slots=True)
class Feed:
    """A feed page: ``items`` are FeedItem-shaped dicts."""

    items: list[dict[str, Any]]
    next_cursor: str


def feed(
    session: Session,
    *,
    cluster: Cluster,
    countries: list[str] | None,
    since: str | None,
    limit: int,
    user: User,
) -> Feed:
    """A page of the cluster's lines in change order.

    Without ``since``: the live lines (a consumer's first pull). With ``since``: every line
    that changed after that cursor, live or withdrawn, with its current figures, so that a
    consumer applying the pages in order holds exactly the live lines. A line changes, too,
    when a write to an earlier period of its slot changes the people_reached_new that its
    people_reached_cumulative stands for (``app.totals.chains``). ``next_cursor`` is
    never null: a short page means caught up, and its cursor is where to resume.
    """
    permissions.require_role(user, Role.coordinator, Role.hq, Role.admin)
    permissions.require_cluster(user, cluster.code)
    countries = permissions.narrow_countries(user, countries)
    line = SitrepLine
    in_scope: list[ColumnElement[bool]] = [line.sector.in_(cluster.sectors)]
    if countries is not None:
        in_scope.append(line.country.in_(countries))
    # Only what no running writer can still precede (the watermark, app.sitreps.order).
    in_scope.append(order.served(session))
    position = (line.feed_xid, line.feed_seq)
    query = select(*FEED_COLUMNS).where(*in_scope).order_by(*position)
    if since is None:
        # The newest change in scope. A first pull that gets this far has seen every live
        # line up to it, so its cursor can skip the withdrawn lines before it; capping the
        # query there keeps that true when writes land between the two statements.
        newest = session.execute(
            select(*position).where(*in_scope).order_by(*(c.desc() for c in position)).limit(1)
        ).first()
        caught_up = (0, 0) if newest is None else (newest[0], newest[1])
        query = query.where(LIVE_LINE, _at_or_before(caught_up))
    else:
        caught_up = _feed_position(since)
        query = query.where(tuple_(*position) > tuple_(*caught_up))
    rows = session.execute(query.limit(limit)).all()
    if len(rows) == limit or (rows and since is not None):
        caught_up = (rows[-1].feed_xid, rows[-1].feed_seq)
    return Feed(
        items=[feed_item(row) for row in rows],
        next_cursor=encode_cursor("feed", list(caught_up)),
    )


def _at_or_before(position: tuple[int, int]) -> ColumnElement[bool]:
    # A row comparison, which both databases read as one range of the feed's index.
    return tuple_(SitrepLine.feed_xid, SitrepLine.feed_seq) <= tuple_(*position)


def _feed_position(cursor: str) -> tuple[int, int]:
    """A feed cursor's position: (transaction id, sequence number); a cursor handed out
    before positions had a transaction id carries the number alone (its id is 0)."""
    key = decode_cursor("feed", cursor, types=((int, int), (int,)))
    if len(key) == 2:
        return key[0], key[1]
    return 0, key[0]


def feed_item(row: Row[Any]) -> dict[str, Any]:
    """A feed item (FeedItem's shape) from a row of FEED_COLUMNS."""
    (
        line_id, sitrep_id, revision, status, country, admin1, admin2, sector, division, phase,
        crisis_id, period_start, period_end, reached, reached_new, cumulative, targeted, women,
        men, girls, boys, disabled, indicators, updated_at, _xid, _seq,
    ) = tuple(row)  # fmt: skip
    return {
        "line_id": line_id,
        "sitrep_id": sitrep_id,
        "revision": revision,
        "status": status,
        "country": country,
        "admin1": admin1,
        "admin2": admin2,
        "sector": sector,
        "division": division,
        "phase": phase,
        "crisis_id": crisis_id,
        "period_start": period_start,
        "period_end": period_end,
        "people_reached": reached,
        "people_reached_new": reached_new,
        "people_reached_cumulative": cumulative,
        "people_targeted": targeted,
        "disaggregation": None
        if women is None
        else {"women": women, "men": men or 0, "girls": girls or 0, "boys": boys or 0},
        "persons_with_disabilities": disabled,
        "indicators": indicators,
        "updated_at": updated_at,
    }


def json_bytes(value: Any) -> bytes:
    """JSON as the API writes it (dates ISO 8601, UTC times with Z), without a model pass."""
    return orjson.dumps(value, option=orjson.OPT_UTC_Z)


def sector_indicators(sector_codes: Iterable[str]) -> list[str]:
    """The indicator columns of these sectors, in sector order."""
    return [i.code for s in sector_codes for i in sectors.SECTORS[s].indicators]


def hxl_header(indicators: list[str]) -> tuple[list[str], list[str]]:
    """Column names and HXL hashtags of feed items with these indicator columns."""
    names = [field for field, _tag in HXL_COLUMNS] + indicators
    tags = [tag for _field, tag in HXL_COLUMNS] + [f"#indicator+{i}" for i in indicators]
    return names, tags


def hxl_values(item: dict[str, Any], indicators: list[str], *, typed: bool = False) -> list[Any]:
    """A feed item as one row under ``hxl_header``: disaggregation and indicators flattened.
    ``typed`` turns decimal indicators (strings in JSON, so that no cent is lost) into
    Decimal, for spreadsheets."""
    flat = dict(item)
    flat.update(flat.pop("disaggregation") or dict.fromkeys(("women", "men", "girls", "boys")))
    values = [flat[field] for field, _tag in HXL_COLUMNS]
    found = [flat["indicators"].get(i) for i in indicators]
    if typed:
        found = [Decimal(v) if isinstance(v, str) else v for v in found]
    return values + found


def hxl_rows(cluster: Cluster, page: Feed) -> list[list[object]]:
    """The page as HXL JSON: column names, then hashtags, then one row per item. Each
    indicator of the cluster's sectors is a column ``#indicator+<name>``."""
    indicators = sector_indicators(cluster.sectors)
    header, tags = hxl_header(indicators)
    rows: list[list[object]] = [list(header), list(tags)]
    rows.extend(hxl_values(item, indicators) for item in page.items)
    return rows
