"""cumulative reach: sitrep lines may give people_reached_cumulative

Revision ID: c7a1b2d3e4f5
Revises: 3f1c2a7d9b10
Create Date: 2026-12-01 23:30:00

Lines stored so far all gave people_reached_new (or nothing), so what they count for does
not change: the new column starts NULL everywhere.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c7a1b2d3e4f5"
down_revision: str | None = "3f1c2a7d9b10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "sitrep_lines", sa.Column("people_reached_cumulative", sa.Integer(), nullable=True)
    )


def downgrade() -> None:
    # people_reached_new already holds what each cumulative line stood for, so totals and
    # feeds read the same figures without the column.
    # (DROP COLUMN in place, on SQLite too: a batch rebuild would lose the table's partial
    # indexes.)
    op.execute("ALTER TABLE sitrep_lines DROP COLUMN people_reached_cumulative")
