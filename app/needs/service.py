"""People in need, loaded from the inter-agency Humanitarian Needs Overview, and the
coverage of totals against them (DOMAIN.md, "Targets, needs and coverage").

Two formats are read; which one a file is, its columns say:

- **HDX HAPI's long CSV** (columns ``location_code``, ``admin_level``, ``admin1_code``,
  ``sector_code``, ``category``, ``population_status``, ``population``,
  ``reference_period_end``): one row per country, admin area, sector, category and
  population status. The year is that of ``reference_period_end``.
- **An HNO sheet with HXL hashtags** (``#adm1+code``, ``#adm2+code``, ``#sector+code``,
  ``#inneed``, and the disaggregations ``#gender+code``, ``#age+range``, ``#is_disabled``,
  ``#population_group+code``): one row per admin area, sector and disaggregation, without
  a country or a year; those come from ``#country+code`` / ``#date+year`` columns when
  present, else from the ``country`` and ``year`` options, else from a file name such as
  ``hno_2024_sdn_hxl_sex_age.csv``.

Rules, the same for both:

1. Only people **in need** are loaded: HAPI rows of ``population_status`` ``INN``, the
   HXL ``#inneed`` column. A row whose figure is blank is skipped (unknown, not zero).
2. **Admin levels**: the national row (HAPI ``admin_level`` 0; HXL blank ``#adm1+code``)
   and admin1 rows (HAPI level 1; HXL an ``#adm1+code`` and a blank ``#adm2+code``) are
   kept; admin2 rows are skipped (admin1 and national figures are given as such, and
   adding admin2 rows up would count people twice).
3. **Disaggregations**: only the row of everyone is kept: HAPI ``category`` blank or
   ``total``; HXL ``#gender+code`` ``a``, ``#age+range`` ``ALL``, ``#is_disabled`` ``a``
   and ``#population_group+code`` ``ALL`` (or blank). Rows per sex, age, disability or
   population group (IDP, refugees, host community...) are parts of that row.
4. **Sectors**: SHL→shelter, WSH→wash, CCM→cccm, HEA→health; "Intersectoral" (HAPI) or
   ``ALL`` (HXL) is the inter-sector figure, stored with a NULL sector. Every other sector
   (education, food security, protection, nutrition, multi-sector...) is skipped: the
   tracker has no such sector (and cash has no HNO sector).
5. A key (country, year, sector, admin1) given twice by the kept rows, a country that is
   not ISO3, a figure that is not a whole number: the file is refused whole (422, listing
   every problem with its row as a spreadsheet numbers it).

Loading replaces all rows of each (country, year) of the file, in the request's
transaction (``Need``).
"""

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.auth import permissions
from app.auth.models import Role, User
from app.errors import ValidationFailed
from app.i18n import _
from app.imports import sheets
from app.imports.sheets import Sheet, SheetColumn, SheetRow, Upload
from app.needs.models import Need
from app.needs.schemas import (
    NeedRead,
    Needs,
    NeedsFormat,
    NeedsLoaded,
    NeedsLoadRead,
    NeedsOptions,
)
from app.reference import catalog as reference

# HNO sector codes of the tracker's sectors; None is the inter-sector figure.
SECTOR_OF_HNO: dict[str, str | None] = {
    "SHL": "shelter",
    "WSH": "wash",
    "CCM": "cccm",
    "HEA": "health",
    "INTERSECTORAL": None,
    "ALL": None,
}
HAPI_COLUMNS = (
    "location_code",
    "admin_level",
    "admin1_code",
    "sector_code",
    "category",
    "population_status",
    "population",
    "reference_period_end",
)
# Disaggregation tags of an HNO sheet and the values of their "everyone" row.
HXL_TOTAL_VALUES = {
    "#gender+code": {"", "a", "all"},
    "#age+range": {"", "all"},
    "#is_disabled": {"", "a", "all"},
    "#population_group+code": {"", "all"},
}
_FILE_NAME = re.compile(r"(?<![0-9a-z])(\d{4})_([a-z]{3})(?![a-z])", re.IGNORECASE)
Problems = list[tuple[tuple[str | int, ...], str]]


@dataclass(frozen=True, slots=True)
class NeedRow:
    row: int
    country: str
    year: int
    sector: str | None
    admin1: str | None
    people_in_need: int


