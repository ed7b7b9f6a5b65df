"""A cheap request floor (issue 11, item 6): each server process keeps the tokens it has
checked for at most TRACKER_AUTH_CACHE_SECONDS (1 s), so an authenticated request usually
needs no database, and a token revoked anywhere (the CLI, another worker) is refused by
every process once that time has passed.

Most tests here drive the cache's clock by hand, so what they check does not depend on how
fast the machine is; the last one runs real worker processes on the real clock."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import delete, event, insert, update

from app.auth import service as auth
from app.auth.models import ApiToken, User, UserCountry
from app.config import Settings, get_settings
from app.db import get_engine
from tests.factories import Api, assert_problem, make_user
from tests.servers import ROOT, cli_command, running

TTL = 1.0  # the default


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(migrated: str) -> Iterator[Clock]:
    manual = Clock()
    auth.token_cache.clear()
    auth.token_cache.clock = manual
    yield manual
    auth.token_cache.clock = time.monotonic
    auth.token_cache.clear()


@pytest.fixture
def checkouts(migrated: str) -> Iterator[list[object]]:
    """Every connection the service takes from the pool while the test runs."""
    taken: list[object] = []

    def record(*args: Any) -> None:
        taken.append(args[0])

    engine = get_engine()
    event.listen(engine, "checkout", record)
    yield taken
    event.remove(engine, "checkout", record)


def _behind_the_cache(*statements: Any) -> None:
    """Changes the database the way another process would (the CLI, another worker): not
    through this process's services, so its cache hears nothing of it."""
    with get_engine().begin() as connection:
        for statement in statements:
            connection.execute(statement)


def _user_id(api: Api) -> int:
    return int(api.get("/api/v1/me").json()["id"])


def _assert_refused(response: httpx.Response) -> None:
    body = assert_problem(response, 401)
    assert body["detail"] == "The API token is not valid, or it has been revoked."


def test_a_checked_token_needs_no_database(client, clock: Clock, checkouts: list[object]) -> None:
    api = Api(client, make_user("field", countries=["TCD", "SDN"]))
    first = api.get("/api/v1/me")
    assert first.status_code == 200 and checkouts
    checkouts.clear()
    again = api.get("/api/v1/me")
    assert again.status_code == 200 and again.json() == first.json()
    assert again.json()["countries"] == ["SDN", "TCD"]
    assert checkouts == []


def test_a_revoked_token_is_refused_once_the_ttl_has_passed(client, clock: Clock) -> None:
    token = make_user("hq")
    api = Api(client, token)
    _user_id(api)
    _behind_the_cache(
        update(ApiToken)
        .where(ApiToken.token_hash == auth.hash_token(token))
        .values(revoked_at=auth.utcnow())
    )
    # Within the TTL this process still trusts what it read: that is the bound it promises.
    assert api.get("/api/v1/me").status_code == 200
    clock.advance(TTL)
    _assert_refused(api.get("/api/v1/me"))
    # Refused tokens are not kept: every later request asks the database, and is refused.
    for _ in range(3):
        clock.advance(TTL / 3)
        _assert_refused(api.get("/api/v1/me"))
        _assert_refused(api.get("/api/v1/sitreps"))


def test_the_ttl_counts_from_the_lookup_not_from_the_last_use(client, clock: Clock) -> None:
    """A token used all the time is still checked again every TTL: using it does not keep
    its entry alive."""
    token = make_user("hq")
    api = Api(client, token)
    _user_id(api)
    for _ in range(9):
        clock.advance(TTL / 10)
        assert api.get("/api/v1/me").status_code == 200
    _behind_the_cache(
        update(ApiToken)
        .where(ApiToken.token_hash == auth.hash_token(token))
        .values(revoked_at=auth.utcnow())
    )
    clock.advance(TTL / 10)
    _assert_refused(api.get("/api/v1/me"))


