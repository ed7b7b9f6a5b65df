from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

NeedsFormat = Literal["hapi", "hno-hxl"]


class NeedRead(BaseModel):
    country: str
    year: int
    sector: str | None = Field(description='A sector code; null for "Intersectoral".')
    admin1: str | None = Field(description="An admin1 p-code; null for the whole country.")
    people_in_need: int
    source: str


NEEDS_EXAMPLE: dict[str, Any] = {
    "rows": [
        {
            "country": "SDN",
            "year": 2024,
            "sector": None,
            "admin1": None,
            "people_in_need": 24786370,
            "source": "hapi_humanitarian_needs_2024_afg_sdn_long.csv",
        },
        {
            "country": "SDN",
            "year": 2024,
            "sector": "wash",
            "admin1": None,
            "people_in_need": 18982714,
            "source": "hapi_humanitarian_needs_2024_afg_sdn_long.csv",
        },
    ]
}


class Needs(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [NEEDS_EXAMPLE]})

    rows: list[NeedRead]


class NeedsLoaded(BaseModel):
    """What one (country, year) of a file loaded."""

    country: str
    year: int
    rows: int
    replaced: int = Field(description="Rows of this country and year that were replaced.")


NEEDS_LOAD_EXAMPLE: dict[str, Any] = {
    "format": "hapi",
    "source": "hapi_humanitarian_needs_2024_afg_sdn_long.csv",
    "loaded": [
        {"country": "AFG", "year": 2024, "rows": 8, "replaced": 0},
        {"country": "SDN", "year": 2024, "rows": 5, "replaced": 5},
    ],
    "rows_loaded": 13,
    "replaced": 5,
    "rows_skipped": 1929,
}


class NeedsLoadRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [NEEDS_LOAD_EXAMPLE]})

    format: NeedsFormat
    source: str
    loaded: list[NeedsLoaded]
    rows_loaded: int
    replaced: int = Field(description="Rows of earlier loads replaced, all countries.")
    rows_skipped: int = Field(
        description="Rows not loaded: other population statuses, admin2, disaggregations, "
        "sectors without a tracker sector."
    )


class NeedsOptions(BaseModel):
    """For an HNO sheet without a #country+code column, the country and year it covers
    (taken from a file name like hno_2024_sdn_... otherwise)."""

    model_config = ConfigDict(extra="forbid")

    country: str | None = Field(None, min_length=3, max_length=3)
    year: int | None = Field(None, ge=1900, le=2200)
