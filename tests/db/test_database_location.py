"""One database wherever a command runs, none made by accident, and a one-line answer when
the migrations are not applied: through the installed command, as an operator runs it."""

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from typer.testing import CliRunner

from app import schema
from app.cli import app as cli
from app.db import alembic_config, make_engine
from tests.factories import assert_problem
from tests.servers import cli_command

HINT = "crisis-tracker db upgrade"
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The user's data directory (platformdirs reads XDG_DATA_HOME on Linux)."""
    return tmp_path / "xdg"


@pytest.fixture
def run(tmp_path: Path, home: Path) -> Run:
    """Runs `crisis-tracker ARGS` in a directory of tmp_path with no TRACKER_ database
    settings, unless given."""

    def run(
        *args: str, cwd: str = "elsewhere", **settings: str
    ) -> subprocess.CompletedProcess[str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("TRACKER_DATABASE_URL", "TRACKER_DATA_DIR")
        }
        env.update(XDG_DATA_HOME=str(home), **settings)
        where = tmp_path / cwd
        where.mkdir(exist_ok=True)
        return subprocess.run(
            [*cli_command(), *args], cwd=where, env=env, capture_output=True, text=True, timeout=120
        )

    return run


def _files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []


def _databases(path: Path) -> list[Path]:
    """SQLite files under ``path``, not counting their -wal and -shm companions."""
    return [p for p in _files(path) if p.suffix == ".db"]


def test_a_command_with_no_database_says_so_in_one_line_and_makes_none(
    run: Run, tmp_path: Path, home: Path
) -> None:
    """It used to make ./data/crisis-tracker.db, then print a 150-line traceback."""
    for args in (["users", "token", "amina"], ["users", "create", "x", "--role", "hq"]):
        result = run(*args)
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert HINT in result.stderr
        assert str(home / "crisis-tracker" / "crisis-tracker.db") in result.stderr
        assert result.stdout == ""
    assert _files(tmp_path) == []


def test_serve_with_no_database_exits_2_in_one_line(run: Run, tmp_path: Path) -> None:
    result = run("serve", "--port", "1")
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert HINT in result.stderr
    assert _files(tmp_path) == []


def test_every_command_finds_the_same_database_wherever_it_runs(
    run: Run, tmp_path: Path, home: Path
) -> None:
    assert run("db", "upgrade", cwd="here").returncode == 0
    created = run("users", "create", "amina", "--role", "hq", cwd="there")
    assert created.returncode == 0, created.stderr
    token = run("users", "token", "amina", cwd="third")
    assert token.returncode == 0, token.stderr
    assert token.stdout.strip().startswith("ct_")
    assert _databases(tmp_path) == [home / "crisis-tracker" / "crisis-tracker.db"]


def test_a_database_in_local_data_is_still_used_and_named(
    run: Run, tmp_path: Path, home: Path
) -> None:
    """A demo made before the database moved is not lost: ./data/crisis-tracker.db, when it
    exists and no setting names another, is the database, and each command says so."""
    assert run("db", "upgrade", cwd="project", TRACKER_DATA_DIR="data").returncode == 0
    local = tmp_path / "project" / "data" / "crisis-tracker.db"
    assert local.is_file()
    result = run("users", "create", "omar", "--role", "hq", cwd="project")
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert notes == [
        f"note: using the database in {local.parent} (found in the working directory); "
        "set TRACKER_DATA_DIR to use another"
    ]
    assert run("users", "token", "omar", cwd="project").returncode == 0
    assert _files(home) == []
    # A setting wins over ./data, and then nothing is said about it.
    elsewhere = run("users", "token", "omar", cwd="project", TRACKER_DATA_DIR=str(home))
    assert elsewhere.returncode == 2 and "note:" not in elsewhere.stderr


def test_a_command_on_a_database_at_an_older_revision_exits_2_in_one_line(
    run: Run, empty_database_url: str
) -> None:
    head = schema.shipped_migrations().get_heads()[0]
    older = schema.shipped_migrations().get_revision(head).down_revision
    assert isinstance(older, str)
    command.upgrade(alembic_config(empty_database_url), older)
    result = run("users", "token", "amina", TRACKER_DATABASE_URL=empty_database_url)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert older in result.stderr and head in result.stderr and HINT in result.stderr
    serve = run("serve", "--port", "1", TRACKER_DATABASE_URL=empty_database_url)
    assert serve.returncode == 2 and HINT in serve.stderr


def test_an_import_on_an_empty_database_exits_2_in_one_line(
    migrated: str, empty_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through typer's runner: the command's own check, whichever engine it is given."""
    engine = make_engine(empty_database_url, create=True)
    with engine.connect():
        pass  # the database exists (an SQLite file too), with no schema
    monkeypatch.setattr("app.cli.get_engine", lambda: engine)
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("country,sector,people_reached\nSDN,shelter,1\n")
    result = CliRunner().invoke(cli, ["import", str(sheet), "--user", "amina"])
    engine.dispose()
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and HINT in result.stderr
    assert "empty database" in result.stderr


def test_the_api_on_an_unmigrated_database_says_so(
    client, empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every API request, not only /readyz: it used to be 503 "The database is not
    answering" on a database that answered."""
    engine = make_engine(empty_database_url)
    monkeypatch.setattr(schema, "get_engine", lambda: engine)
    for url in ("/api/v1/me", "/api/v1/sitreps", "/api/v1/clusters/shelter/feed"):
        response = client.get(url, headers={"Authorization": "Bearer ct_whatever"})
        body = assert_problem(response, 503)
        assert body["type"] == "urn:crisis-tracker:problem:migrations-pending"
        assert HINT in body["detail"] and "empty database" in body["detail"]
        assert response.headers["Retry-After"]
    assert schema.missing_file(engine) == empty_database_url.startswith("sqlite")

    command.upgrade(alembic_config(empty_database_url), "head")
    # Migrated, the request goes on (to the test database's authentication here).
    assert_problem(client.get("/api/v1/me", headers={"Authorization": "Bearer ct_x"}), 401)
    engine.dispose()
