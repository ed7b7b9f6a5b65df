from typing import Annotated

from fastapi import APIRouter, Query

from app.auth.dependencies import CurrentUser
from app.db import SessionDep
from app.imports.dependencies import UploadDep, upload_body
from app.imports.sheets import CSV_MEDIA_TYPE
from app.needs import service as needs
from app.needs.schemas import Needs, NeedsLoadRead, NeedsOptions
from app.openapi import problem_responses
from app.reference.dependencies import CountryList
from app.totals.dependencies import SectorList, YearList

router = APIRouter(prefix="/needs", tags=["needs"], responses=problem_responses(403))

NEEDS_CSV_EXAMPLE = (
    "location_code,admin_level,admin1_code,sector_code,category,population_status,"
    "population,reference_period_end\n"
    "SDN,0,,Intersectoral,,INN,24786370,2024-12-24\n"
    "SDN,0,,WSH,,INN,18982714,2024-12-24\n"
)
_NEEDS_BODY = upload_body(
    "The file itself, as the whole body, or as the file field `file` of a multipart form.",
    {CSV_MEDIA_TYPE: {"schema": {"type": "string"}, "example": NEEDS_CSV_EXAMPLE}},
)


@router.post(
    "", response_model=NeedsLoadRead, responses=problem_responses(415), openapi_extra=_NEEDS_BODY
)
def load_needs(
    session: SessionDep,
    user: CurrentUser,
    upload: UploadDep,
    options: Annotated[NeedsOptions, Query()],
) -> NeedsLoadRead:
    """Load people in need from a Humanitarian Needs Overview. Headquarters and
    administrators only.

    **The body is the file**, `Content-Type: text/csv` (or the field `file` of a
    `multipart/form-data` form): HDX HAPI's humanitarian-needs CSV (long format, columns
    `location_code`, `admin_level`, `admin1_code`, `sector_code`, `category`,
    `population_status`, `population`, `reference_period_end`), or an HNO sheet with HXL
    hashtags (`#adm1+code`, `#adm2+code`, `#sector+code`, `#inneed`, ...). An HNO sheet
    has no country or year column: give `country` and `year`, or a file name such as
    `hno_2024_sdn_hxl_sex_age.csv` says them.

    Kept: people in need (`INN`, `#inneed`), national and admin1 rows (admin2 skipped),
    the row of everyone (rows per sex, age, disability or population group skipped), the
    sectors SHL (shelter), WSH (wash), CCM (cccm), HEA (health) and "Intersectoral" (the
    people in need of at least one sector, `sector` null); other sectors are skipped.

    **Loading replaces**: every figure of each country and year of the file replaces
    those loaded before, so loading a file again changes nothing. All or nothing: a file
    with any bad row is a 422 listing each problem with its row; another content type a
    415. The answer counts the rows loaded and replaced per country and year."""
    return needs.load(session, upload=upload, options=options, user=user)


@router.get("", response_model=Needs, responses=problem_responses(400))
def list_needs(
    session: SessionDep,
    user: CurrentUser,
    country: CountryList = None,
    year: YearList = None,
    sector: SectorList = None,
) -> Needs:
    """People in need as loaded, by country, year, sector (`null`: Intersectoral) and
    admin1 (`null`: the whole country). Field officers get their own countries only."""
    return needs.list_needs(
        session,
        countries=country,
        years=year,
        sectors=sector,
        user=user,
    )
