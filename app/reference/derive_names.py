"""Derives data/pcode_names.csv, the names field offices write for admin areas, from the
names IOM's Displacement Tracking Matrix pairs with each p-code.

    python -m app.reference.derive_names tests/data/iom_dtm_idps_afg_hti_tcd_admin0-2.csv \\
        > app/reference/data/pcode_names.csv

A (p-code, name) pair of a DTM row at admin level 1 or 2 is kept when the p-code is a
current one (or one of an earlier dataset version that ``current_pcode`` maps to a current
one), the name is not already how the current dataset names it (after the import's
normalisation), and the name names no other area under the same parent: where DTM pairs a
code with another area's name (AF1722, Darwaz-e-Payin, with Darwaz-e-Balla, AF1727), the
name is left to the area it names.
"""

import csv
import sys
from pathlib import Path


def derive(source: Path) -> list[dict[str, str]]:
    from app.imports import names
    from app.reference import catalog as reference

    areas = reference.admin_areas()
    found: dict[tuple[str, str], dict[str, str]] = {}
    with source.open(encoding="utf-8-sig", newline="") as f:
        rows = csv.DictReader(f)
        next(rows)  # HXL hashtags
        for row in rows:
            country = row["admin0Pcode"].strip()
            for level in (1, 2):
                code = row[f"admin{level}Pcode"].strip().upper()
                name = " ".join(row[f"admin{level}Name"].split())
                if not code or not name:
                    continue
                if code not in areas:
                    code = names.current_pcode(code, country=country, level=level) or code
                area = areas.get(code)
                if area is None or area.level != level or area.country != country:
                    continue
                if names.normalise(name) == names.normalise(area.name):
                    continue
                others = {
                    sibling.code
                    for sibling in reference.children_of(area.parent)
                    if names.normalise(sibling.name) == names.normalise(name)
                }
                if others - {code}:
                    continue
                found.setdefault(
                    (code, names.normalise(name)),
                    {
                        "country": country,
                        "level": str(level),
                        "pcode": code,
                        "name": name,
                        "source": "IOM DTM",
                    },
                )
    return [found[key] for key in sorted(found)]


def main() -> None:
    writer = csv.DictWriter(
        sys.stdout, fieldnames=["country", "level", "pcode", "name", "source"], lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(derive(Path(sys.argv[1])))


if __name__ == "__main__":
    main()
