from sqlalchemy import BigInteger, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

# A cell has no NULL in its key, so that one ON CONFLICT upsert finds it on every database
# (a NULL never equals another in a unique index): no crisis is 0, no admin area is ''.
NO_CRISIS = 0
NO_AREA = ""


class TotalsCell(Base):
    """The live lines of one slot and year, summed: what totals read instead of the lines.

    One row per (year, country, sector, division, phase, crisis, admin1, admin2), the finest
    grain any totals query groups or filters by, kept exact by every submission, amendment
    and withdrawal in the same transaction (``app.totals.summaries``, which defines what a
    line adds to each summary). Each slot
    reports about one line a week or a month, so there are 10 to 50 times fewer cells than
    lines, and a year's cells are one range of the primary key.
    """

    __tablename__ = "totals_cells"
    __table_args__ = ({"sqlite_with_rowid": False},)

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    country: Mapped[str] = mapped_column(String(3), primary_key=True)
    sector: Mapped[str] = mapped_column(String(10), primary_key=True)
    division: Mapped[str] = mapped_column(String(10), primary_key=True)
    phase: Mapped[str] = mapped_column(String(15), primary_key=True)
    crisis_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    admin1: Mapped[str] = mapped_column(String(20), primary_key=True)
    admin2: Mapped[str] = mapped_column(String(20), primary_key=True)
    # sum(people_reached_new), sum(people_reached), sum(year_target), count
    reached: Mapped[int] = mapped_column(BigInteger)
    in_periods: Mapped[int] = mapped_column(BigInteger)
    targeted: Mapped[int] = mapped_column(BigInteger)
    lines: Mapped[int] = mapped_column(Integer)
    # The reach split by sex and age (app.totals.summaries): sums of each line's parts.
    women: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    men: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    girls: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    boys: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    not_disaggregated: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))


class TotalsPlace(Base):
    """The live lines of one location and year, summed, with each sector's reach apart.

    One row per (year, country, admin1, admin2): what totals with no filter but country and
    year, grouped by nothing or by admin1, read in one pass, the unique estimate being the
    sum of each place's largest sector. Kept exact with the cells, by the same writes.
    """

    __tablename__ = "totals_places"
    __table_args__ = ({"sqlite_with_rowid": False},)

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    country: Mapped[str] = mapped_column(String(3), primary_key=True)
    admin1: Mapped[str] = mapped_column(String(20), primary_key=True)
    admin2: Mapped[str] = mapped_column(String(20), primary_key=True)
    # sum(people_reached_new) of each sector's lines
    shelter: Mapped[int] = mapped_column(BigInteger)
    wash: Mapped[int] = mapped_column(BigInteger)
    cccm: Mapped[int] = mapped_column(BigInteger)
    cash: Mapped[int] = mapped_column(BigInteger)
    health: Mapped[int] = mapped_column(BigInteger)
    # sum(year_target) of each sector's lines
    shelter_targeted: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    wash_targeted: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    cccm_targeted: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    cash_targeted: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    health_targeted: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    in_periods: Mapped[int] = mapped_column(BigInteger)
    targeted: Mapped[int] = mapped_column(BigInteger)
    lines: Mapped[int] = mapped_column(Integer)
    # The reach split by sex and age (app.totals.summaries): sums of each line's parts.
    women: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    men: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    girls: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    boys: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    not_disaggregated: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))


class TotalsSlot(Base):
    """The live lines of one (year, country, sector, division, phase, crisis), summed over
    their locations: what totals grouped by sector (and not by admin1) read, since a
    sector's reach at every location adds up to its reach, whatever the locations."""

    __tablename__ = "totals_slots"
    __table_args__ = ({"sqlite_with_rowid": False},)

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    country: Mapped[str] = mapped_column(String(3), primary_key=True)
    sector: Mapped[str] = mapped_column(String(10), primary_key=True)
    division: Mapped[str] = mapped_column(String(10), primary_key=True)
    phase: Mapped[str] = mapped_column(String(15), primary_key=True)
    crisis_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    reached: Mapped[int] = mapped_column(BigInteger)
    in_periods: Mapped[int] = mapped_column(BigInteger)
    targeted: Mapped[int] = mapped_column(BigInteger)
    lines: Mapped[int] = mapped_column(Integer)
    # The reach split by sex and age (app.totals.summaries): sums of each line's parts.
    women: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    men: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    girls: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    boys: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    not_disaggregated: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
