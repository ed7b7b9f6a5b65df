from alembic import command
from sqlalchemy import column, create_engine, inspect, select, table

from app.db import alembic_config

TABLES = {
    "api_tokens",
    "audit_events",
    "counters",
    "idempotency_keys",
    "crises",
    "crisis_countries",
    "sitrep_lines",
    "sitrep_revisions",
    "sitreps",
    "user_clusters",
    "user_countries",
    "users",
}


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_round_trip_upgrade_check_downgrade_upgrade(empty_database_url: str) -> None:
    config = alembic_config(empty_database_url)
    command.upgrade(config, "head")
    assert _tables(empty_database_url) == TABLES
    # The models and the migrations describe the same schema.
    command.check(config)
    command.downgrade(config, "base")
    assert _tables(empty_database_url) == set()
    command.upgrade(config, "head")
    assert _tables(empty_database_url) == TABLES
    engine = create_engine(empty_database_url)
    with engine.connect() as connection:
        counters = connection.execute(
            select(column("name"), column("value")).select_from(table("counters"))
        ).all()
    engine.dispose()
    assert [tuple(row) for row in counters] == [("feed", 0)]
