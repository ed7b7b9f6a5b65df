"""writers that do not wait for each other: feed positions and the feed sequence

Revision ID: d4e5f6a7b8c9
Revises: c7a1b2d3e4f5
Create Date: 2026-12-02 06:00:00

A line's place in the feed becomes (``feed_xid``, ``feed_seq``): the id of the transaction
that last wrote it, then a number from the ``feed_seq`` sequence (app/sitreps/order.py). On
PostgreSQL writers no longer take the ``counters`` row, which serialised every write;
SQLite keeps it (one writer at a time there anyway). Lines written so far get
``feed_xid`` 0, so they keep their order and stay before every later write, and cursors
handed out before the upgrade still point where they did.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d4e5f6a7b8c9"
down_revision: str | None = "c7a1b2d3e4f5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "sitrep_lines",
        sa.Column("feed_xid", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.drop_index("ix_sitrep_lines_feed", table_name="sitrep_lines")
    op.drop_index("ix_sitrep_lines_feed_country", table_name="sitrep_lines")
    op.create_index(
        "ix_sitrep_lines_feed", "sitrep_lines", ["sector", "feed_xid", "feed_seq"], unique=False
    )
    op.create_index(
        "ix_sitrep_lines_feed_country",
        "sitrep_lines",
        ["country", "sector", "feed_xid", "feed_seq"],
        unique=False,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE feed_seq")
        op.execute(
            "SELECT setval('feed_seq', GREATEST(1, (SELECT value FROM counters "
            "WHERE name = 'feed'), (SELECT coalesce(max(feed_seq), 0) FROM sitrep_lines)))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE counters SET value = (SELECT last_value FROM feed_seq) WHERE name = 'feed'"
        )
        op.execute("DROP SEQUENCE feed_seq")
    op.drop_index("ix_sitrep_lines_feed_country", table_name="sitrep_lines")
    op.drop_index("ix_sitrep_lines_feed", table_name="sitrep_lines")
    op.create_index("ix_sitrep_lines_feed", "sitrep_lines", ["sector", "feed_seq"], unique=False)
    op.create_index(
        "ix_sitrep_lines_feed_country",
        "sitrep_lines",
        ["country", "sector", "feed_seq"],
        unique=False,
    )
    op.drop_column("sitrep_lines", "feed_xid")
