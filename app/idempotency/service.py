"""Idempotency keys: a retried write gets the first answer instead of a second effect.

As the IETF httpapi draft and Stripe describe them. A key is claimed in a short transaction
of its own before the request's work starts (``claim``); the answer is stored in the
request's own transaction, so it is committed exactly when the write is (``complete``);
if the request fails, the claim is dropped so the client can try again (``release``), as
soon as the database answers if it had gone away with the request (``Unreleased``). A claim
whose request died without an answer (the process was killed) lapses after a lease.
"""

import contextlib
import hashlib
import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, update
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from app.config import get_settings
from app.db import new_session, utcnow
from app.errors import BadRequest, Conflict, ValidationFailed
from app.i18n import _
from app.idempotency.models import IdempotencyKey

logger = logging.getLogger(__name__)

VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
# Headers of the first answer that a replay repeats.
REPLAYED_HEADERS = ("Location", "ETag")


@dataclass(frozen=True, slots=True)
class Claim:
    user_id: int
    key: str
    # When this request claimed the key. A retry that takes a lapsed claim over sets a new
    # time, so the first request can tell that the claim is no longer its own (a fencing
    # token): it may then neither store its answer nor drop the retry's claim.
    claimed_at: datetime


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    status: int
    headers: dict[str, str]
    body: str


class KeyReused(ValidationFailed):
    type = "urn:crisis-tracker:problem:idempotency-key-reused"

    def __init__(self, key: str) -> None:
        super().__init__(
            [
                (
                    ("header", "Idempotency-Key"),
                    _(
                        "{key} was used with a different request; use a new key for a new request",
                        key=repr(key),
                    ),
                )
            ]
        )


class KeyInUse(Conflict):
    type = "urn:crisis-tracker:problem:idempotency-key-in-use"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": "1"}


def check_key(key: str) -> None:
    if not VALID_KEY.match(key):
        raise BadRequest(
            _("Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID is ideal).")
        )


def fingerprint(method: str, target: str, body: bytes) -> str:
    """What makes two requests the same: method, path with query, and body, a JSON body
    compared by value (key order and spacing do not matter)."""
    # Not JSON, or nested too deeply to parse: compared byte for byte.
    with contextlib.suppress(ValueError, RecursionError):
        body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(method.encode() + b" " + target.encode() + b"\n" + body).hexdigest()


def claim(*, user_id: int, key: str, fingerprint: str) -> Claim | StoredAnswer:
    """Claims the key for a request, committing at once. Returns the stored answer when
    the same request was already answered; raises KeyReused (the key came with another
    request) or KeyInUse (the first request is still being processed)."""
    settings = get_settings()
    unreleased.release_now(user_id, key)
    now = utcnow()
    with new_session(writes=True) as session:
        session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.created_at < now - timedelta(hours=settings.idempotency_ttl_hours)
            )
        )
        row = session.get(IdempotencyKey, (user_id, key))
        if row is None:
            session.add(
                IdempotencyKey(
                    user_id=user_id,
                    key=key,
                    fingerprint=fingerprint,
                    created_at=now,
                    locked_at=now,
                )
            )
            claim = Claim(user_id=user_id, key=key, claimed_at=now)
            try:
                _commit(session, claim)
                return claim
            except IntegrityError:
                # A concurrent request with the same key claimed it first.
                session.rollback()
                row = session.get(IdempotencyKey, (user_id, key))
                if row is None:
                    raise KeyInUse(_in_use(key)) from None
        if row.fingerprint != fingerprint:
            raise KeyReused(key)
        if row.response_status is not None:
            return StoredAnswer(
                status=row.response_status,
                headers=dict(row.response_headers or {}),
                body=row.response_body or "",
            )
        lease = timedelta(seconds=settings.idempotency_lease_seconds)
        if row.locked_at is not None and row.locked_at > now - lease:
            raise KeyInUse(_in_use(key))
        # The request that claimed the key died without an answer: take the claim over.
        taken = session.execute(
            update(IdempotencyKey)
            .where(
                IdempotencyKey.user_id == user_id,
                IdempotencyKey.key == key,
                IdempotencyKey.response_status.is_(None),
                IdempotencyKey.locked_at == row.locked_at,
            )
            .values(locked_at=now)
        )
        claim = Claim(user_id=user_id, key=key, claimed_at=now)
        _commit(session, claim)
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            raise KeyInUse(_in_use(key))
        return claim


