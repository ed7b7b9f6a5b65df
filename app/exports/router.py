from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from app.auth.dependencies import CurrentUser
from app.db import utcnow
from app.exports import service as exports
from app.exports.dependencies import LinesQueryDep
from app.exports.formats import MEDIA_TYPES, Format, render
from app.exports.schemas import LinesExport
from app.openapi import problem_responses
from app.totals.dependencies import TotalsQueryDep
from app.totals.schemas import Totals

# 404: a format with a slash in it is another URL, which no endpoint serves.
router = APIRouter(prefix="/exports", tags=["exports"], responses=problem_responses(403, 404))


# The CSV files of the totals and lines examples (app/totals/schemas.py and
# app/clusters/schemas.py): a header row, a row of HXL hashtags, then the records.
TOTALS_CSV_EXAMPLE = """\
country,year,sector,people_reached,people_reached_unique,people_reached_in_periods,people_targeted,people_targeted_unique,women,men,girls,boys,people_reached_not_disaggregated,lines,people_in_need,coverage
#country+code,#date+year,#sector+code,#reached,#reached+unique,#reached+in_periods,#targeted,#targeted+unique,#reached+f+adults,#reached+m+adults,#reached+f+children,#reached+m+children,#reached+unknown,#meta+lines,#inneed,#indicator+coverage
SDN,2024,cash,500,500,500,0,0,0,0,0,0,500,1,,
SDN,2024,shelter,300,300,1200,1500,1500,100,75,65,60,0,1,,
SDN,2024,wash,2500,2500,2500,3000,3000,800,700,520,480,0,1,18982714,0.0001
"""
LINES_CSV_EXAMPLE = """\
line_id,sitrep_id,revision,status,country,admin1,admin2,sector,division,phase,crisis_id,period_start,period_end,people_reached,people_reached_new,people_reached_cumulative,women,men,girls,boys,persons_with_disabilities,people_targeted,updated_at,households_assisted,shelter_kits,water_points,latrines,sites_managed,idps_in_sites,cash_usd,transfers,consultations,referrals
#meta+id,#meta+sitrep,#meta+revision,#status,#country+code,#adm1+code,#adm2+code,#sector+code,#meta+division,#meta+phase,#crisis+id,#date+start,#date+end,#reached,#reached+new,#reached+cumulative,#reached+f+adults,#reached+m+adults,#reached+f+children,#reached+m+children,#reached+disabled,#targeted,#date+updated,#indicator+households_assisted,#indicator+shelter_kits,#indicator+water_points,#indicator+latrines,#indicator+sites_managed,#indicator+idps_in_sites,#indicator+cash_usd,#indicator+transfers,#indicator+consultations,#indicator+referrals
101,42,1,submitted,SDN,SD01,,shelter,hod,response,7,2024-03-01,2024-03-31,1200,300,,400,300,260,240,30,1500,2024-04-03T08:15:22+00:00,240,180,,,,,,,,
102,42,1,submitted,SDN,SD02,SD02114,wash,hod,response,7,2024-03-01,2024-03-31,2500,2500,,800,700,520,480,75,3000,2024-04-03T08:15:22+00:00,,,6,40,,,,,,
103,42,1,submitted,SDN,SD01,,cash,hod,response,7,2024-03-01,2024-03-31,500,500,,,,,,,,2024-04-03T08:15:22+00:00,,,,,,,37500.50,100,,
"""


def _file(json_model: type[Any], csv_example: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": "The file, streamed as an attachment.",
            "model": json_model,
            "content": {
                "text/csv": {"schema": {"type": "string"}, "example": csv_example},
                MEDIA_TYPES[Format.xlsx]: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }


HxlParam = Annotated[
    bool,
    Query(
        description="CSV and XLSX: a row of HXL hashtags under the header row (default), for "
        "HXL tools; `false` leaves it out, so that pandas, R or a spreadsheet's import read "
        "numbers as numbers: `pandas.read_csv(url)`. JSON has no such row."
    ),
]


def _attachment(table: exports.Table[Any], format: Format, *, hxl: bool) -> StreamingResponse:
    filename = f"crisis-tracker-{table.name}-{utcnow():%Y%m%dT%H%M%SZ}.{format}"
    return StreamingResponse(
        render(format, table, hxl=hxl),
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/totals.{format}",
    response_class=StreamingResponse,
    responses=_file(Totals, TOTALS_CSV_EXAMPLE),
)
def export_totals(
    format: Format, user: CurrentUser, query: TotalsQueryDep, hxl: HxlParam = True
) -> StreamingResponse:
    """The totals of `GET /api/v1/totals`, same filters, `group_by` and permissions, as a
    file: `csv` (a header row, then a row of HXL hashtags: `#country+code`, `#date+year`,
    `#sector+code`, `#reached`, `#reached+unique`, `#reached+in_periods`, `#targeted`,
    `#targeted+unique`, ...),
    `xlsx` (the same two rows, then the figures) or `json` (`{"rows": [...]}` as the API
    returns it). `hxl=false` leaves the hashtag row out of a CSV or XLSX."""
    return _attachment(exports.totals_table(query=query, user=user), format, hxl=hxl)


@router.get(
    "/lines.{format}",
    response_class=StreamingResponse,
    responses=_file(LinesExport, LINES_CSV_EXAMPLE),
)
def export_lines(
    format: Format, user: CurrentUser, query: LinesQueryDep, hxl: HxlParam = True
) -> StreamingResponse:
    """Every live line of the latest revision of each sitrep the filters select, in the
    order the lines were first reported, as a file: `csv` with a row of HXL hashtags under
    the header (the cluster feed's: `#country+code`, `#adm1+code`, `#sector+code`,
    `#date+start`, `#reached`, `#reached+f+adults`, ..., `#indicator+<name>`), `xlsx` with
    the same two rows, or `json` (`{"items": [...]}`, items as in the cluster feed).

    Filters combine: `country`, `year` (of the period's end), `period_from` (periods ending
    on or after it), `period_to` (starting on or before it), `crisis_id`, `sector`,
    `division`, `phase`. Field officers export their own countries; coordinators the sectors
    of their clusters (and only their countries, when they have some). The file streams
    however many lines it holds; an XLSX starts once the workbook is complete.
    `hxl=false` leaves the hashtag row out of a CSV or XLSX."""
    return _attachment(exports.lines_table(query=query, user=user), format, hxl=hxl)
