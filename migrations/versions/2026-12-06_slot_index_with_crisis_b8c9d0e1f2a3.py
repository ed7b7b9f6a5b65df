"""the slot index names the crisis: a slot is (country, crisis, line key)

Revision ID: b8c9d0e1f2a3
Revises: a7b8c9d0e1f2
Create Date: 2026-12-06 22:40:00

Every reader of ix_sitrep_lines_slot looks a slot up with its crisis: the one-sitrep-per-slot
check, a batch's read of the lines that may hold its slots, and the chains a write settles
(a chain is a slot's year). Without the crisis in the index those reads went through every
live line of the country and kept the crisis's: at 100,000 lines on PostgreSQL a batch of
100 sitreps of 20 countries read 130,608 index entries to keep 1,200 (33 ms), and the read
grows with the table.

The index is rebuilt by a plain CREATE INDEX, so writes to sitrep_lines wait while it is
built: 1.2 s at a million lines on PostgreSQL 15 on this project's 2-core machine.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b8c9d0e1f2a3"
down_revision: str | None = "a7b8c9d0e1f2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("status = 'submitted'")


def _slot_index(columns: list[str]) -> None:
    op.drop_index("ix_sitrep_lines_slot", table_name="sitrep_lines")
    op.create_index(
        "ix_sitrep_lines_slot",
        "sitrep_lines",
        columns,
        postgresql_where=LIVE,
        sqlite_where=LIVE,
    )


def upgrade() -> None:
    _slot_index(["country", "crisis_id", "line_key", "period_end"])


def downgrade() -> None:
    _slot_index(["country", "line_key", "period_end"])