def load(session: Session, *, upload: Upload, options: NeedsOptions, user: User) -> NeedsLoadRead:
    """Load a needs file: all of it or, with any problem, nothing (a 422)."""
    permissions.require_role(user, Role.hq, Role.admin)
    sheet = sheets.read(upload, sheets.Limits.configured())
    file_format, kept, skipped = parse(sheet, options=options, name=upload.name)
    source = PurePath(upload.name).name if upload.name else file_format
    pairs = sorted({(r.country, r.year) for r in kept})
    _lock(session)
    replaced = {
        (country, year): _deleted(session, country=country, year=year) for country, year in pairs
    }
    session.add_all(
        Need(
            country=r.country,
            year=r.year,
            sector=r.sector,
            admin1=r.admin1,
            people_in_need=r.people_in_need,
            source=source[:200],
        )
        for r in kept
    )
    session.flush()
    counts: dict[tuple[str, int], int] = defaultdict(int)
    for r in kept:
        counts[(r.country, r.year)] += 1
    report = NeedsLoadRead(
        format=file_format,
        source=source,
        loaded=[
            NeedsLoaded(country=c, year=y, rows=counts[(c, y)], replaced=replaced[(c, y)])
            for c, y in pairs
        ],
        rows_loaded=len(kept),
        replaced=sum(replaced.values()),
        rows_skipped=skipped,
    )
    audit.record(
        session,
        action="needs.load",
        entity_type="needs",
        entity_id=None,
        user=user,
        after=report.model_dump(mode="json"),
    )
    return report


# One lock for all loads (they are rare): two loads of the same country and year at once
# would each delete what was there and both insert.
_NEEDS_LOCK = text("SELECT pg_advisory_xact_lock(:id)").bindparams(
    id=int.from_bytes(hashlib.blake2b(b"needs", digest_size=8).digest(), "big", signed=True)
)


