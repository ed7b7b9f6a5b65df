"""`crisis-tracker db backup` and `db restore` of the embedded SQLite database, taken while
sitreps are being written, and what a restored database holds."""

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.cli import app as cli
from app.db import sqlite_file
from app.schema import shipped_migrations
from app.sitreps.models import Sitrep
from tests.counting import assert_summaries_equal_recount
from tests.factories import line, sitrep

runner = CliRunner()

pytestmark = pytest.mark.usefixtures("migrated")


@pytest.fixture
def sqlite_only(migrated: str) -> None:
    if sqlite_file(migrated) is None:
        pytest.skip("db backup and db restore are for the embedded SQLite database")


def _month(i: int) -> dict[str, Any]:
    # One slot per submission: a sector and admin1 of its own, a month of 2024.
    sectors = ("shelter", "wash", "cccm", "cash", "health")
    return sitrep(
        line(sectors[i % 5], admin1=f"SD{(i // 5) % 18 + 1:02d}", reached=100 + i),
        start=f"2024-{i // 90 % 12 + 1:02d}-01",
        end=f"2024-{i // 90 % 12 + 1:02d}-28",
    )


def _during_writes(field: Any, take: Callable[[], Any]) -> tuple[set[int], set[int], Any]:
    """Writes 20 sitreps, then goes on writing on a thread while ``take`` runs (once 5 more
    are in) and until 40 are in after it began. Returns the ids acknowledged before
    ``take`` began, every acknowledged id, and what ``take`` returned."""
    before = [field.post("/api/v1/sitreps", json=_month(i)).json()["id"] for i in range(20)]
    acknowledged: list[tuple[int, bool]] = []  # (id, answered before take began)
    started = threading.Event()
    stop = threading.Event()

    def write() -> None:
        i = 20
        while not stop.is_set():
            response = field.post("/api/v1/sitreps", json=_month(i))
            assert response.status_code == 201, response.text
            acknowledged.append((response.json()["id"], not started.is_set()))
            i += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while len(acknowledged) < 5:
            threading.Event().wait(0.01)
        started.set()
        taken = take()
        while len(acknowledged) < 40:  # writes go on after it too
            threading.Event().wait(0.01)
    finally:
        stop.set()
        writer.join()
    early = set(before) | {i for i, was_early in acknowledged if was_early}
    return early, set(before) | {i for i, _ in acknowledged}, taken


def test_a_backup_taken_while_sitreps_are_written_restores_every_acknowledged_one(
    api, sqlite_only: None, tmp_path: Path
) -> None:
    target = tmp_path / "tracker-backup.db"
    early, acknowledged, result = _during_writes(
        api("field", countries=["SDN"]),
        lambda: runner.invoke(cli, ["db", "backup", str(target)]),
    )
    assert result.exit_code == 0, result.output
    assert f"to {target}" in result.stdout and "schema revision" in result.stdout

    # The copy: a whole database at this release's revision, with every sitrep
    # acknowledged before the backup began, and summaries equal to a recount.
    copy = create_engine(f"sqlite:///{target}")
    with Session(copy) as session:
        stored = set(session.scalars(select(Sitrep.id)))
        summaries = assert_summaries_equal_recount(session)
    copy.dispose()
    assert early <= stored
    later = acknowledged - stored
    assert later, "writes went on after the backup; some came after its moment"
    with sqlite3.connect(target) as raw:
        assert raw.execute("SELECT version_num FROM alembic_version").fetchone()[0] in (
            shipped_migrations().get_heads()
        )
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    raw.close()

    # Restoring it brings the database back to that moment: later sitreps are gone.
    result = runner.invoke(cli, ["db", "restore", str(target), "--yes"])
    assert result.exit_code == 0, result.output
    assert f"{len(stored)} sitrep(s)" in result.stdout
    hq = api("hq")
    listed = hq.get("/api/v1/sitreps", params={"limit": 500}).json()["items"]
    assert {s["id"] for s in listed} == stored
    rows = hq.get("/api/v1/totals", params={"group_by": "sector,admin1", "year": "2024"}).json()[
        "rows"
    ]
    assert [(r["sector"], r["admin1"], r["people_reached"]) for r in rows] == [
        (r["sector"], r["admin1"], r["people_reached"]) for r in summaries
    ]
    for sitrep_id in later:
        assert hq.get(f"/api/v1/sitreps/{sitrep_id}").status_code == 404
    print(
        f"\nSQLite backup during writes: {len(early)} sitreps acknowledged before it began, "
        f"{len(stored)} in it, {len(later)} acknowledged after its moment; restored: "
        f"{len(listed)} listed, totals equal to a recount"
    )


