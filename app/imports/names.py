"""Names to codes: real sheets say "Sénégal", "Kédougou" and "Water, Sanitation & Hygiene"
where the service stores SEN, SN06 and wash.

A name is compared with the reference names after normalisation (accents transliterated,
case, punctuation and "&" ignored, "St" read as "Saint"); failing that, after dropping
administrative words ("Région de", "Département de l'", "Province", ...), reading the
points of the compass in French, Spanish and Portuguese as in English ("Nord-Est",
"Noreste", "Nordeste" are "North-East") and ignoring word order. Admin areas are also
known by the names the field writes for them (``app/reference/data/pcode_names.csv``:
Haiti's départements in French, ...). A name that fits two codes is ambiguous and refused,
never guessed; a name that fits none is refused with the closest names as a hint, closest
first.
"""

import contextlib
import csv
import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from unidecode import unidecode

from app.reference import catalog as reference
from app.sectors import catalog as sectors

# Sheets repeat the same few names on thousands of rows: each is looked up once.
_CACHED = 65536
_HINT_CUTOFF = 0.75
# What a p-code looks like, as against a name: letters, then digits.
_PCODE = re.compile(r"^[A-Z]{2,3}[0-9]{1,9}$")


class Unresolved(ValueError):
    """A value that names nothing the service knows; the message says why."""


class OutsideSectors(Unresolved):
    """A sector or cluster that exists, but that this service does not track."""


_EXPANSIONS = {"st": "saint", "ste": "sainte", "mt": "mount", "ft": "fort"}
# Words that real sheets add to or drop from area and country names at will.
_NOISE = frozenset(
    {
        "the", "of", "and", "de", "du", "des", "la", "le", "les", "l", "d", "el", "al",
        "region", "province", "state", "district", "department", "departement", "governorate",
        "county", "prefecture", "municipality", "commune", "cercle", "wilaya", "division",
        "zone", "city", "capital", "territory", "republic", "rep",
    }
)  # fmt: skip


def normalise(text: str) -> str:
    """Lower case ASCII words separated by single spaces."""
    ascii_text = unidecode(text).lower().replace("&", " and ")
    return " ".join(_EXPANSIONS.get(w, w) for w in re.findall(r"[a-z0-9]+", ascii_text))


# The points of the compass in the other languages sheets are written in: COD names say
# "North-West" where Haiti's offices write "Nord-Ouest" and Latin America's "Noroeste".
_COMPASS = {
    "nord": "north", "norte": "north", "sud": "south", "sur": "south", "sul": "south",
    "est": "east", "este": "east", "leste": "east", "ouest": "west", "oeste": "west",
    "nordeste": "north east", "noreste": "north east", "noroeste": "north west",
    "nordouest": "north west", "nordest": "north east", "sudeste": "south east",
    "sureste": "south east", "sudoeste": "south west", "suroeste": "south west",
    "sudest": "south east", "sudouest": "south west", "centro": "centre", "center": "centre",
}  # fmt: skip


def _loose(text: str) -> str:
    words = " ".join(_COMPASS.get(w, w) for w in normalise(text).split()).split()
    kept = sorted({w for w in words if w not in _NOISE})
    return " ".join(kept) if kept else " ".join(words)


