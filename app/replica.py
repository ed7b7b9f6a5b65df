"""Whether a read may go to the PostgreSQL hot standby.

A read goes to the replica when the replica answers, is not too far behind the primary,
and has replayed the last write of the client asking (read-your-writes). Otherwise it goes
to the primary. The replica's state is checked at most once a second per process, in the
background, so that routing a request costs no query.

Lag: the replica is caught up (lag 0) when it has replayed all the WAL the primary had
written when asked (``pg_current_wal_lsn()``). Otherwise its lag is the age of the newest
transaction it has replayed (``now() - pg_last_xact_replay_timestamp()``). Replay time
alone would count an idle primary as lag; the LSN comparison comes first for that reason.
So a replica is read from only while it is at most about max lag + CHECK_SECONDS behind.

Read-your-writes: after a write commits, the primary's WAL position is remembered for the
client's API token, in this process; that client's reads go to the primary until the
replica is seen to have replayed up to it.
"""

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

logger = logging.getLogger(__name__)

CHECK_SECONDS = 1.0
# A measurement older than this (a process idle for a while) is not trusted: reads go to
# the primary until the check it starts has answered.
TRUSTED_SECONDS = 3.0

Status = Literal["unknown", "ok", "lagging", "down", "not a standby"]


def parse_lsn(lsn: str) -> int:
    """A PostgreSQL WAL position (``16/B374D848``) as a number, so positions compare."""
    high, _, low = lsn.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def current_lsn(connection: Connection) -> int:
    """The primary's WAL position: after a commit, at or past that commit."""
    return parse_lsn(connection.execute(text("SELECT pg_current_wal_lsn()::text")).scalar_one())


def client_key(authorization: str | None) -> str | None:
    """Who is asking, for read-your-writes: a digest of the credentials, so that no token
    is kept in memory."""
    if not authorization:
        return None
    return hashlib.sha256(authorization.encode()).hexdigest()


@dataclass(frozen=True)
class ReplicaState:
    status: Status
    replay_lsn: int | None = None
    lag_seconds: float | None = None
    checked_at: float = float("-inf")


class Replica:
    """A hot standby and what this process knows about it."""

    def __init__(self, engine: Engine, *, primary: Engine, max_lag_seconds: float) -> None:
        self.engine = engine
        self._primary = primary
        self._max_lag = max_lag_seconds
        self._state = ReplicaState("unknown")
        self._checking = threading.Lock()
        self._fences: dict[str, int] = {}
        self._fences_lock = threading.Lock()

    def state(self) -> ReplicaState:
        """The last known state. When it is older than CHECK_SECONDS, a check starts in the
        background; the request asking does not wait for it."""
        state = self._state
        stale = time.monotonic() - state.checked_at >= CHECK_SECONDS
        if stale and self._checking.acquire(blocking=False):
            threading.Thread(target=self._check_in_background, daemon=True).start()
        return state

    def serves(self, client: str | None) -> bool:
        """Whether this client's read may go to the replica now."""
        state = self.state()
        if state.status != "ok" or time.monotonic() - state.checked_at > TRUSTED_SECONDS:
            return False
        with self._fences_lock:
            fence = self._fences.get(client) if client else None
        return fence is None or (state.replay_lsn is not None and state.replay_lsn >= fence)

    def wrote(self, client: str, lsn: int) -> None:
        """The client's write committed at or before the primary's WAL position ``lsn``."""
        with self._fences_lock:
            self._fences[client] = max(lsn, self._fences.get(client, 0))

    def failed(self) -> None:
        """A request could not use the replica: read from the primary until the next check."""
        if self._state.status != "down":
            logger.warning("read replica failed; reading from the primary")
        self._state = ReplicaState("down", checked_at=time.monotonic())

    def check(self) -> ReplicaState:
        """Measures the replica now."""
        state = self._measure()
        if state.status != self._state.status and self._state.status != "unknown":
            logger.warning("read replica: %s (was %s)", state.status, self._state.status)
        self._state = state
        if state.status == "not a standby":
            # A multi-host URL (target_session_attrs=prefer-standby) connects to a primary
            # only when it finds no standby, for instance after a failover: connections
            # made again at the next check find a standby once one has rejoined.
            self.engine.dispose()
        if state.replay_lsn is not None:
            with self._fences_lock:
                replayed = [c for c, lsn in self._fences.items() if lsn <= state.replay_lsn]
                for client in replayed:
                    del self._fences[client]
        return state

    def _check_in_background(self) -> None:
        try:
            self.check()
        except Exception:
            logger.exception("read replica check failed")
            self._state = ReplicaState("down", checked_at=time.monotonic())
        finally:
            self._checking.release()

    def _measure(self) -> ReplicaState:
        now = time.monotonic()
        try:
            with self._primary.connect() as connection:
                primary_lsn: int | None = current_lsn(connection)
        except SQLAlchemyError:
            # The primary is down (the replica is then the freshest data there is) or its
            # pool is busy.
            primary_lsn = None
        try:
            with self.engine.connect() as connection:
                in_recovery, received, replayed, replay_age = connection.execute(
                    text(
                        "SELECT pg_is_in_recovery(), pg_last_wal_receive_lsn()::text,"
                        " pg_last_wal_replay_lsn()::text,"
                        " EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())"
                    )
                ).one()
        except SQLAlchemyError as exc:
            logger.info("read replica does not answer: %s", exc.__class__.__name__)
            return ReplicaState("down", checked_at=now)
        if not in_recovery or replayed is None:
            return ReplicaState("not a standby", checked_at=now)
        replay_lsn = parse_lsn(replayed)
        # Without the primary's position, the replica is measured against what it has
        # received: all of it replayed is as fresh as it can be.
        target = primary_lsn if primary_lsn is not None else parse_lsn(received or replayed)
        if replay_lsn >= target:
            lag = 0.0
        else:
            lag = float("inf") if replay_age is None else max(0.0, float(replay_age))
        status: Status = "ok" if lag <= self._max_lag else "lagging"
        return ReplicaState(status, replay_lsn=replay_lsn, lag_seconds=lag, checked_at=now)
