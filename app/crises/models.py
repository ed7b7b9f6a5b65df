from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, UTCDateTime


class CrisisKind(StrEnum):
    conflict = "conflict"
    natural_disaster = "natural-disaster"
    epidemic = "epidemic"
    complex = "complex"
    other = "other"


class Crisis(Base):
    __tablename__ = "crises"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    started_on: Mapped[date] = mapped_column(Date)
    # A GLIDE number names one event worldwide, so two crises may not share it.
    glide: Mapped[str | None] = mapped_column(String(20), unique=True)
    scale_up: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    countries: Mapped[list["CrisisCountry"]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="CrisisCountry.country"
    )


class CrisisCountry(Base):
    __tablename__ = "crisis_countries"

    crisis_id: Mapped[int] = mapped_column(
        ForeignKey("crises.id", ondelete="CASCADE"), primary_key=True
    )
    # Serves "crises in country X" as well as the primary key's "countries of crisis Y".
    country: Mapped[str] = mapped_column(String(3), primary_key=True, index=True)
