from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, UTCDateTime


class Role(StrEnum):
    admin = "admin"
    hq = "hq"
    field = "field"
    coordinator = "coordinator"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    countries: Mapped[list["UserCountry"]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="UserCountry.country"
    )
    clusters: Mapped[list["UserCluster"]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="UserCluster.cluster"
    )

    @property
    def country_codes(self) -> frozenset[str]:
        return frozenset(c.country for c in self.countries)

    @property
    def cluster_codes(self) -> frozenset[str]:
        return frozenset(c.cluster for c in self.clusters)


class UserCountry(Base):
    __tablename__ = "user_countries"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    country: Mapped[str] = mapped_column(String(3), primary_key=True)


class UserCluster(Base):
    __tablename__ = "user_clusters"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    cluster: Mapped[str] = mapped_column(String(10), primary_key=True)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # SHA-256 of the token: tokens are 256-bit random, so a fast hash is enough and lets a
    # request find its token by an indexed equality lookup.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(lazy="raise")
