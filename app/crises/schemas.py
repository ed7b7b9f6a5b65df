import re
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, field_validator

from app.crises.models import CrisisKind
from app.schemas import RequestModel

GLIDE = re.compile(r"^[A-Z]{2}-\d{4}-\d{6}-[A-Z]{3}$")

CountryCode = Annotated[str, StringConstraints(min_length=3, max_length=3, to_upper=True)]


class CrisisCreate(RequestModel):
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
            raise ValueError("a GLIDE number looks like EQ-2023-000015-TUR")
        return value


class CrisisRead(BaseModel):
    id: int
    name: str
    kind: CrisisKind
    countries: list[str]
    started_on: date
    glide: str | None
    scale_up: bool
    created_at: datetime
