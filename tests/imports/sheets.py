"""What the imports tests share: the sheets of tests/data, and posting one."""

from pathlib import Path
from typing import Any

from httpx import Response

from tests.factories import Api

DATA = Path(__file__).parents[1] / "data"
ROWCA = DATA / "hxlshowcase_rowca-3w-hxl.csv"
IMPORTS = "/api/v1/imports"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# ROWCA's 3W sheet, read as an office would: its "Achieved" column as people reached.
ROWCA_OPTIONS: list[tuple[str, str | int]] = [
    ("year", 2014),
    ("division", "hod"),
    ("phase", "response"),
    ("column", "people_reached=Achieved"),
    ("column", "people_targeted=AnnualTarget"),
    ("only", "Indicator~people"),
    ("combine", "max"),
]


def post_sheet(
    user: Api,
    body: str | bytes,
    *,
    content_type: str = "text/csv",
    params: list[tuple[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return user.post(
        IMPORTS,
        content=body.encode() if isinstance(body, str) else body,
        params=params or [],
        headers={"Content-Type": content_type, **(headers or {})},
    )


def imported(response: Response) -> dict[str, Any]:
    """The report of an import that must have been answered."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    report: dict[str, Any] = response.json()
    return report