@dataclass(slots=True)
class NameIndex:
    """Codes by normalised name. ``kind`` names what is looked up, for messages."""

    kind: str
    exact: dict[str, set[str]] = field(default_factory=dict)
    loose: dict[str, set[str]] = field(default_factory=dict)
    display: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, code: str) -> None:
        if not name.strip():
            return
        self.exact.setdefault(normalise(name), set()).add(code)
        self.loose.setdefault(_loose(name), set()).add(code)
        self.display.setdefault(code, name)

    def find(self, text: str) -> str | None:
        """The code the name stands for; None when nothing fits; Unresolved when several
        do."""
        for index, key in ((self.exact, normalise(text)), (self.loose, _loose(text))):
            codes = index.get(key)
            if codes and len(codes) == 1:
                return next(iter(codes))
            if codes:
                listed = " or ".join(f"{c} ({self.display[c]})" for c in sorted(codes))
                raise Unresolved(f"{text!r} is ambiguous: it could be {listed}")
        return None

    def hint(self, text: str) -> str:
        """The codes whose names come closest, closest first (each name compared as written
        and loosely, as ``find`` compares them)."""
        scores: dict[str, float] = {}
        for index, key in ((self.exact, normalise(text)), (self.loose, _loose(text))):
            matcher = difflib.SequenceMatcher(b=key, autojunk=False)
            for name, codes in index.items():
                matcher.set_seq1(name)
                if (
                    matcher.real_quick_ratio() < _HINT_CUTOFF
                    or matcher.quick_ratio() < _HINT_CUTOFF
                ):
                    continue
                score = matcher.ratio()
                if score >= _HINT_CUTOFF:
                    for code in codes:
                        scores[code] = max(scores.get(code, 0.0), score)
        if not scores:
            return ""
        ranked = sorted(scores, key=lambda c: (-scores[c], c))[:2]
        best = scores[ranked[0]]
        # A second name only when it is about as close as the first.
        ranked = [c for c in ranked if scores[c] >= best - 0.05]
        return "; did you mean " + " or ".join(f"{self.display[c]} ({c})" for c in ranked) + "?"


# --- countries -------------------------------------------------------------------------

_COUNTRY_NAME_COLUMNS = (
    "Preferred Term", "ISO Alt Term", "DGACM Alt Term", "HPC Tools Alt Term", "RW Short Name",
    "RW API Alt Term", "English Short", "French Short", "Spanish Short", "English Formal",
    "M49 English", "M49 French", "M49 Spanish",
)  # fmt: skip


