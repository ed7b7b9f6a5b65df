from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, StrictInt

from app.sitreps.models import SitrepStatus
from app.sitreps.schemas import Disaggregation


class ClusterRead(BaseModel):
    code: str
    name: str
    sectors: list[str]
    lead_agencies: list[str]
    note: str


class FeedItem(BaseModel):
    line_id: int
    sitrep_id: int
    revision: int
    status: SitrepStatus
    country: str
    admin1: str | None
    admin2: str | None
    sector: str
    division: str
    phase: str
    crisis_id: int | None
    period_start: date
    period_end: date
    people_reached: int
    people_reached_new: int
    people_targeted: int | None
    disaggregation: Disaggregation | None
    persons_with_disabilities: int | None
    indicators: dict[str, StrictInt | Decimal]
    updated_at: datetime


class FeedPage(BaseModel):
    items: list[FeedItem]
    next_cursor: str