def test_a_backup_never_overwrites_and_a_bad_file_is_never_restored(
    api, sqlite_only: None, tmp_path: Path
) -> None:
    field = api("field", countries=["SDN"])
    kept = field.post("/api/v1/sitreps", json=_month(0)).json()["id"]

    existing = tmp_path / "exists.db"
    existing.write_bytes(b"keep me")
    result = runner.invoke(cli, ["db", "backup", str(existing)])
    assert result.exit_code == 1
    assert "exists: name a new file" in result.stderr
    assert existing.read_bytes() == b"keep me"

    not_a_database = tmp_path / "notes.txt"
    not_a_database.write_text("these are not the sitreps you are looking for\n" * 50)
    other_database = tmp_path / "other.db"
    sqlite3.connect(other_database).execute("CREATE TABLE t (x)").connection.close()
    for bad, message in (
        (tmp_path / "missing.db", "There is no backup at"),
        (not_a_database, "is not a crisis-tracker database"),
        (other_database, "is not a crisis-tracker database"),
    ):
        result = runner.invoke(cli, ["db", "restore", str(bad), "--yes"])
        assert result.exit_code == 1, result.output
        assert message in result.stderr, result.stderr
        assert "Traceback" not in result.output

    # A backup of a newer release's schema is refused too.
    newer = tmp_path / "newer.db"
    assert runner.invoke(cli, ["db", "backup", str(newer)]).exit_code == 0
    with sqlite3.connect(newer) as raw:
        raw.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    raw.close()
    result = runner.invoke(cli, ["db", "restore", str(newer), "--yes"])
    assert result.exit_code == 1
    assert "made by a newer release (schema revision ffffffffffff)" in result.stderr

    # Asked, and not confirmed: nothing restored.
    result = runner.invoke(cli, ["db", "restore", str(newer)], input="n\n")
    assert result.exit_code == 1 and "nothing was restored" in result.stderr

    # After all of that the database is as it was.
    assert api("hq").get(f"/api/v1/sitreps/{kept}").json()["id"] == kept


def test_backup_and_restore_name_postgresql_s_own_tools_for_postgresql(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from app.config import get_settings

    monkeypatch.setenv("TRACKER_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1/x")
    get_settings.cache_clear()
    try:
        for args in (["db", "backup", str(tmp_path / "b.db")], ["db", "restore", "x", "--yes"]):
            result = runner.invoke(cli, args)
            assert result.exit_code == 2
            assert "backed up with PostgreSQL's tools" in result.stderr
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


# --- PostgreSQL: the README's procedure for small installs (pg_dump, pg_restore) ---------


def _libpq(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def test_a_pg_dump_taken_during_writes_restores_every_sitrep_acknowledged_before_it(
    api, migrated: str, tmp_path: Path
) -> None:
    import os
    import shutil
    import subprocess
    import uuid

    from sqlalchemy import text

    if migrated.startswith("sqlite"):
        pytest.skip("the PostgreSQL procedure needs PostgreSQL")
    if os.environ.get("TRACKER_TEST_PGBOUNCER"):
        pytest.skip("pg_dump talks to PostgreSQL itself, not through PgBouncer")
    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed")
    dump = tmp_path / "tracker.dump"
    # The README's commands: a dump in custom format, one consistent snapshot.
    early, acknowledged, _ = _during_writes(
        api("field", countries=["SDN"]),
        lambda: subprocess.run(
            ["pg_dump", "--format=custom", f"--file={dump}", _libpq(migrated)], check=True
        ),
    )

    from sqlalchemy.engine import make_url

    server = make_url(migrated)
    name = f"crisis_tracker_restored_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    restored_url = server.set(database=name).render_as_string(hide_password=False)
    try:
        subprocess.run(
            [
                "pg_restore",
                "--no-owner",
                "--exit-on-error",
                f"--dbname={_libpq(restored_url)}",
                str(dump),
            ],
            check=True,
        )
        restored = create_engine(restored_url)
        with Session(restored) as session:
            assert session.execute(text("SELECT version_num FROM alembic_version")).scalar() in (
                shipped_migrations().get_heads()
            )
            stored = set(session.scalars(select(Sitrep.id)))
            assert_summaries_equal_recount(session)
            # The sequences came back too: a new sitrep gets a new id.
            assert session.execute(text("SELECT nextval('feed_seq')")).scalar() > 0
        restored.dispose()
        assert early <= stored
        print(
            f"\npg_dump during writes: {len(early)} sitreps acknowledged before it began, "
            f"{len(stored)} restored ({len(acknowledged - stored)} acknowledged after its "
            "snapshot), schema at head, totals equal to a recount"
        )
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
