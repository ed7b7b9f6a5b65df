from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictInt

from app.sitreps.models import SitrepStatus
from app.sitreps.schemas import SITREP_READ_EXAMPLE, Disaggregation

# The first line of the sitrep example, as the Shelter cluster's feed gives it.
_LINE = SITREP_READ_EXAMPLE["lines"][0]
FEED_ITEM_EXAMPLE: dict[str, Any] = {
    "line_id": _LINE["id"],
    **{k: SITREP_READ_EXAMPLE[k] for k in ("revision", "status", "country")},
    "sitrep_id": SITREP_READ_EXAMPLE["id"],
    **{k: _LINE[k] for k in ("admin1", "admin2", "sector", "division", "phase")},
    **{k: SITREP_READ_EXAMPLE[k] for k in ("crisis_id", "period_start", "period_end")},
    **{
        k: _LINE[k]
        for k in (
            "people_reached",
            "people_reached_new",
            "people_reached_cumulative",
            "people_targeted",
            "disaggregation",
            "persons_with_disabilities",
            "indicators",
        )
    },
    "updated_at": SITREP_READ_EXAMPLE["submitted_at"],
}
# An opaque cursor, as the feed hands them out.
FEED_CURSOR_EXAMPLE = "eyJrIjoiZmVlZCIsInYiOlsxMDFdfQ"


class ClusterRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "shelter",
                    "name": "Shelter Cluster",
                    "sectors": ["shelter"],
                    "lead_agencies": ["IFRC", "UNHCR"],
                    "note": "IFRC convenes in natural disasters, UNHCR leads in conflict.",
                }
            ]
        }
    )

    code: str
    name: str
    sectors: list[str]
    lead_agencies: list[str]
    note: str


class FeedItem(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [FEED_ITEM_EXAMPLE]})

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
    people_reached_cumulative: int | None
    people_targeted: int | None
    disaggregation: Disaggregation | None
    persons_with_disabilities: int | None
    indicators: dict[str, StrictInt | Decimal]
    updated_at: datetime


class FeedPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"items": [FEED_ITEM_EXAMPLE], "next_cursor": FEED_CURSOR_EXAMPLE}]
        }
    )

    items: list[FeedItem]
    next_cursor: str
