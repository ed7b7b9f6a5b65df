from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from app.auth.dependencies import CurrentUser
from app.db import utcnow
from app.errors import problem_responses
from app.exports import service as exports
from app.exports.dependencies import LinesQueryDep
from app.exports.formats import MEDIA_TYPES, Format, render
from app.exports.schemas import LinesExport
from app.totals.dependencies import TotalsQueryDep
from app.totals.schemas import Totals

# 404: a format with a slash in it is another URL, which no endpoint serves.
router = APIRouter(prefix="/exports", tags=["exports"], responses=problem_responses(403, 404))


def _file(json_model: type[Any]) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": "The file, streamed as an attachment.",
            "model": json_model,
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                MEDIA_TYPES[Format.xlsx]: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }


def _attachment(table: exports.Table[Any], format: Format) -> StreamingResponse:
    filename = f"crisis-tracker-{table.name}-{utcnow():%Y%m%dT%H%M%SZ}.{format}"
    return StreamingResponse(
        render(format, table),
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/totals.{format}", response_class=StreamingResponse, responses=_file(Totals))
def export_totals(format: Format, user: CurrentUser, query: TotalsQueryDep) -> StreamingResponse:
    """The totals of `GET /api/v1/totals`, same filters, `group_by` and permissions, as a
    file: `csv` (a header row, then a row of HXL hashtags: `#country+code`, `#date+year`,
    `#sector+code`, `#reached`, `#reached+unique`, `#reached+in_periods`, `#targeted`, ...),
    `xlsx` (the same two rows, then the figures) or `json` (`{"rows": [...]}` as the API
    returns it)."""
    return _attachment(exports.totals_table(query=query, user=user), format)


@router.get("/lines.{format}", response_class=StreamingResponse, responses=_file(LinesExport))
def export_lines(format: Format, user: CurrentUser, query: LinesQueryDep) -> StreamingResponse:
    """Every live line of the latest revision of each sitrep the filters select, in the
    order the lines were first reported, as a file: `csv` with a row of HXL hashtags under
    the header (the cluster feed's: `#country+code`, `#adm1+code`, `#sector+code`,
    `#date+start`, `#reached`, `#reached+f+adults`, ..., `#indicator+<name>`), `xlsx` with
    the same two rows, or `json` (`{"items": [...]}`, items as in the cluster feed).

    Filters combine: `country`, `year` (of the period's end), `period_from` (periods ending
    on or after it), `period_to` (starting on or before it), `crisis_id`, `sector`,
    `division`, `phase`. Field officers export their own countries; coordinators the sectors
    of their clusters (and only their countries, when they have some). The file streams
    however many lines it holds; an XLSX starts once the workbook is complete."""
    return _attachment(exports.lines_table(query=query, user=user), format)