def test_a_changed_role_and_scope_are_honoured_within_the_ttl(client, clock: Clock) -> None:
    api = Api(client, make_user("field", countries=["SDN"]))
    user_id = _user_id(api)
    _behind_the_cache(
        delete(UserCountry).where(UserCountry.user_id == user_id),
        insert(UserCountry).values(user_id=user_id, country="TCD"),
    )
    clock.advance(TTL)
    assert api.get("/api/v1/me").json()["countries"] == ["TCD"]
    assert_problem(api.get("/api/v1/sitreps", params={"country": "SDN"}), 403)
    assert api.get("/api/v1/sitreps", params={"country": "TCD"}).status_code == 200

    _behind_the_cache(
        delete(UserCountry).where(UserCountry.user_id == user_id),
        update(User).where(User.id == user_id).values(role="hq"),
    )
    clock.advance(TTL)
    me = api.get("/api/v1/me").json()
    assert (me["role"], me["countries"], me["clusters"]) == ("hq", [], [])
    assert api.get("/api/v1/sitreps", params={"country": "SDN"}).status_code == 200


def test_revoking_in_this_process_takes_effect_at_once(client, clock: Clock) -> None:
    api = Api(client, make_user("admin", name="leaving"))
    _user_id(api)
    with auth.new_session() as session:
        auth.revoke_tokens(session, user=auth.get_user_by_name(session, name="leaving"))
        session.commit()
    _assert_refused(api.get("/api/v1/me"))


def test_unknown_tokens_are_not_kept(client, clock: Clock, checkouts: list[object]) -> None:
    for _ in range(2):
        checkouts.clear()
        _assert_refused(client.get("/api/v1/me", headers={"Authorization": "Bearer ct_nope"}))
        assert checkouts
    assert auth.token_cache.entries == {}


@pytest.fixture
def no_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TRACKER_AUTH_CACHE_SECONDS", "0")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_a_ttl_of_zero_checks_every_request(
    client, clock: Clock, checkouts: list[object], no_cache: None
) -> None:
    token = make_user("hq")
    api = Api(client, token)
    for _ in range(2):
        checkouts.clear()
        _user_id(api)
        assert checkouts
    _behind_the_cache(
        update(ApiToken)
        .where(ApiToken.token_hash == auth.hash_token(token))
        .values(revoked_at=auth.utcnow())
    )
    _assert_refused(api.get("/api/v1/me"))


@pytest.mark.parametrize("seconds", ["1.5", "-1"])
def test_the_ttl_cannot_exceed_one_second(monkeypatch: pytest.MonkeyPatch, seconds: str) -> None:
    monkeypatch.setenv("TRACKER_AUTH_CACHE_SECONDS", seconds)
    with pytest.raises(ValidationError, match="auth_cache_seconds"):
        Settings()


def test_cli_revocation_reaches_every_worker_within_the_ttl(migrated: str, tmp_path: Path) -> None:
    """Two worker processes have both checked the token; `crisis-tracker users revoke`,
    a third process, revokes it. Once the TTL has passed, no worker accepts it."""
    ttl = 0.5
    token = make_user("hq", name="roaming")
    other = make_user("hq")
    with running(
        migrated, tmp_path / "server.log", workers=2, auth_cache_seconds=str(ttl)
    ) as server:
        me = f"{server.url}/api/v1/me"

        def get(bearer: str) -> httpx.Response:
            # A connection each, so that the kernel spreads them over both workers.
            return httpx.get(me, headers={"Authorization": f"Bearer {bearer}"}, timeout=10)

        assert all(get(token).status_code == 200 for _ in range(20))
        revoked = subprocess.run(
            [*cli_command(), "users", "revoke", "roaming"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "TRACKER_DATABASE_URL": migrated},
        )
        assert "revoked 1 token(s)" in revoked.stdout, revoked.stderr
        # The revocation has committed: every entry made before it expires within the TTL.
        time.sleep(ttl)
        for _ in range(20):
            _assert_refused(get(token))
        # Other users' tokens are not affected.
        assert all(get(other).status_code == 200 for _ in range(5))
