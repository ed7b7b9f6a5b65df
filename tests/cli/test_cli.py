import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app as cli
from tests.factories import Api, assert_problem
from tests.servers import cli_command

runner = CliRunner()


def _last_line(output: str) -> str:
    return output.strip().splitlines()[-1]


def test_users_create_prints_a_working_token_as_last_line(migrated: str, client) -> None:
    result = runner.invoke(
        cli, ["users", "create", "amina", "--role", "field", "--country", "sdn", "--country", "TCD"]
    )
    assert result.exit_code == 0, result.output
    token = _last_line(result.stdout)
    assert token.startswith("ct_") and " " not in token
    me = Api(client, token).get("/api/v1/me")
    assert me.json() == {
        "id": me.json()["id"],
        "name": "amina",
        "role": "field",
        "countries": ["SDN", "TCD"],
        "clusters": [],
    }


def test_users_revoke_makes_every_token_of_the_user_fail(migrated: str, client) -> None:
    first = _last_line(runner.invoke(cli, ["users", "create", "omar", "--role", "hq"]).stdout)
    second = _last_line(runner.invoke(cli, ["users", "token", "omar"]).stdout)
    assert first != second
    assert Api(client, second).get("/api/v1/me").status_code == 200
    result = runner.invoke(cli, ["users", "revoke", "omar"])
    assert result.exit_code == 0 and "revoked 2 token(s)" in result.stdout
    for token in (first, second):
        assert_problem(Api(client, token).get("/api/v1/me"), 401)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["users", "create", "x", "--role", "field"], "a field officer needs at least one country"),
        (["users", "create", "x", "--role", "field", "--country", "XYZ"], "XYZ is not an ISO"),
        (["users", "create", "x", "--role", "coordinator"], "needs at least one cluster"),
        (
            ["users", "create", "x", "--role", "coordinator", "--cluster", "food"],
            "food is not a cluster",
        ),
        (["users", "create", "x", "--role", "hq", "--country", "SDN"], "give them no scope"),
        (["users", "revoke", "nobody"], "There is no user named 'nobody'"),
    ],
)
def test_users_bad_input_is_refused_with_a_reason(migrated: str, args, message) -> None:
    result = runner.invoke(cli, args)
    assert result.exit_code == 1
    assert message in result.stderr


def test_users_create_twice_is_refused(migrated: str) -> None:
    assert runner.invoke(cli, ["users", "create", "dup", "--role", "hq"]).exit_code == 0
    result = runner.invoke(cli, ["users", "create", "dup", "--role", "hq"])
    assert result.exit_code == 1 and "already exists" in result.stderr


def test_unknown_role_is_a_usage_error(migrated: str) -> None:
    result = runner.invoke(cli, ["users", "create", "x", "--role", "boss"])
    assert result.exit_code == 2


def test_demo_loads_amended_and_withdrawn_sitreps_and_prints_a_token_per_role(
    migrated: str, client
) -> None:
    result = runner.invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    tokens = {
        parts[0]: parts[1]
        for parts in (line.split() for line in result.stdout.splitlines())
        if len(parts) == 2 and parts[1].startswith("ct_")
    }
    assert set(tokens) == {"demo-admin", "demo-hq", "demo-field", "demo-coordinator"}
    roles = {
        name: Api(client, token).get("/api/v1/me").json()["role"] for name, token in tokens.items()
    }
    assert roles == {
        "demo-admin": "admin",
        "demo-hq": "hq",
        "demo-field": "field",
        "demo-coordinator": "coordinator",
    }

    hq = Api(client, tokens["demo-hq"])
    crises = hq.get("/api/v1/crises").json()["items"]
    assert {"SDN", "TCD", "HTI", "AFG", "TUR", "SYR"} <= {c for x in crises for c in x["countries"]}
    totals = hq.get("/api/v1/totals", params={"group_by": "sector"}).json()["rows"]
    assert {r["year"] for r in totals} == {2024, 2025}
    assert {r["sector"] for r in totals} == {"shelter", "wash", "cccm", "cash", "health"}
    divisions = hq.get("/api/v1/totals", params={"group_by": "division,phase"}).json()["rows"]
    assert {(r["division"], r["phase"]) for r in divisions} == {
        ("hod", "response"),
        ("prd", "recovery"),
        ("pcca", "preparedness"),
    }
    withdrawn = hq.get("/api/v1/sitreps", params={"status": "withdrawn"}).json()["items"]
    assert len(withdrawn) == 1 and withdrawn[0]["withdrawal_reason"]
    amended = [
        s
        for s in hq.get("/api/v1/sitreps", params={"limit": 1000}).json()["items"]
        if s["revision"] > 1
    ]
    assert len(amended) >= 10

    # Loading again issues fresh tokens and adds nothing.
    again = runner.invoke(cli, ["demo"])
    assert again.exit_code == 0 and "already loaded" in again.stdout
    assert hq.get("/api/v1/totals", params={"group_by": "sector"}).json()["rows"] == totals


def test_the_cli_says_a_setting_is_wrong_in_one_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TRACKER_DATABASE_URL": "postgresql+psycopg://tracker@/tracker?host=a:1&host=b:2",
    }
    result = subprocess.run(
        [*cli_command(), "users", "token", "amina"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "configuration error: TRACKER_DATABASE_URL names several servers: add "
        "target_session_attrs=read-write, so that the service always writes to whichever "
        "of them is the primary"
    )