def _lock(session: Session) -> None:
    """Loads one at a time, until the transaction ends. SQLite has one writer anyway."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_NEEDS_LOCK)


def _deleted(session: Session, *, country: str, year: int) -> int:
    result = session.execute(delete(Need).where(Need.country == country, Need.year == year))
    return int(getattr(result, "rowcount", 0))


def parse(
    sheet: Sheet, *, options: NeedsOptions, name: str | None
) -> tuple[NeedsFormat, list[NeedRow], int]:
    """The rows to load, and how many rows were skipped; a 422 listing every problem."""
    problems: Problems = []
    if sheet.hxl:
        file_format: NeedsFormat = "hno-hxl"
        kept = _hxl_rows(sheet, options=options, name=name, problems=problems)
    elif {c.header.lower() for c in sheet.columns} >= set(HAPI_COLUMNS):
        file_format = "hapi"
        kept = _hapi_rows(sheet, problems=problems)
    else:
        missing = ", ".join(
            c for c in HAPI_COLUMNS if c not in {c.header.lower() for c in sheet.columns}
        )
        raise sheets.unreadable(
            _(
                "This is neither an HDX HAPI humanitarian-needs CSV (it lacks the columns "
                "{missing}) nor an HNO sheet with HXL hashtags (#adm1+code, #sector+code, "
                "#inneed).",
                missing=missing,
            )
        )
    seen: dict[tuple[str, int, str | None, str | None], int] = {}
    for r in kept:
        key = (r.country, r.year, r.sector, r.admin1)
        if key in seen:
            problems.append(
                (
                    ("body", "row", r.row),
                    _(
                        "row {row} gives people in need of {country} {year}, {sector}, "
                        "{area} again (row {first} did)",
                        row=r.row,
                        country=r.country,
                        year=r.year,
                        sector=r.sector or "Intersectoral",
                        area=r.admin1 or _("national"),
                        first=seen[key],
                    ),
                )
            )
        else:
            seen[key] = r.row
    if problems:
        raise ValidationFailed(problems)
    if not kept:
        raise sheets.unreadable(_("the file holds no people in need of a tracked sector"))
    return file_format, kept, len(sheet.rows) - len(kept)


def _hapi_rows(sheet: Sheet, *, problems: Problems) -> list[NeedRow]:
    columns = {c.header.lower(): c for c in sheet.columns}

    def cell(row: SheetRow, name: str) -> str:
        return row.cell(columns[name])

    kept: list[NeedRow] = []
    for row in sheet.rows:
        if cell(row, "population_status").upper() != "INN":
            continue
        level = cell(row, "admin_level")
        if level not in ("0", "1"):
            continue
        if cell(row, "category").lower() not in ("", "total"):
            continue
        code = cell(row, "sector_code").upper()
        if code not in SECTOR_OF_HNO:
            continue
        country = _country(row, cell(row, "location_code"), problems)
        year = _year(row, cell(row, "reference_period_end")[:4], "reference_period_end", problems)
        admin1 = cell(row, "admin1_code") or None if level == "1" else None
        if level == "1" and admin1 is None:
            problems.append(
                (("body", "row", row.number), _("row {row}: admin1_code is blank", row=row.number))
            )
        figure = _figure(row, cell(row, "population"), "population", problems)
        if country and year and figure is not None and (level == "0" or admin1):
            kept.append(NeedRow(row.number, country, year, SECTOR_OF_HNO[code], admin1, figure))
    return kept


def _hxl_rows(
    sheet: Sheet, *, options: NeedsOptions, name: str | None, problems: Problems
) -> list[NeedRow]:
    tags = {_tag_key(c.tag): c for c in reversed(sheet.columns) if c.tag}
    missing = [t for t in ("#adm1+code", "#sector+code", "#inneed") if _tag_key(t) not in tags]
    if missing:
        raise sheets.unreadable(
            _("the HNO sheet lacks the hashtags {tags}", tags=", ".join(missing))
        )

    def cell(row: SheetRow, tag: str) -> str:
        column: SheetColumn | None = tags.get(_tag_key(tag))
        return "" if column is None else row.cell(column)

    from_name = _FILE_NAME.search(PurePath(name).name if name else "")
    default_country = options.country or (from_name.group(2) if from_name else None)
    default_year = options.year or (int(from_name.group(1)) if from_name else None)
    if (_tag_key("#country+code") not in tags and default_country is None) or (
        _tag_key("#date+year") not in tags and default_year is None
    ):
        raise ValidationFailed(
            [
                (
                    ("query", "country"),
                    _(
                        "the HNO sheet names no country or year: give country= and year= "
                        "(or a file name like hno_2024_sdn.csv)"
                    ),
                )
            ]
        )
    kept: list[NeedRow] = []
    for row in sheet.rows:
        if cell(row, "#adm2+code"):
            continue
        if any(cell(row, tag).lower() not in values for tag, values in HXL_TOTAL_VALUES.items()):
            continue
        code = cell(row, "#sector+code").upper()
        if code not in SECTOR_OF_HNO:
            continue
        raw = cell(row, "#inneed")
        if not raw:
            continue
        country = _country(row, cell(row, "#country+code") or default_country or "", problems)
        year = _year(row, cell(row, "#date+year") or str(default_year), "#date+year", problems)
        figure = _figure(row, raw, "#inneed", problems)
        if country and year and figure is not None:
            kept.append(
                NeedRow(
                    row.number,
                    country,
                    year,
                    SECTOR_OF_HNO[code],
                    cell(row, "#adm1+code") or None,
                    figure,
                )
            )
    return kept


def _tag_key(tag: str | None) -> tuple[str, frozenset[str]]:
    """A hashtag and its attributes, in any order: '#adm1 +code' is '#adm1+code'."""
    base, *attributes = (tag or "").replace(" ", "").lower().split("+")
    return base, frozenset(attributes)


def _country(row: SheetRow, value: str, problems: Problems) -> str | None:
    code = value.strip().upper()
    if reference.is_country(code):
        return code
    problems.append(
        (
            ("body", "row", row.number),
            _("row {row}: {code} is not an ISO3 country code", row=row.number, code=repr(value)),
        )
    )
    return None


def _year(row: SheetRow, value: str, column: str, problems: Problems) -> int | None:
    if value.isdigit() and 1900 <= int(value) <= 2200:
        return int(value)
    problems.append(
        (
            ("body", "row", row.number),
            _("row {row}: {column} gives no year", row=row.number, column=column),
        )
    )
    return None


def _figure(row: SheetRow, value: str, column: str, problems: Problems) -> int | None:
    text = value.replace(",", "").replace(" ", "")
    try:
        number = float(text)
    except ValueError:
        number = -1.0
    if number >= 0 and number.is_integer():
        return int(number)
    problems.append(
        (
            ("body", "row", row.number),
            _(
                "row {row}: {column} {value} is not a number of people",
                row=row.number,
                column=column,
                value=repr(value),
            ),
        )
    )
    return None


def list_needs(
    session: Session,
    *,
    countries: list[str] | None,
    years: list[int] | None,
    sectors: list[str] | None,
    user: User,
) -> Needs:
    """The needs a user may read, by country, year, sector (Intersectoral first) and
    admin1 (national first)."""
    permissions.require_role(user, Role.field, Role.hq, Role.admin)
    countries = permissions.narrow_countries(user, countries)
    query = select(Need).order_by(
        Need.country,
        Need.year,
        Need.sector.is_not(None),
        Need.sector,
        Need.admin1.is_not(None),
        Need.admin1,
    )
    if countries is not None:
        query = query.where(Need.country.in_(countries))
    if years is not None:
        query = query.where(Need.year.in_(years))
    if sectors is not None:
        query = query.where(Need.sector.in_(sectors))
    return Needs(
        rows=[NeedRead.model_validate(n, from_attributes=True) for n in session.scalars(query)]
    )


def needs_for(
    session: Session, *, countries: Iterable[str] | None, years: Iterable[int] | None
) -> dict[tuple[str, int, str | None, str | None], int]:
    """People in need by (country, year, sector, admin1), for these countries and years
    (None: all); sector None is the Intersectoral figure, admin1 None the whole country.
    What app.totals compares its rows with."""
    query = select(Need.country, Need.year, Need.sector, Need.admin1, Need.people_in_need)
    if countries is not None:
        query = query.where(Need.country.in_(list(countries)))
    if years is not None:
        query = query.where(Need.year.in_(list(years)))
    return {
        (n.country, n.year, n.sector, n.admin1): n.people_in_need for n in session.execute(query)
    }
