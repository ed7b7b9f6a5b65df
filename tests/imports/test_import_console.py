"""The import report of the command line, read from a pipe or a file."""

import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app as cli
from tests.factories import make_user
from tests.servers import cli_command

HEADER = "country,period_start,period_end,sector,division,phase,admin1,people_reached"
# An admin1 name long enough that its problem's line is far wider than 80 columns.
NOWHERE = "A Place Whose Name Goes On For Long Enough To Need More Than Eighty Columns"
ROWS = [
    "SDN,2024-03-01,2024-03-31,shelter,hod,response,SD01,100",
    f"SDN,2024-04-01,2024-04-30,shelter,hod,response,{NOWHERE},100",
]


@pytest.fixture
def sheet(migrated: str, tmp_path: Path) -> Path:
    make_user("field", countries=["SDN"], name="amina")
    path = tmp_path / "5w.csv"
    path.write_text("\n".join([HEADER, *ROWS]) + "\n")
    return path


def test_a_piped_report_keeps_each_line_whole(sheet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It used to be wrapped at 80 columns, cutting names and reasons across lines."""
    monkeypatch.delenv("COLUMNS", raising=False)
    result = CliRunner().invoke(cli, ["import", str(sheet), "--user", "amina", "--dry-run"])
    assert result.exit_code == 1, result.output
    problem = next(line for line in result.stdout.splitlines() if NOWHERE in line)
    assert f"'{NOWHERE}' is not an admin1 name" in problem
    assert len(problem) > 80
    columns = next(line for line in result.stdout.splitlines() if line.startswith("columns: "))
    assert "people_reached=people_reached" in columns


def test_columns_still_sets_the_width(sheet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    result = CliRunner().invoke(cli, ["import", str(sheet), "--user", "amina", "--dry-run"])
    assert max(len(line) for line in result.stdout.splitlines()) <= 60


def test_the_installed_command_piped_keeps_each_line_whole(sheet: Path, migrated: str) -> None:
    result = subprocess.run(
        [*cli_command(), "import", str(sheet), "--user", "amina", "--dry-run"],
        env={"PATH": "/usr/bin:/bin", "TRACKER_DATABASE_URL": migrated},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert f"'{NOWHERE}' is not an admin1 name" in result.stdout
