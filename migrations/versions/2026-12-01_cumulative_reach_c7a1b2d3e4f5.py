"""cumulative reach and yearly targets

Revision ID: c7a1b2d3e4f5
Revises: 3f1c2a7d9b10
Create Date: 2026-12-01 23:30:00

- ``sitrep_lines.people_reached_cumulative``: the year-to-date figure a line may give
  instead of people_reached_new. Lines stored so far all gave people_reached_new (or
  nothing), so what they count for does not change: the column starts NULL everywhere.
- ``sitrep_lines.year_target``: the yearly target a line carries in totals, its
  people_targeted when it is the latest live line of its slot's year to state one, else 0.
- ``totals_places.<sector>_targeted``: each sector's targets at a place, for
  people_targeted_unique. The summaries' ``targeted`` become sums of yearly targets.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c7a1b2d3e4f5"
down_revision: str | None = "3f1c2a7d9b10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SECTORS = ("shelter", "wash", "cccm", "cash", "health")
LIVE = "status = 'submitted'"


def upgrade() -> None:
    op.add_column(
        "sitrep_lines", sa.Column("people_reached_cumulative", sa.Integer(), nullable=True)
    )
    op.add_column(
        "sitrep_lines",
        sa.Column("year_target", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    for sector in SECTORS:
        op.add_column(
            "totals_places",
            sa.Column(
                f"{sector}_targeted", sa.BigInteger(), server_default=sa.text("0"), nullable=False
            ),
        )
    # The latest live line of each slot's year that states a target carries it.
    op.execute(
        f"""
        UPDATE sitrep_lines SET year_target = people_targeted
        WHERE {LIVE} AND people_targeted IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM sitrep_lines AS later
            WHERE later.{LIVE} AND later.people_targeted IS NOT NULL
              AND later.country = sitrep_lines.country
              AND later.line_key = sitrep_lines.line_key
              AND later.year = sitrep_lines.year
              AND (later.crisis_id = sitrep_lines.crisis_id
                   OR (later.crisis_id IS NULL AND sitrep_lines.crisis_id IS NULL))
              AND later.period_end > sitrep_lines.period_end
        )
        """
    )
    _resum_targets("year_target")


def downgrade() -> None:
    _resum_targets("COALESCE(people_targeted, 0)")
    # (DROP COLUMN in place, on SQLite too: a batch rebuild would lose the partial indexes
    # of sitrep_lines.) people_reached_new already holds what each cumulative line stood
    # for, so totals and feeds read the same reach without the column.
    for sector in SECTORS:
        op.execute(f"ALTER TABLE totals_places DROP COLUMN {sector}_targeted")
    op.execute("ALTER TABLE sitrep_lines DROP COLUMN year_target")
    op.execute("ALTER TABLE sitrep_lines DROP COLUMN people_reached_cumulative")


def _resum_targets(target: str) -> None:
    """Sets the summaries' targets to sums of ``target`` (an expression over a line)."""
    cell = (
        "l.year = totals_cells.year AND l.country = totals_cells.country "
        "AND l.sector = totals_cells.sector AND l.division = totals_cells.division "
        "AND l.phase = totals_cells.phase AND COALESCE(l.crisis_id, 0) = totals_cells.crisis_id "
        "AND COALESCE(l.admin1, '') = totals_cells.admin1 "
        "AND COALESCE(l.admin2, '') = totals_cells.admin2"
    )
    op.execute(
        f"UPDATE totals_cells SET targeted = COALESCE((SELECT SUM({_on('l', target)}) "
        f"FROM sitrep_lines AS l WHERE l.{LIVE} AND {cell}), 0)"
    )
    op.execute(
        """
        UPDATE totals_slots SET targeted = COALESCE((
            SELECT SUM(c.targeted) FROM totals_cells AS c
            WHERE c.year = totals_slots.year AND c.country = totals_slots.country
              AND c.sector = totals_slots.sector AND c.division = totals_slots.division
              AND c.phase = totals_slots.phase AND c.crisis_id = totals_slots.crisis_id
        ), 0)
        """
    )
    place = (
        "c.year = totals_places.year AND c.country = totals_places.country "
        "AND c.admin1 = totals_places.admin1 AND c.admin2 = totals_places.admin2"
    )
    columns = ["targeted = COALESCE((SELECT SUM(c.targeted) FROM totals_cells AS c "]
    columns[0] += f"WHERE {place}), 0)"
    if target == "year_target":
        columns += [
            f"{sector}_targeted = COALESCE((SELECT SUM(c.targeted) FROM totals_cells AS c "
            f"WHERE {place} AND c.sector = '{sector}'), 0)"
            for sector in SECTORS
        ]
    op.execute(f"UPDATE totals_places SET {', '.join(columns)}")


def _on(alias: str, expression: str) -> str:
    """``expression`` with its columns read from ``alias``."""
    for name in ("year_target", "people_targeted"):
        expression = expression.replace(name, f"{alias}.{name}")
    return expression
