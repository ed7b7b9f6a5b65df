"""The rate limit shared through Redis by every worker and server (TRACKER_REDIS_URL).

Runs when TRACKER_TEST_REDIS names a Redis database (.ci/run sets
``redis://127.0.0.1:6379/15``); each test writes its keys under a prefix of its own, so
that runs sharing one Redis do not count each other's requests. In CI (CI=true, or
TRACKER_REQUIRE_REDIS=1 as .ci/run sets) a Redis named but unreachable, or a missing
redis-server, fails the tests instead of skipping them."""

import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.factories import make_user
from tests.servers import free_port, running

REDIS_URL = os.environ.get("TRACKER_TEST_REDIS")
REQUIRED = os.environ.get("CI") == "true" or os.environ.get("TRACKER_REQUIRE_REDIS") == "1"


def _missing(reason: str) -> None:
    if REQUIRED:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def redis_url() -> str:
    if not REDIS_URL:
        pytest.skip("set TRACKER_TEST_REDIS (e.g. redis://127.0.0.1:6379/15) to test with Redis")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        _missing(f"TRACKER_TEST_REDIS={REDIS_URL} is not reachable: {exc}")
    return REDIS_URL


@pytest.fixture
def key_prefix(redis_url: str) -> Iterator[str]:
    prefix = f"crisis-tracker-test-{uuid.uuid4().hex}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{prefix}:*"):
        client.delete(key)


def _me(base_url: str, token: str) -> int:
    # A connection of its own each time, so that a server's workers all take their share.
    return httpx.get(
        f"{base_url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).status_code


def test_every_worker_and_server_share_the_limit_through_redis(
    migrated: str, tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    """Two servers, the first with two workers: 6 requests in 10 minutes between them,
    where each of the three processes alone would let 6 through."""
    token = make_user("hq")
    limit = {
        "rate_limit_per_minute": "1",
        "rate_limit_burst": "6",
        "redis_url": redis_url,
        "redis_key_prefix": key_prefix,
    }
    with (
        running(migrated, tmp_path / "first.log", workers=2, **limit) as first,
        running(migrated, tmp_path / "second.log", **limit) as second,
    ):
        statuses = [_me(first.url, token) for _ in range(4)]
        statuses += [_me(second.url, token) for _ in range(2)]
        assert statuses == [200] * 6
        after = [_me(server.url, token) for server in (first, second, first, second)]
        assert after == [429] * 4
        assert "Redis is not answering" not in first.log_text() + second.log_text()
    keys = redis.Redis.from_url(redis_url).keys(f"{key_prefix}:*")
    assert len(keys) == 1 and b"user:" in keys[0]


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Redis server of this test's own, which it may freeze."""
    binary = shutil.which("redis-server")
    if binary is None:
        _missing("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url, socket_connect_timeout=1).ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url, process
    finally:
        process.send_signal(signal.SIGCONT)
        process.kill()
        process.wait()


def test_a_frozen_redis_leaves_requests_answered_and_limited_per_process(
    migrated: str, tmp_path: Path, own_redis: tuple[str, subprocess.Popen[bytes]]
) -> None:
    """Redis stopped by SIGSTOP: each request waits for it at most the limiter's Redis
    timeout once, then the process counts on its own (still limited) and says so in its
    log; once Redis answers again, the limit is shared again."""
    url, process = own_redis
    token = make_user("hq")
    with running(
        migrated,
        tmp_path / "server.log",
        rate_limit_per_minute="1",
        rate_limit_burst="3",
        redis_url=url,
    ) as server:
        assert _me(server.url, token) == 200  # counted in Redis
        process.send_signal(signal.SIGSTOP)
        started = time.monotonic()
        statuses = [_me(server.url, token) for _ in range(4)]
        elapsed = time.monotonic() - started
        # In this process's memory: a budget of its own, 3, then the limit again.
        assert statuses == [200, 200, 200, 429]
        assert elapsed < 3, elapsed  # one Redis timeout (0.5 s), not one per request
        assert "Redis is not answering" in server.log_text()
        process.send_signal(signal.SIGCONT)
        time.sleep(5.5)  # the limiter tries Redis again 5 s after it failed
        # Counted in Redis again: the first request and, maybe, the one that timed out
        # (Redis read it from its socket when it woke up) already hold 2 of its 3 places.
        again = [_me(server.url, token) for _ in range(3)]
        assert again in ([200, 429, 429], [200, 200, 429]), again
        assert "Redis answers again" in server.log_text()