@lru_cache
def _countries() -> tuple[NameIndex, dict[str, re.Pattern[str]]]:
    index = NameIndex("country")
    patterns: dict[str, re.Pattern[str]] = {}
    known = reference.countries()
    with (reference.DATA_DIR / "countries.csv").open(encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            code = row["ISO 3166-1 Alpha 3-Codes"].strip()
            if code not in known:
                continue
            index.add(known[code].name, code)
            index.add(row["ISO 3166-1 Alpha 2-Codes"], code)
            for column in _COUNTRY_NAME_COLUMNS:
                index.add(row[column], code)
            if row["Regex"].strip():
                # A pattern Python's engine does not read is left out: names still work.
                with contextlib.suppress(re.error):
                    patterns[code] = re.compile(row["Regex"].strip(), re.IGNORECASE)
    return index, patterns


@lru_cache(maxsize=_CACHED)
def country(text: str) -> str:
    """ISO3 code of a country given by ISO3 or ISO2 code or by one of its names (in any
    of OCHA's name columns: UN and ISO names in English, French, Spanish, ...)."""
    if reference.is_country(text.strip().upper()):
        return text.strip().upper()
    index, patterns = _countries()
    found = index.find(text)
    if found is not None:
        return found
    # OCHA's own matching expressions catch variants the name columns lack ("Turkey").
    lowered = text.lower()
    matched = {c for c, p in patterns.items() if p.search(lowered) or p.search(unidecode(lowered))}
    if len(matched) == 1:
        return matched.pop()
    raise Unresolved(f"{text!r} is not a country name or ISO3 code{index.hint(text)}")


# --- admin areas -----------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _areas_under(parent: str, level: int) -> NameIndex:
    """Admin areas of a level by name: admin1 under a country, admin2 under an admin1 or,
    when the sheet has no admin1, under a country."""
    index = NameIndex(f"admin{level}")
    if level == 1 or parent in reference.admin_areas():
        areas: Iterable[reference.AdminArea] = reference.children_of(parent)
    else:
        areas = (
            area
            for admin1 in reference.children_of(parent)
            for area in reference.children_of(admin1.code)
        )
    also = reference.field_names()
    areas = list(areas)
    for area in areas:
        index.add(area.name, area.code)
    for area in areas:
        for name in also.get(area.code, ()):
            index.add(name, area.code)
    return index


@lru_cache(maxsize=_CACHED)
def admin_area(text: str, *, country: str, level: int, admin1: str | None = None) -> str:
    """P-code of an area given by p-code or by name, among the areas of a country (admin1)
    or of an admin1 (admin2; of the whole country when admin1 is None)."""
    code = text.strip().upper()
    if code in reference.admin_areas():
        return code  # whether it lies in the right place is the sitrep's own check
    parent = admin1 if level == 2 and admin1 is not None else country
    index = _areas_under(parent, level)
    found = index.find(text)
    if found is not None:
        return found
    where = f"{admin1}" if level == 2 and admin1 else country
    if not index.exact:
        raise Unresolved(f"{text!r}: there are no admin{level} p-codes for {where}")
    raise Unresolved(f"{text!r} is not an admin{level} name or p-code of {where}{index.hint(text)}")


def looks_like_pcode(text: str) -> bool:
    return bool(_PCODE.match(text.strip().upper()))


@lru_cache(maxsize=_CACHED)
def current_pcode(text: str, *, country: str, level: int) -> str | None:
    """The current p-code of a code from an earlier version of a country's dataset, where
    the change was systematic: the country's prefix written as its ISO 3166-1 alpha-2
    code where the current dataset writes alpha-3, or the other way round (Chad's DTM rows
    say TD07 and TD0703 for TCD07 and TCD0703)."""
    code = text.strip().upper()
    areas = reference.admin_areas()
    iso2 = reference.iso2_of(country)
    if iso2 is None:
        return None
    for old, new in ((iso2, country), (country, iso2)):
        if code.startswith(old) and not code.startswith(new):
            found = areas.get(new + code[len(old) :])
            if found is not None and found.country == country and found.level == level:
                return found.code
    return None


# --- sectors, divisions, phases --------------------------------------------------------

_SECTOR_ALIASES = {
    "shelter": (
        "shelter", "shelter and settlements", "shelter and nfi", "shelter nfi", "nfi",
        "non food items", "emergency shelter", "emergency shelter and nfi", "snfi", "esnfi",
        "shelter and non food items", "abris", "abri", "abris et ame", "shl",
    ),
    "wash": (
        "wash", "water sanitation and hygiene", "water sanitation hygiene", "watsan",
        "eau hygiene et assainissement", "eha", "wsh",
    ),
    "cccm": (
        "cccm", "camp coordination and camp management", "camp management",
        "displacement management", "camp coordination camp management", "ccm",
    ),
    "cash": (
        "cash", "cash based interventions", "cash based intervention", "cbi", "cva",
        "cash and voucher assistance", "multipurpose cash", "multi purpose cash",
        "multipurpose cash assistance", "multi purpose cash assistance", "mpca", "mpc",
        "cash working group", "cwg",
    ),
    "health": ("health", "emergency health", "migration health", "sante", "hea"),
}  # fmt: skip
# Clusters and areas of responsibility that are not among this service's sectors: their
# rows are skipped, not refused.
_OTHER_CLUSTERS = (
    "food security", "food security and livelihoods", "fsl", "fsc", "food", "protection",
    "pro", "child protection", "pro cpm", "gender based violence", "gbv", "pro gbv",
    "mine action", "pro min", "housing land and property", "pro hlp", "education", "edu",
    "nutrition", "nut", "logistics", "log", "emergency telecommunications", "etc",
    "early recovery", "ery", "coordination", "coordination and common services", "ccs",
    "agriculture", "livelihoods", "securite alimentaire", "education in emergencies",
    "multi sector", "multisector", "ms", "refugee response", "all",
)  # fmt: skip


@lru_cache
def _sector_index() -> tuple[NameIndex, frozenset[str]]:
    index = NameIndex("sector")
    for code, sector in sectors.SECTORS.items():
        index.add(code, code)
        index.add(sector.name, code)
        for alias in _SECTOR_ALIASES.get(code, ()):
            index.add(alias, code)
    return index, frozenset(normalise(name) for name in _OTHER_CLUSTERS)


@lru_cache(maxsize=_CACHED)
def sector(text: str) -> str:
    index, others = _sector_index()
    key = normalise(text)
    found = index.exact.get(key)
    if found and len(found) == 1:
        return next(iter(found))
    if key in others:
        raise OutsideSectors(
            f"{text!r} is not one of the sectors this service tracks ({', '.join(sectors.SECTORS)})"
        )
    raise Unresolved(
        f"{text!r} is not a sector; use one of {', '.join(sectors.SECTORS)} or its name"
        f"{index.hint(text)}"
    )


@lru_cache
def _code_index(kind: str) -> NameIndex:
    index = NameIndex(kind)
    items = reference.DIVISIONS.values() if kind == "division" else reference.PHASES.values()
    for item in items:
        index.add(item.code, item.code)
        index.add(item.name, item.code)
    return index


def division(text: str) -> str:
    found = _code_index("division").exact.get(normalise(text))
    if found:
        return next(iter(found))
    raise Unresolved(
        f"{text!r} is not a DHRR division; use one of {', '.join(reference.DIVISIONS)}"
    )


def phase(text: str) -> str:
    found = _code_index("phase").exact.get(normalise(text))
    if found:
        return next(iter(found))
    raise Unresolved(f"{text!r} is not an MCOF phase; use one of {', '.join(reference.PHASES)}")


# --- periods ---------------------------------------------------------------------------

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan", "janvier", "janv", "enero", "ene", "janeiro"),
            ("february", "feb", "fevrier", "fev", "fevr", "febrero", "fevereiro"),
            ("march", "mar", "mars", "marzo", "marco"),
            ("april", "apr", "avril", "avr", "abril", "abr"),
            ("may", "mai", "mayo", "maio"),
            ("june", "jun", "juin", "junio", "junho"),
            ("july", "jul", "juillet", "juil", "julio", "julho"),
            ("august", "aug", "aout", "agosto", "ago"),
            ("september", "sep", "sept", "septembre", "septiembre", "setembro", "set"),
            ("october", "oct", "octobre", "octubre", "outubro", "out"),
            ("november", "nov", "novembre", "noviembre", "novembro"),
            ("december", "dec", "decembre", "diciembre", "dic", "dezembro", "dez"),
        ),
        start=1,
    )
    for name in names
}


