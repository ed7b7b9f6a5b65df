"""sex and age in the totals summaries

Revision ID: f6a7b8c9d0e1
Revises: e5f6a7b8c9d0
Create Date: 2026-12-03 08:00:00

Each summary (cells, slots, places) keeps the reach split by sex and age: women, men, girls,
boys (each line's new reach split in the proportions of its disaggregation) and
not_disaggregated (the reach of lines that gave none). The backfill is the summaries' own
definition (app.totals.summaries.rebuild_statements), which migrations/env.py runs once the
database is at head: this migration asks for it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "f6a7b8c9d0e1"
down_revision: str | None = "e5f6a7b8c9d0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("totals_cells", "totals_slots", "totals_places")
COLUMNS = ("women", "men", "girls", "boys", "not_disaggregated")


def upgrade() -> None:
    # ADD COLUMN in place on SQLite too (no batch rebuild of the tables).
    for table in TABLES:
        for name in COLUMNS:
            op.add_column(
                table, sa.Column(name, sa.BigInteger(), server_default=sa.text("0"), nullable=False)
            )
    context.config.attributes["rebuild_summaries"] = True


def downgrade() -> None:
    # (DROP COLUMN in place, on SQLite too, as in c7a1b2d3e4f5.)
    for table in TABLES:
        for name in reversed(COLUMNS):
            op.execute(f"ALTER TABLE {table} DROP COLUMN {name}")
