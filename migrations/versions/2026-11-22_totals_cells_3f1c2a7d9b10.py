"""totals cells, slots and places: live lines summed for fast totals

Revision ID: 3f1c2a7d9b10
Revises: 98005732951d
Create Date: 2026-11-22 08:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3f1c2a7d9b10"
down_revision: str | None = "98005732951d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "totals_cells",
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("sector", sa.String(length=10), nullable=False),
        sa.Column("division", sa.String(length=10), nullable=False),
        sa.Column("phase", sa.String(length=15), nullable=False),
        sa.Column("crisis_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("admin1", sa.String(length=20), nullable=False),
        sa.Column("admin2", sa.String(length=20), nullable=False),
        sa.Column("reached", sa.BigInteger(), nullable=False),
        sa.Column("in_periods", sa.BigInteger(), nullable=False),
        sa.Column("targeted", sa.BigInteger(), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "year",
            "country",
            "sector",
            "division",
            "phase",
            "crisis_id",
            "admin1",
            "admin2",
            name=op.f("pk_totals_cells"),
        ),
        sqlite_with_rowid=False,
    )
    # The cells of the lines already stored (the same sums the service keeps up to date).
    op.execute(
        """
        INSERT INTO totals_cells (year, country, sector, division, phase, crisis_id,
                                  admin1, admin2, reached, in_periods, targeted, lines)
        SELECT year, country, sector, division, phase, COALESCE(crisis_id, 0),
               COALESCE(admin1, ''), COALESCE(admin2, ''), SUM(people_reached_new),
               SUM(people_reached), SUM(COALESCE(people_targeted, 0)), COUNT(*)
        FROM sitrep_lines
        WHERE status = 'submitted'
        GROUP BY year, country, sector, division, phase, COALESCE(crisis_id, 0),
                 COALESCE(admin1, ''), COALESCE(admin2, '')
        """
    )

    op.create_table(
        "totals_places",
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("admin1", sa.String(length=20), nullable=False),
        sa.Column("admin2", sa.String(length=20), nullable=False),
        sa.Column("shelter", sa.BigInteger(), nullable=False),
        sa.Column("wash", sa.BigInteger(), nullable=False),
        sa.Column("cccm", sa.BigInteger(), nullable=False),
        sa.Column("cash", sa.BigInteger(), nullable=False),
        sa.Column("health", sa.BigInteger(), nullable=False),
        sa.Column("in_periods", sa.BigInteger(), nullable=False),
        sa.Column("targeted", sa.BigInteger(), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "year", "country", "admin1", "admin2", name=op.f("pk_totals_places")
        ),
        sqlite_with_rowid=False,
    )
    op.execute(
        """
        INSERT INTO totals_places (year, country, admin1, admin2, shelter, wash, cccm, cash,
                                   health, in_periods, targeted, lines)
        SELECT year, country, COALESCE(admin1, ''), COALESCE(admin2, ''),
               SUM(CASE WHEN sector = 'shelter' THEN people_reached_new ELSE 0 END),
               SUM(CASE WHEN sector = 'wash' THEN people_reached_new ELSE 0 END),
               SUM(CASE WHEN sector = 'cccm' THEN people_reached_new ELSE 0 END),
               SUM(CASE WHEN sector = 'cash' THEN people_reached_new ELSE 0 END),
               SUM(CASE WHEN sector = 'health' THEN people_reached_new ELSE 0 END),
               SUM(people_reached), SUM(COALESCE(people_targeted, 0)), COUNT(*)
        FROM sitrep_lines
        WHERE status = 'submitted'
        GROUP BY year, country, COALESCE(admin1, ''), COALESCE(admin2, '')
        """
    )

    op.create_table(
        "totals_slots",
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("sector", sa.String(length=10), nullable=False),
        sa.Column("division", sa.String(length=10), nullable=False),
        sa.Column("phase", sa.String(length=15), nullable=False),
        sa.Column("crisis_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("reached", sa.BigInteger(), nullable=False),
        sa.Column("in_periods", sa.BigInteger(), nullable=False),
        sa.Column("targeted", sa.BigInteger(), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "year",
            "country",
            "sector",
            "division",
            "phase",
            "crisis_id",
            name=op.f("pk_totals_slots"),
        ),
        sqlite_with_rowid=False,
    )
    op.execute(
        """
        INSERT INTO totals_slots (year, country, sector, division, phase, crisis_id, reached,
                                  in_periods, targeted, lines)
        SELECT year, country, sector, division, phase, crisis_id, SUM(reached),
               SUM(in_periods), SUM(targeted), SUM(lines)
        FROM totals_cells
        GROUP BY year, country, sector, division, phase, crisis_id
        """
    )


def downgrade() -> None:
    op.drop_table("totals_slots")
    op.drop_table("totals_places")
    op.drop_table("totals_cells")
