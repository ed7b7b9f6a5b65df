"""Countries, admin areas (p-codes), DHRR divisions and MCOF phases.

The code lists are fixed; countries and p-codes come from the real files in ``data/``,
read once on first use.
"""

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from app.errors import NotFound, ValidationFailed
from app.i18n import _

DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True, slots=True)
class Division:
    code: str
    name: str
    description: str


@dataclass(frozen=True, slots=True)
class Phase:
    code: str
    name: str
    description: str


DIVISIONS: dict[str, Division] = {
    d.code: d
    for d in (
        Division(
            "pcca",
            "Preparedness and Climate Change Action",
            "Disaster risk reduction, early warning, anticipatory action and climate adaptation.",
        ),
        Division(
            "prd",
            "Peace and Recovery",
            "Transition, stabilization, peacebuilding and durable solutions to displacement.",
        ),
        Division(
            "hod",
            "Humanitarian Operations",
            "Emergency response: shelter, WASH, camp management, cash and health in crises.",
        ),
    )
}

PHASES: dict[str, Phase] = {
    p.code: p
    for p in (
        Phase(
            "preparedness",
            "Preparedness",
            "Before a crisis: disaster risk reduction, early warning, anticipatory action.",
        ),
        Phase("response", "Response", "During a crisis: life-saving assistance and protection."),
        Phase(
            "recovery",
            "Recovery",
            "After a crisis: stabilization, transition and durable solutions.",
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Country:
    code: str
    name: str
    region: str | None
    # UN M49 (ISO 3166-1 numeric) code, which boundary files such as Natural Earth's key
    # their countries by; None for the few entries that have none.
    m49: int | None
    # OCHA's short names in French and Spanish, by language code (the taxonomy's columns).
    names: dict[str, str]

    def name_in(self, language: str) -> str:
        """The country's name in ``language`` (en, fr, es); English where none is known."""
        return self.names.get(language) or self.name


@dataclass(frozen=True, slots=True)
class AdminArea:
    code: str
    name: str
    level: int
    country: str
    parent: str


@lru_cache
def countries() -> dict[str, Country]:
    with (DATA_DIR / "countries.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = [
            Country(
                code=row["ISO 3166-1 Alpha 3-Codes"].strip(),
                name=row["Preferred Term"].strip(),
                region=row["Region Name"].strip() or None,
                m49=int(row["m49 numerical code"]) if row["m49 numerical code"].strip() else None,
                names={
                    code: row[column].strip()
                    for code, column in (("fr", "French Short"), ("es", "Spanish Short"))
                    if row[column].strip()
                },
            )
            for row in csv.DictReader(f)
            if row["ISO 3166-1 Alpha 3-Codes"].strip()
        ]
    return {c.code: c for c in sorted(rows, key=lambda c: c.code)}


@lru_cache
def admin_areas() -> dict[str, AdminArea]:
    with (DATA_DIR / "pcodes.csv").open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        next(reader)  # column names
        next(reader)  # HXL hashtags
        areas = [
            AdminArea(
                code=code.strip(),
                name=name.strip(),
                level=int(level),
                country=country.strip(),
                parent=parent.strip(),
            )
            for country, level, code, name, parent, _valid_from in reader
        ]
    return {a.code: a for a in areas}


@lru_cache
def field_names() -> dict[str, tuple[str, ...]]:
    """Other names of admin areas, as field offices write them (data/pcode_names.csv, see
    data/PROVENANCE.md), by p-code."""
    found: dict[str, list[str]] = {}
    with (DATA_DIR / "pcode_names.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            found.setdefault(row["pcode"], []).append(row["name"])
    return {code: tuple(names) for code, names in found.items()}


@lru_cache
def _iso2_codes() -> dict[str, str]:
    with (DATA_DIR / "countries.csv").open(encoding="utf-8-sig", newline="") as f:
        return {
            row["ISO 3166-1 Alpha 3-Codes"].strip(): row["ISO 3166-1 Alpha 2-Codes"].strip()
            for row in csv.DictReader(f)
            if row["ISO 3166-1 Alpha 3-Codes"].strip() and row["ISO 3166-1 Alpha 2-Codes"].strip()
        }


def iso2_of(country: str) -> str | None:
    """A country's ISO 3166-1 alpha-2 code."""
    return _iso2_codes().get(country)


@lru_cache
def _admin_areas_by_parent() -> dict[str, list[AdminArea]]:
    children: dict[str, list[AdminArea]] = {}
    for area in admin_areas().values():
        children.setdefault(area.parent, []).append(area)
    for areas in children.values():
        areas.sort(key=lambda a: a.code)
    return children


def is_country(code: str) -> bool:
    return code in countries()


def children_of(parent: str) -> list[AdminArea]:
    """Admin1 areas of a country (by ISO3), or admin2 areas of an admin1 (by p-code)."""
    return _admin_areas_by_parent().get(parent, [])


AdminLevel = Literal["1", "2", "all"]


@lru_cache
def _admin_areas_by_country() -> dict[str, dict[int, list[AdminArea]]]:
    by_country: dict[str, dict[int, list[AdminArea]]] = {}
    for area in sorted(admin_areas().values(), key=lambda a: a.code):
        by_country.setdefault(area.country, {}).setdefault(area.level, []).append(area)
    return by_country


def admin_areas_of(
    country: str, *, level: AdminLevel | None = None, parent: str | None = None
) -> list[AdminArea]:
    """A country's admin areas: its admin1 (the default, or ``level="1"``), the admin2 of
    one admin1 (``parent``), all its admin2 (``level="2"``), or every admin1 then every
    admin2 (``level="all"``), each level ordered by p-code."""
    country = country.upper()
    parent = parent.upper() if parent else None
    if not is_country(country):
        raise NotFound(_("There is no country with ISO3 code {code}.", code=repr(country)))
    if parent is not None and level in ("1", "all"):
        raise ValidationFailed(
            [(("query", "parent"), _("parent narrows admin2 areas: use it with level=2 or alone"))]
        )
    if parent is not None:
        area = admin_areas().get(parent)
        if area is None or area.country != country or area.level != 1:
            raise NotFound(
                _(
                    "{parent} is not an admin1 p-code of {country}.",
                    parent=repr(parent),
                    country=country,
                )
            )
        return children_of(parent)
    levels = _admin_areas_by_country().get(country, {})
    if level == "2":
        return levels.get(2, [])
    if level == "all":
        return levels.get(1, []) + levels.get(2, [])
    return children_of(country)


def location_problem(
    country: str, admin1: str | None, admin2: str | None
) -> tuple[str, str] | None:
    """Why a location is not valid for a country, as (field, message); None when it is."""
    if admin1 is None:
        if admin2 is not None:
            area = admin_areas().get(admin2)
            if area and area.level == 2:
                return "admin1", _(
                    "admin2 {admin2} needs its admin1 (it belongs to {admin1})",
                    admin2=admin2,
                    admin1=area.parent,
                )
            return "admin1", _("admin2 {admin2} needs its admin1", admin2=admin2)
        return None
    area1 = admin_areas().get(admin1)
    if area1 is None or area1.level != 1:
        return "admin1", _("{admin1} is not an admin1 p-code", admin1=admin1)
    if area1.country != country:
        return "admin1", _(
            "{admin1} is in {actual}, not {country}",
            admin1=admin1,
            actual=area1.country,
            country=country,
        )
    if admin2 is None:
        return None
    area2 = admin_areas().get(admin2)
    if area2 is None or area2.level != 2:
        return "admin2", _("{admin2} is not an admin2 p-code", admin2=admin2)
    if area2.parent != admin1:
        return "admin2", _(
            "{admin2} is in {actual}, not in {admin1}",
            admin2=admin2,
            actual=area2.parent,
            admin1=admin1,
        )
    return None