@lru_cache(maxsize=_CACHED)
def month_period(text: str, *, year: int | None) -> tuple[date, date]:
    """The first and last day of a month given as "June", "June 2014", "juin 2014",
    "2014-06" or a date in the month; a month without a year takes ``year``."""
    words = normalise(text).split()
    month: int | None = None
    year_found: int | None = None
    if len(words) >= 2 and all(w.isdigit() for w in words[:3]) and len(words[0]) == 4:
        year_found, month = int(words[0]), int(words[1])  # 2014-06, 2014-06-01
    elif len(words) == 2 and words[1].isdigit() and len(words[1]) == 4 and words[0].isdigit():
        month, year_found = int(words[0]), int(words[1])  # 06/2014
    else:
        names = [w for w in words if w in _MONTHS]
        years = [int(w) for w in words if w.isdigit() and len(w) == 4]
        if len(names) == 1 and len(names) + len(years) == len(words) and len(years) <= 1:
            month = _MONTHS[names[0]]
            year_found = years[0] if years else None
    if month is None or not 1 <= month <= 12:
        raise Unresolved(f"{text!r} is not a month (e.g. 'June', 'June 2014' or '2014-06')")
    year_found = year_found or year
    if year_found is None:
        raise Unresolved(f"{text!r} has no year: give the year option")
    if not 1990 <= year_found <= 2100:
        raise Unresolved(f"{text!r}: {year_found} is not a plausible year")
    start = date(year_found, month, 1)
    end = date(year_found + month // 12, month % 12 + 1, 1).toordinal() - 1
    return start, date.fromordinal(end)
