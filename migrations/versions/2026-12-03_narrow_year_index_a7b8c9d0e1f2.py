"""a narrow index of a year's live lines instead of the 12-column covering one

Revision ID: a7b8c9d0e1f2
Revises: f6a7b8c9d0e1
Create Date: 2026-12-03 09:00:00

ix_sitrep_lines_totals covered every figure the totals summed, from the days when totals
read the lines. Totals read the summaries now; what still reads a year's lines (the
double-counting report, line exports by year, the recount and the rebuild) needs the year
and the country, and reads columns the covering index never had. The 12 columns were the
largest index of the table, paid by every line written: 92 MB of the 364 MB of indexes at
1,000,000 lines on PostgreSQL (the table itself 236 MB), against 7 MB for this one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a7b8c9d0e1f2"
down_revision: str | None = "f6a7b8c9d0e1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("status = 'submitted'")
COVERING = [
    "year",
    "country",
    "sector",
    "division",
    "phase",
    "crisis_id",
    "admin1",
    "admin2",
    "people_reached_new",
    "people_reached",
    "people_targeted",
    "status",
]


def upgrade() -> None:
    op.drop_index("ix_sitrep_lines_totals", table_name="sitrep_lines")
    op.create_index(
        "ix_sitrep_lines_year",
        "sitrep_lines",
        ["year", "country"],
        postgresql_where=LIVE,
        sqlite_where=LIVE,
    )


def downgrade() -> None:
    op.drop_index("ix_sitrep_lines_year", table_name="sitrep_lines")
    op.create_index(
        "ix_sitrep_lines_totals",
        "sitrep_lines",
        COVERING,
        postgresql_where=LIVE,
        sqlite_where=LIVE,
    )
