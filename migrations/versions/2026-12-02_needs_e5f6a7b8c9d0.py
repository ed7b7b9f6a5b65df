"""people in need: the needs table

Revision ID: e5f6a7b8c9d0
Revises: d4e5f6a7b8c9
Create Date: 2026-12-02 12:00:00

People in need from Humanitarian Needs Overviews (app/needs), per country, year, sector
(NULL: Intersectoral) and admin1 (NULL: national). A load replaces every row of its
(country, year) pairs, so the key needs no unique constraint (NULLs would defeat one).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e5f6a7b8c9d0"
down_revision: str | None = "d4e5f6a7b8c9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "needs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("sector", sa.String(length=20), nullable=True),
        sa.Column("admin1", sa.String(length=20), nullable=True),
        sa.Column("people_in_need", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_needs")),
    )
    op.create_index("ix_needs_country_year", "needs", ["country", "year"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_needs_country_year", table_name="needs")
    op.drop_table("needs")
