from alembic import command
from sqlalchemy import column, create_engine, inspect, select, table, text

from app.db import alembic_config

TABLES = {
    "api_tokens",
    "audit_events",
    "counters",
    "idempotency_keys",
    "needs",
    "crises",
    "crisis_countries",
    "sitrep_lines",
    "sitrep_revisions",
    "sitreps",
    "totals_cells",
    "totals_places",
    "totals_slots",
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


def test_the_totals_cells_migration_sums_the_lines_already_stored(
    empty_database_url: str,
) -> None:
    from sqlalchemy.orm import Session

    from app.auth import service as auth
    from app.auth.models import Role
    from app.sitreps import service as sitreps
    from app.sitreps.schemas import SitrepCreate
    from app.totals.models import TotalsCell, TotalsPlace, TotalsSlot
    from tests.factories import line, sitrep

    config = alembic_config(empty_database_url)
    command.upgrade(config, "head")
    engine = create_engine(empty_database_url)

    def cells() -> list[tuple[object, ...]]:
        with Session(engine) as session:
            return [
                (c.year, c.country, c.sector, c.admin1, c.admin2, c.crisis_id, c.reached, c.lines)
                for c in session.scalars(select(TotalsCell).order_by(TotalsCell.sector))
            ]

    with Session(engine) as session:
        officer = auth.create_user(session, name="officer", role=Role.field, countries=["SDN"])
        for start, end in (("2024-01-01", "2024-01-31"), ("2024-02-01", "2024-02-29")):
            body = sitrep(
                line("shelter", reached=1000, new=300),
                line("wash", admin1=None, reached=50),
                start=start,
                end=end,
            )
            sitreps.submit(session, data=SitrepCreate.model_validate(body), user=officer)
        session.commit()

    def places() -> list[tuple[object, ...]]:
        with Session(engine) as session:
            return [
                (p.year, p.admin1, p.admin2, p.shelter, p.wash, p.in_periods, p.lines)
                for p in session.scalars(select(TotalsPlace).order_by(TotalsPlace.admin1))
            ]

    def slots() -> list[tuple[object, ...]]:
        with Session(engine) as session:
            return [
                (s.sector, s.reached, s.in_periods, s.lines)
                for s in session.scalars(select(TotalsSlot).order_by(TotalsSlot.sector))
            ]

    kept, kept_places, kept_slots = cells(), places(), slots()
    assert kept_slots == [("shelter", 600, 2000, 2), ("wash", 100, 100, 2)]
    assert kept_places == [(2024, "", "", 0, 100, 100, 2), (2024, "SD01", "", 600, 0, 2000, 2)]
    assert kept == [
        (2024, "SDN", "shelter", "SD01", "", 0, 600, 2),
        (2024, "SDN", "wash", "", "", 0, 100, 2),
    ]
    command.downgrade(config, "98005732951d")
    assert "totals_cells" not in _tables(empty_database_url)
    command.upgrade(config, "head")
    assert cells() == kept
    assert places() == kept_places
    assert slots() == kept_slots
    engine.dispose()


def test_the_cumulative_migration_counts_each_slots_yearly_target_once(
    empty_database_url: str,
) -> None:
    from sqlalchemy.orm import Session

    from app.auth import service as auth
    from app.auth.models import Role
    from app.sitreps import service as sitreps
    from app.sitreps.models import SitrepLine
    from app.sitreps.schemas import SitrepCreate
    from tests.factories import line, sitrep

    config = alembic_config(empty_database_url)
    command.upgrade(config, "head")
    engine = create_engine(empty_database_url)
    with Session(engine) as session:
        officer = auth.create_user(session, name="officer", role=Role.field, countries=["SDN"])
        for start, end, target in (
            ("2024-01-01", "2024-01-31", 1000),
            ("2024-02-01", "2024-02-29", 1500),
            ("2024-03-01", "2024-03-31", None),
        ):
            body = sitrep(
                line("shelter", people_targeted=target),
                line("wash", people_targeted=300 if start == "2024-01-01" else None),
                start=start,
                end=end,
            )
            sitreps.submit(session, data=SitrepCreate.model_validate(body), user=officer)
        session.commit()

    def targets() -> list[tuple[object, ...]]:
        with engine.connect() as connection:
            cells = connection.execute(
                text("SELECT sector, targeted FROM totals_cells ORDER BY sector")
            ).all()
            slots = connection.execute(text("SELECT sum(targeted) FROM totals_slots")).scalar()
            places = connection.execute(text("SELECT targeted FROM totals_places")).all()
        return [*map(tuple, cells), slots, *map(tuple, places)]

    def carried() -> list[int]:
        with Session(engine) as session:
            query = select(SitrepLine.year_target).order_by(SitrepLine.id)
            return list(session.scalars(query))

    assert targets() == [("shelter", 1500), ("wash", 300), 1800, (1800,)]
    assert carried() == [0, 300, 1500, 0, 0, 0]
    command.downgrade(config, "3f1c2a7d9b10")
    # Before: every statement added up.
    assert targets() == [("shelter", 2500), ("wash", 300), 2800, (2800,)]
    command.upgrade(config, "head")
    assert targets() == [("shelter", 1500), ("wash", 300), 1800, (1800,)]
    assert carried() == [0, 300, 1500, 0, 0, 0]
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT shelter_targeted, wash_targeted FROM totals_places")
        ).one()
    assert tuple(row) == (1500, 300)
    engine.dispose()


def test_the_sex_and_age_migration_splits_the_reach_already_stored(
    empty_database_url: str,
) -> None:
    """The backfill is the summaries' own definition (app.totals.summaries), run by
    migrations/env.py once the upgrade reaches head."""
    from sqlalchemy.orm import Session

    from app.auth import service as auth
    from app.auth.models import Role
    from app.sitreps import service as sitreps
    from app.sitreps.schemas import SitrepCreate
    from tests.factories import line, sitrep

    config = alembic_config(empty_database_url)
    command.upgrade(config, "head")
    engine = create_engine(empty_database_url)
    with Session(engine) as session:
        officer = auth.create_user(session, name="officer", role=Role.field, countries=["SDN"])
        given = {"women": 400, "men": 300, "girls": 260, "boys": 240}
        body = sitrep(line("shelter", reached=1200, new=300, disaggregation=given), line("wash"))
        sitreps.submit(session, data=SitrepCreate.model_validate(body), user=officer)
        session.commit()

    def split() -> list[tuple[object, ...]]:
        columns = "women, men, girls, boys, not_disaggregated"
        with engine.connect() as connection:
            return [
                tuple(row)
                for name in ("totals_cells", "totals_slots", "totals_places")
                for row in connection.execute(
                    text(f"SELECT {columns} FROM {name} ORDER BY {columns}")
                )
            ]

    kept = split()
    assert kept == [(0, 0, 0, 0, 100), (100, 75, 65, 60, 0)] * 2 + [(100, 75, 65, 60, 100)]
    command.downgrade(config, "e5f6a7b8c9d0")
    with engine.connect() as connection:
        assert "women" not in {c["name"] for c in inspect(connection).get_columns("totals_cells")}
    command.upgrade(config, "head")
    assert split() == kept
    engine.dispose()
