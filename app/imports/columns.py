"""Which column of a sheet holds which field of a sitrep line.

A column is found, in this order: named by the ``column`` option (``FIELD=COLUMN``); by
its HXL hashtag (DOMAIN.md's, and the ones the cluster feed writes); by its header, as
API.md names the field (case, spaces and punctuation ignored: "People reached" is
people_reached), or a common variant of it.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import hxl.model
from unidecode import unidecode

from app.errors import ValidationFailed
from app.imports.schemas import COLUMN_MAPPING, ROW_FILTER, ImportOptions
from app.imports.sheets import Sheet, SheetColumn
from app.sectors import catalog as sectors

_PEOPLE_SPLIT = "-new-cumulative-f-m-adults-children-disabled"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    headers: tuple[str, ...]
    tags: tuple[str, ...]


FIELDS: dict[str, FieldSpec] = {
    "country": FieldSpec(
        ("country", "country_code", "iso3", "country_name", "pays"), ("#country+code", "#country")
    ),
    "crisis_id": FieldSpec(("crisis_id",), ("#crisis+id",)),
    "period_start": FieldSpec(("period_start", "start_date"), ("#date+start",)),
    "period_end": FieldSpec(("period_end", "end_date"), ("#date+end",)),
    "period": FieldSpec(
        ("period", "month", "reporting_month", "mois"),
        ("#period_date", "#date+month", "#date+period"),
    ),
    "sector": FieldSpec(
        ("sector", "sector_code", "sector_name", "cluster"), ("#sector+code", "#sector")
    ),
    "division": FieldSpec(("division",), ("#meta+division",)),
    "phase": FieldSpec(("phase",), ("#meta+phase",)),
    "admin1": FieldSpec(
        ("admin1", "adm1", "admin1_pcode", "adm1_pcode", "admin1_name", "adm1_name"),
        ("#adm1+code", "#adm1"),
    ),
    "admin2": FieldSpec(
        ("admin2", "adm2", "admin2_pcode", "adm2_pcode", "admin2_name", "adm2_name"),
        ("#adm2+code", "#adm2"),
    ),
    # The name beside a p-code column: what an unknown (earlier) p-code is taken by.
    "admin1_name": FieldSpec(("admin1_name", "adm1_name"), ("#adm1+name",)),
    "admin2_name": FieldSpec(("admin2_name", "adm2_name"), ("#adm2+name",)),
    "people_reached": FieldSpec(("people_reached", "reached"), ("#reached" + _PEOPLE_SPLIT,)),
    "people_reached_new": FieldSpec(("people_reached_new",), ("#reached+new",)),
    "people_reached_cumulative": FieldSpec(
        ("people_reached_cumulative", "reached_cumulative"), ("#reached+cumulative",)
    ),
    "people_targeted": FieldSpec(("people_targeted", "targeted"), ("#targeted" + _PEOPLE_SPLIT,)),
    "women": FieldSpec(("women",), ("#reached+f+adults-new",)),
    "men": FieldSpec(("men",), ("#reached+m+adults-new",)),
    "girls": FieldSpec(("girls",), ("#reached+f+children-new",)),
    "boys": FieldSpec(("boys",), ("#reached+m+children-new",)),
    "persons_with_disabilities": FieldSpec(
        ("persons_with_disabilities",), ("#reached+disabled-new",)
    ),
    **{
        indicator.code: FieldSpec((indicator.code,), (f"#indicator+{indicator.code}",))
        for sector in sectors.SECTORS.values()
        for indicator in sector.indicators
    },
}
INDICATORS = tuple(
    indicator.code for sector in sectors.SECTORS.values() for indicator in sector.indicators
)
DISAGGREGATION = ("women", "men", "girls", "boys")


@dataclass(frozen=True, slots=True)
class RowFilter:
    column: SheetColumn
    contains: bool  # "~": the cell contains the text; "=": the cell is the text
    text: str


@dataclass(frozen=True, slots=True)
class Layout:
    columns: dict[str, SheetColumn]
    filters: list[RowFilter] = field(default_factory=list)

    def label(self, name: str) -> str | None:
        column = self.columns.get(name)
        return column.label if column is not None else None


def _header_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", unidecode(text).lower())


def _find(sheet: Sheet, wanted: str) -> SheetColumn | None:
    """A column by header, or by HXL tag pattern when ``wanted`` starts with '#'."""
    if wanted.startswith("#"):
        try:
            pattern = hxl.model.TagPattern.parse(wanted)
        except hxl.HXLException:
            return None
        return next(
            (
                c
                for c in sheet.columns
                if c.tag and pattern.match(hxl.model.Column.parse(c.tag, use_exception=False))
            ),
            None,
        )
    key = _header_key(wanted)
    return next((c for c in sheet.columns if key and _header_key(c.header) == key), None)


def locate(sheet: Sheet, options: ImportOptions) -> Layout:
    """Every field's column; a ValidationFailed naming every column that is missing or
    that the options name wrongly."""
    problems: list[tuple[tuple[str, ...], str]] = []
    found: dict[str, SheetColumn] = {}
    for mapping in options.column:
        match = COLUMN_MAPPING.match(mapping)
        assert match is not None  # ImportOptions checked the syntax
        name, wanted = match["field"], match["column"]
        column = _find(sheet, wanted)
        if name not in FIELDS:
            problems.append((("query", "column"), f"{mapping}: {name} is not a field of a line"))
        elif column is None:
            problems.append((("query", "column"), f"{mapping}: the sheet has no column {wanted}"))
        else:
            found[name] = column
    used = {c.index for c in found.values()}
    if sheet.hxl:
        _claim(found, used, lambda spec: [_find(sheet, tag) for tag in spec.tags])
    _claim(found, used, lambda spec: [_find(sheet, header) for header in spec.headers])

    filters: list[RowFilter] = []
    for only in options.only:
        match = ROW_FILTER.match(only)
        assert match is not None
        column = _find(sheet, match["column"])
        if column is None:
            problems.append(
                (("query", "only"), f"{only}: the sheet has no column {match['column']}")
            )
        else:
            filters.append(RowFilter(column, match["op"] == "~", match["text"]))

    for name in ("country", "sector", "people_reached"):
        if name not in found:
            problems.append((("body",), _missing(name)))
    for name, default in (("division", options.division), ("phase", options.phase)):
        if name not in found and default is None:
            problems.append((("body",), f"{_missing(name)}; or give a default {name}"))
    has_range = "period_start" in found and "period_end" in found
    if not has_range and "period" not in found:
        problems.append(
            (
                ("body",),
                "no column for the period: give period_start and period_end (#date+start, "
                "#date+end), or a month column named period (#period_date)",
            )
        )
    if problems:
        raise ValidationFailed(problems)
    if has_range:
        found.pop("period", None)
    return Layout(columns=found, filters=filters)


def _missing(name: str) -> str:
    tag = FIELDS[name].tags[0].split("-")[0]
    return (
        f"no column for {name}: call one {name!r}, tag it {tag}, "
        f"or name it with the column option ({name}=HEADER)"
    )


def _claim(
    found: dict[str, SheetColumn],
    used: set[int],
    candidates: Callable[[FieldSpec], list[SheetColumn | None]],
) -> None:
    for name, spec in FIELDS.items():
        if name in found:
            continue
        for column in candidates(spec):
            if column is not None and column.index not in used:
                found[name] = column
                used.add(column.index)
                break
