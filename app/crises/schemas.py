import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from app.crises.models import CrisisKind
from app.i18n import N_
from app.schemas import RequestModel

GLIDE = re.compile(r"^[A-Z]{2}-\d{4}-\d{6}-[A-Z]{3}$")

# The crisis the sitrep examples (app/sitreps/schemas.py) report under, and a natural
# disaster with its GLIDE number.
CRISIS_EXAMPLES: list[dict[str, Any]] = [
    {
        "name": "Sudan conflict",
        "kind": "conflict",
        "countries": ["SDN"],
        "started_on": "2023-04-15",
        "glide": None,
        "scale_up": True,
    },
    {
        "name": "Türkiye and Syria earthquakes",
        "kind": "natural-disaster",
        "countries": ["TUR", "SYR"],
        "started_on": "2023-02-06",
        "glide": "EQ-2023-000015-TUR",
        "scale_up": True,
    },
]

CountryCode = Annotated[str, StringConstraints(min_length=3, max_length=3, to_upper=True)]


class CrisisCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [*CRISIS_EXAMPLES]})

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    kind: CrisisKind
    countries: Annotated[list[CountryCode], Field(min_length=1, max_length=50)]
    started_on: date
    glide: str | None = Field(
        default=None,
        description="GLIDE number, e.g. EQ-2023-000015-TUR (hazard, year, serial, country).",
    )
    scale_up: bool = False

    @field_validator("glide")
    @classmethod
    def _glide(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().upper()
        if not GLIDE.match(value):
            raise ValueError(N_("a GLIDE number looks like EQ-2023-000015-TUR"))
        return value


class CrisisRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"id": 7, **CRISIS_EXAMPLES[0], "created_at": "2023-04-17T09:12:00Z"}]
        }
    )

    id: int
    name: str
    kind: CrisisKind
    countries: list[str]
    started_on: date
    glide: str | None
    scale_up: bool
    created_at: datetime
