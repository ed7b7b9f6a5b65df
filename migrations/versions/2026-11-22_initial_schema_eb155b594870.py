"""initial schema

Revision ID: eb155b594870
Revises:
Create Date: 2026-11-22 05:32:04.789263
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "eb155b594870"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "counters",
        sa.Column("name", sa.String(length=30), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_counters")),
    )

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"], unique=False)

    op.create_table(
        "crises",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("glide", sa.String(length=20), nullable=True),
        sa.Column("scale_up", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_crises_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crises")),
        sa.UniqueConstraint("glide", name=op.f("uq_crises_glide")),
    )

    op.create_table(
        "user_clusters",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("cluster", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_clusters_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "cluster", name=op.f("pk_user_clusters")),
    )

    op.create_table(
        "user_countries",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_countries_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "country", name=op.f("pk_user_countries")),
    )

    op.create_table(
        "crisis_countries",
        sa.Column("crisis_id", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.ForeignKeyConstraint(
            ["crisis_id"],
            ["crises.id"],
            name=op.f("fk_crisis_countries_crisis_id_crises"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("crisis_id", "country", name=op.f("pk_crisis_countries")),
    )
    op.create_index(
        op.f("ix_crisis_countries_country"), "crisis_countries", ["country"], unique=False
    )

    op.create_table(
        "sitreps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("crisis_id", sa.Integer(), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by_id", sa.Integer(), nullable=True),
        sa.Column("withdrawal_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_sitreps_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["crisis_id"], ["crises.id"], name=op.f("fk_sitreps_crisis_id_crises")
        ),
        sa.ForeignKeyConstraint(
            ["withdrawn_by_id"], ["users.id"], name=op.f("fk_sitreps_withdrawn_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sitreps")),
    )
    op.create_index("ix_sitreps_country_id", "sitreps", ["country", "id"], unique=False)
    op.create_index("ix_sitreps_crisis_id_id", "sitreps", ["crisis_id", "id"], unique=False)

    op.create_table(
        "sitrep_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sitrep_id", sa.Integer(), nullable=False),
        sa.Column("line_key", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("crisis_id", sa.Integer(), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("sector", sa.String(length=10), nullable=False),
        sa.Column("division", sa.String(length=10), nullable=False),
        sa.Column("phase", sa.String(length=15), nullable=False),
        sa.Column("admin1", sa.String(length=20), nullable=True),
        sa.Column("admin2", sa.String(length=20), nullable=True),
        sa.Column("people_reached", sa.Integer(), nullable=False),
        sa.Column("people_reached_new", sa.Integer(), nullable=False),
        sa.Column("people_targeted", sa.Integer(), nullable=True),
        sa.Column("women", sa.Integer(), nullable=True),
        sa.Column("men", sa.Integer(), nullable=True),
        sa.Column("girls", sa.Integer(), nullable=True),
        sa.Column("boys", sa.Integer(), nullable=True),
        sa.Column("persons_with_disabilities", sa.Integer(), nullable=True),
        sa.Column(
            "indicators",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("feed_seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["crisis_id"], ["crises.id"], name=op.f("fk_sitrep_lines_crisis_id_crises")
        ),
        sa.ForeignKeyConstraint(
            ["sitrep_id"],
            ["sitreps.id"],
            name=op.f("fk_sitrep_lines_sitrep_id_sitreps"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sitrep_lines")),
        sa.UniqueConstraint("feed_seq", name=op.f("uq_sitrep_lines_feed_seq")),
        sa.UniqueConstraint(
            "sitrep_id", "line_key", name=op.f("uq_sitrep_lines_sitrep_id_line_key")
        ),
    )
    op.create_index("ix_sitrep_lines_feed", "sitrep_lines", ["sector", "feed_seq"], unique=False)
    op.create_index(
        "ix_sitrep_lines_feed_country",
        "sitrep_lines",
        ["country", "sector", "feed_seq"],
        unique=False,
    )
    op.create_index(
        "ix_sitrep_lines_slot",
        "sitrep_lines",
        ["country", "line_key", "period_end"],
        unique=False,
        postgresql_where=sa.text("status = 'submitted'"),
        sqlite_where=sa.text("status = 'submitted'"),
    )
    op.create_index(
        "ix_sitrep_lines_totals",
        "sitrep_lines",
        [
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
        ],
        unique=False,
        postgresql_where=sa.text("status = 'submitted'"),
        sqlite_where=sa.text("status = 'submitted'"),
    )

    op.create_table(
        "sitrep_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sitrep_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("crisis_id", sa.Integer(), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("narrative", sa.Text(), nullable=True),
        sa.Column(
            "lines",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_by_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["crisis_id"], ["crises.id"], name=op.f("fk_sitrep_revisions_crisis_id_crises")
        ),
        sa.ForeignKeyConstraint(
            ["sitrep_id"],
            ["sitreps.id"],
            name=op.f("fk_sitrep_revisions_sitrep_id_sitreps"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_id"],
            ["users.id"],
            name=op.f("fk_sitrep_revisions_submitted_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sitrep_revisions")),
        sa.UniqueConstraint(
            "sitrep_id", "revision", name=op.f("uq_sitrep_revisions_sitrep_id_revision")
        ),
    )

    # The counter that hands out feed_seq numbers (app/sitreps/models.py: Counter).
    op.bulk_insert(
        sa.table("counters", sa.column("name", sa.String), sa.column("value", sa.BigInteger)),
        [{"name": "feed", "value": 0}],
    )


def downgrade() -> None:
    # Dropping a table drops its indexes and constraints too.
    op.drop_table("sitrep_revisions")
    op.drop_table("sitrep_lines")
    op.drop_table("sitreps")
    op.drop_table("crisis_countries")
    op.drop_table("user_countries")
    op.drop_table("user_clusters")
    op.drop_table("crises")
    op.drop_table("api_tokens")
    op.drop_table("users")
    op.drop_table("counters")
