from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    literal_column,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONDocument, UTCDateTime

LIVE = text("status = 'submitted'")


class SitrepStatus(StrEnum):
    submitted = "submitted"
    withdrawn = "withdrawn"


class Sitrep(Base):
    """A sitrep's identity and the header of its latest revision, for lists and filters."""

    __tablename__ = "sitreps"
    __table_args__ = (
        # Lists are keyset-paginated by id, newest first, within a country or a crisis.
        Index("ix_sitreps_country_id", "country", "id"),
        Index("ix_sitreps_crisis_id_id", "crisis_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    country: Mapped[str] = mapped_column(String(3))
    crisis_id: Mapped[int | None] = mapped_column(ForeignKey("crises.id"))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    revision: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdrawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    withdrawal_reason: Mapped[str | None] = mapped_column(Text)


class SitrepRevision(Base):
    """One revision of a sitrep, exactly as it was accepted; never changed afterwards."""

    __tablename__ = "sitrep_revisions"
    __table_args__ = (UniqueConstraint("sitrep_id", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sitrep_id: Mapped[int] = mapped_column(ForeignKey("sitreps.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(Integer)
    country: Mapped[str] = mapped_column(String(3))
    crisis_id: Mapped[int | None] = mapped_column(ForeignKey("crises.id"))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    narrative: Mapped[str | None] = mapped_column(Text)
    # The revision's lines as the API shows them (with their ids).
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    submitted_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class SitrepLine(Base):
    """The current state of one line of a sitrep: what totals count and feeds publish.

    A line keeps its id across amendments for as long as its sitrep reports its
    (sector, division, phase, admin1, admin2); a line an amendment drops, and every line of a
    withdrawn sitrep, stays as a ``withdrawn`` row so that feeds can tell consumers it is gone.
    Header fields (country, crisis, period, year) are copied from the sitrep so that totals
    and feeds read this one table.
    """

    __tablename__ = "sitrep_lines"
    __table_args__ = (
        UniqueConstraint("sitrep_id", "line_key"),
        # A year's live lines, within a country: the double-counting report, line exports
        # by year, and the recount and rebuild of the totals summaries (which totals read
        # instead of the lines).
        Index(
            "ix_sitrep_lines_year",
            "year",
            "country",
            postgresql_where=LIVE,
            sqlite_where=LIVE,
        ),
        # Feeds: one cluster's sector in change order, optionally within a country.
        Index("ix_sitrep_lines_feed", "sector", "feed_xid", "feed_seq"),
        Index("ix_sitrep_lines_feed_country", "country", "sector", "feed_xid", "feed_seq"),
        # A slot's live lines ending after a date: the one-sitrep-per-slot rule, and the
        # chains (a slot's year) that writes settle.
        Index(
            "ix_sitrep_lines_slot",
            "country",
            "crisis_id",
            "line_key",
            "period_end",
            postgresql_where=LIVE,
            sqlite_where=LIVE,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sitrep_id: Mapped[int] = mapped_column(ForeignKey("sitreps.id", ondelete="CASCADE"))
    # "sector|division|phase|admin1|admin2": what identifies a line within its sitrep.
    line_key: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(12))
    revision: Mapped[int] = mapped_column(Integer)
    country: Mapped[str] = mapped_column(String(3))
    crisis_id: Mapped[int | None] = mapped_column(ForeignKey("crises.id"))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    year: Mapped[int] = mapped_column(Integer)
    sector: Mapped[str] = mapped_column(String(10))
    division: Mapped[str] = mapped_column(String(10))
    phase: Mapped[str] = mapped_column(String(15))
    admin1: Mapped[str | None] = mapped_column(String(20))
    admin2: Mapped[str | None] = mapped_column(String(20))
    people_reached: Mapped[int] = mapped_column(Integer)
    # What the line counts for in totals: the figure given, or, for a line that gave
    # people_reached_cumulative instead, the increase it stands for over the slot's latest
    # earlier live period of the year (app.totals.chains keeps it up to date).
    people_reached_new: Mapped[int] = mapped_column(Integer)
    # Year-to-date reach as the office gave it; NULL when it gave people_reached_new.
    people_reached_cumulative: Mapped[int | None] = mapped_column(Integer)
    people_targeted: Mapped[int | None] = mapped_column(Integer)
    # The yearly target the line carries in totals: its people_targeted when it is the
    # latest live line of its slot's year that states one, otherwise 0 (and 0 once it is
    # withdrawn). A restatement replaces, never adds (app.totals.chains).
    year_target: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    women: Mapped[int | None] = mapped_column(Integer)
    men: Mapped[int | None] = mapped_column(Integer)
    girls: Mapped[int | None] = mapped_column(Integer)
    boys: Mapped[int | None] = mapped_column(Integer)
    persons_with_disabilities: Mapped[int | None] = mapped_column(Integer)
    indicators: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    # Position in the change log that feeds page through, (feed_xid, feed_seq): every write
    # gives the lines it touches its transaction's id and fresh numbers (app.sitreps.order).
    feed_xid: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    feed_seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


# The condition the partial indexes are defined with, written as SQL text so that queries
# repeat it literally: neither SQLite nor a generic PostgreSQL plan can match a partial
# index's predicate against a bound parameter ("status = ?").
LIVE_LINE = and_(SitrepLine.status == literal_column("'submitted'"))


class Counter(Base):
    """Named counters. On SQLite the "feed" row hands out feed_seq numbers (PostgreSQL
    has the ``feed_seq`` sequence instead; app.sitreps.order)."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(30), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)