def _commit(session: Session, claim: Claim) -> None:
    """Commits a claim. A database that goes away during the commit may have made it
    without this process hearing so: the claim is then released once it answers again
    (``Unreleased``), else the retry would find the key in use until the lease ends."""
    try:
        session.commit()
    except OperationalError:
        unreleased.add(claim)
        raise


def complete(
    session: Session, claim: Claim, *, status: int, headers: dict[str, Any], body: str
) -> None:
    """Stores the answer in the request's transaction: it is kept if and only if the
    write it answers commits. If a retry took the claim over meanwhile, the request fails
    (and its write rolls back): the retry's answer is the one that counts."""
    stored = session.execute(
        update(IdempotencyKey)
        .where(*_own(claim))
        .values(
            response_status=status,
            response_headers={h: headers[h] for h in REPLAYED_HEADERS if h in headers},
            response_body=body,
            locked_at=None,
        )
    )
    if stored.rowcount != 1:  # type: ignore[attr-defined]
        raise KeyInUse(
            _(
                "This request took longer than the Idempotency-Key lease, and a retry with key "
                "{key} took it over; that retry's answer is the one that counts.",
                key=repr(claim.key),
            )
        )


def release(claim: Claim) -> None:
    """Drops a claim whose request failed, so that a retry runs again."""
    with new_session(writes=True) as session:
        session.execute(delete(IdempotencyKey).where(*_own(claim)))
        session.commit()


class Unreleased:
    """Claims whose release failed because the database had gone away with their request
    (a failover, a restart): released as soon as it answers again, by a thread that tries
    every RETRY_SECONDS, or at once by a retry of the same key in this process. Until then a
    retry is told the key is in use; without this it would be for the whole lease.

    Releasing late is safe: ``_own`` deletes the claim only while it is still this one and
    unanswered. If the request's write did commit after all (its answer was lost with the
    connection), its stored answer stays, and the retry gets it."""

    RETRY_SECONDS = 0.5

    def __init__(self) -> None:
        # A few at most, and only after an outage: a set, scanned for a key.
        self._claims: set[Claim] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, claim: Claim) -> None:
        with self._lock:
            self._claims.add(claim)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, daemon=True)
                self._thread.start()

    def release_now(self, user_id: int, key: str) -> None:
        if not self._claims:  # the usual case: no lock taken
            return
        with self._lock:
            mine = {c for c in self._claims if c.user_id == user_id and c.key == key}
            self._claims -= mine
        for claim in mine:
            if not self._release(claim):
                self.add(claim)

    def pending(self) -> int:
        return len(self._claims)

    def _release(self, claim: Claim) -> bool:
        """Whether the claim is gone: released, or lapsed by itself."""
        lease = timedelta(seconds=get_settings().idempotency_lease_seconds)
        if claim.claimed_at < utcnow() - lease:
            return True
        try:
            release(claim)
        except SQLAlchemyError:  # still away, or the pool has no connection to give
            return False
        return True

    def _run(self) -> None:
        while True:
            time.sleep(self.RETRY_SECONDS)
            with self._lock:
                claims = list(self._claims)
            for claim in claims:
                try:
                    released = self._release(claim)
                except Exception:  # never let the thread die with claims left
                    logger.exception("releasing an idempotency claim failed")
                    released = False
                if released:
                    with self._lock:
                        self._claims.discard(claim)
            with self._lock:
                if not self._claims:
                    self._thread = None
                    return


unreleased = Unreleased()


def _own(claim: Claim) -> tuple[ColumnElement[bool], ...]:
    """The key's row while it is still this claim's, unanswered."""
    return (
        IdempotencyKey.user_id == claim.user_id,
        IdempotencyKey.key == claim.key,
        IdempotencyKey.locked_at == claim.claimed_at,
        IdempotencyKey.response_status.is_(None),
    )


def _in_use(key: str) -> str:
    return _(
        "A request with Idempotency-Key {key} is still being processed; retry shortly to get "
        "its answer.",
        key=repr(key),
    )
