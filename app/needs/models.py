from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class Need(Base):
    """People in need (population status ``INN`` of an HNO) of a country and year, for a
    sector or, with ``sector`` NULL, "Intersectoral" (in need of at least one sector), at an
    admin1 area or, with ``admin1`` NULL, the whole country.

    The key is (country, year, sector, admin1), one row each. Loading a file replaces every
    row of each (country, year) the file holds, in one transaction: loading it again
    replaces, never adds, and a country's figures always come from one file."""

    __tablename__ = "needs"
    __table_args__ = (Index("ix_needs_country_year", "country", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    country: Mapped[str] = mapped_column(String(3))
    year: Mapped[int]
    sector: Mapped[str | None] = mapped_column(String(20))
    admin1: Mapped[str | None] = mapped_column(String(20))
    people_in_need: Mapped[int] = mapped_column(BigInteger)
    # The file's name, or the format's name when the file came without one.
    source: Mapped[str] = mapped_column(String(200))
