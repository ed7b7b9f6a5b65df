"""Users, API tokens, and who may do what."""

import hashlib
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from threading import Lock

from sqlalchemy import select, update
from sqlalchemy.orm import Session, make_transient_to_detached, selectinload

from app.audit import service as audit
from app.auth.models import ApiToken, Role, User, UserCluster, UserCountry
from app.clusters.catalog import CLUSTERS
from app.config import get_settings
from app.db import new_session, reads_replica, utcnow
from app.errors import Conflict, NotFound, ValidationFailed
from app.i18n import _
from app.reference import catalog as reference

TOKEN_PREFIX = "ct_"
USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(
    session: Session,
    *,
    name: str,
    role: Role,
    countries: Iterable[str] = (),
    clusters_: Iterable[str] = (),
    actor: User | None = None,
) -> User:
    country_codes = sorted({c.strip().upper() for c in countries})
    cluster_codes = sorted({c.strip().lower() for c in clusters_})
    problems: list[tuple[tuple[str, ...], str]] = []
    if not USER_NAME.match(name):
        problems.append(
            (
                ("name",),
                _(
                    "use 1 to 100 letters, digits, '.', '_', '@' or '-', starting with a "
                    "letter or digit"
                ),
            )
        )
    problems += [
        (("countries",), _("{code} is not an ISO 3166-1 alpha-3 country code", code=code))
        for code in country_codes
        if not reference.is_country(code)
    ]
    problems += [
        (
            ("clusters",),
            _(
                "{code} is not a cluster (one of {known})",
                code=code,
                known=", ".join(CLUSTERS),
            ),
        )
        for code in cluster_codes
        if code not in CLUSTERS
    ]
    if role == Role.field and not country_codes:
        problems.append((("countries",), _("a field officer needs at least one country")))
    if role == Role.coordinator and not cluster_codes:
        problems.append((("clusters",), _("a coordinator needs at least one cluster")))
    if role in (Role.admin, Role.hq) and (country_codes or cluster_codes):
        problems.append(
            (
                ("role",),
                _("{role} users see every country and cluster; give them no scope", role=role),
            )
        )
    if role == Role.field and cluster_codes:
        problems.append((("clusters",), _("clusters apply to coordinators only")))
    if problems:
        raise ValidationFailed(problems)
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise Conflict(_("A user named {name} already exists.", name=repr(name)))
    user = User(
        name=name,
        role=role.value,
        created_at=utcnow(),
        countries=[UserCountry(country=c) for c in country_codes],
        clusters=[UserCluster(cluster=c) for c in cluster_codes],
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        action="user.create",
        entity_type="user",
        entity_id=user.id,
        user=actor,
        after={
            "name": name,
            "role": role.value,
            "countries": country_codes,
            "clusters": cluster_codes,
        },
    )
    return user


def issue_token(session: Session, *, user: User, actor: User | None = None) -> str:
    """A new API token for the user; only its hash is stored, so this is the one time it
    can be shown."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, token_hash=hash_token(token), created_at=utcnow())
    session.add(row)
    session.flush()
    audit.record(
        session,
        action="token.issue",
        entity_type="token",
        entity_id=row.id,
        user=actor,
        after={"user": user.name},
    )
    return token


def get_user_by_name(session: Session, *, name: str) -> User:
    user = session.scalar(
        select(User)
        .where(User.name == name)
        .options(selectinload(User.countries), selectinload(User.clusters))
    )
    if user is None:
        raise NotFound(_("There is no user named {name}.", name=repr(name)))
    return user


def revoke_tokens(session: Session, *, user: User, actor: User | None = None) -> int:
    """Revokes every live token of the user; returns how many."""
    revoked = list(
        session.scalars(
            update(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
            .returning(ApiToken.id)
        )
    )
    session.flush()
    # Other processes stop trusting these tokens within the cache's TTL; this one at once.
    token_cache.forget_user(user.id)
    audit.record(
        session,
        action="token.revoke",
        entity_type="user",
        entity_id=user.id,
        user=actor,
        before={"live_tokens": sorted(revoked)},
        after={"live_tokens": []},
    )
    return len(revoked)


@dataclass(frozen=True, slots=True)
class _Principal:
    """What a live token said about its user when it was read: immutable, so that one
    cache entry can serve concurrent requests."""

    id: int
    name: str
    role: str
    created_at: datetime
    countries: tuple[str, ...]
    clusters: tuple[str, ...]

    @classmethod
    def of(cls, user: User) -> "_Principal":
        return cls(
            id=user.id,
            name=user.name,
            role=user.role,
            created_at=user.created_at,
            countries=tuple(c.country for c in user.countries),
            clusters=tuple(c.cluster for c in user.clusters),
        )

    def user(self) -> User:
        """A detached User of its own for each request (as if loaded by a session since
        closed), so that no request can change what another sees."""
        user = User(
            id=self.id,
            name=self.name,
            role=self.role,
            created_at=self.created_at,
            countries=[UserCountry(user_id=self.id, country=c) for c in self.countries],
            clusters=[UserCluster(user_id=self.id, cluster=c) for c in self.clusters],
        )
        for instance in (user, *user.countries, *user.clusters):
            make_transient_to_detached(instance)
        return user


class TokenCache:
    """Live tokens this process has checked, by token hash, each trusted for at most
    ``TRACKER_AUTH_CACHE_SECONDS`` (at most 1 s) after it was read from the database.

    Why a revoked token is refused within that long by every worker process: an entry's
    clock starts when its lookup *begins*, not when it ends. A revocation that committed
    before a lookup began is seen by it (the lookup reads a snapshot taken after it began:
    PostgreSQL takes one per statement; on SQLite a writing request's transaction holds the
    write lock, so no revocation can commit between its start and the lookup), so no entry
    is made. A revocation that commits while, or after, an entry is made comes after that
    entry's start, and the entry expires at most TTL after its start, so at most TTL after
    the revocation. After that the next request looks the token up again and is refused.
    The same bound holds for a changed role, country or cluster. Lookups never go to a
    read replica, which may lag by more than that (see ``authenticate``). A revocation in
    this process also drops the user's entries at once (``revoke_tokens``).

    Unknown and revoked tokens are not kept: a token issued a moment ago works at once."""

    MAX_ENTRIES = 10_000

    def __init__(self) -> None:
        # Least recently used first, so the table stays bounded at O(1) a request.
        self.entries: OrderedDict[str, tuple[float, _Principal]] = OrderedDict()
        self.lock = Lock()
        self.clock: Callable[[], float] = time.monotonic

    def get(self, key: str, *, ttl: float) -> _Principal | None:
        now = self.clock()
        with self.lock:
            entry = self.entries.get(key)
            if entry is None:
                return None
            started, principal = entry
            if now - started >= ttl:
                del self.entries[key]
                return None
            self.entries.move_to_end(key)
            return principal

    def put(self, key: str, principal: _Principal, *, started: float) -> None:
        with self.lock:
            self.entries[key] = (started, principal)
            self.entries.move_to_end(key)
            while len(self.entries) > self.MAX_ENTRIES:
                self.entries.popitem(last=False)

    def forget_user(self, user_id: int) -> None:
        with self.lock:
            for key in [k for k, (_s, p) in self.entries.items() if p.id == user_id]:
                del self.entries[key]

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


token_cache = TokenCache()


def _live_user(session: Session, token_hash: str) -> User | None:
    return session.scalar(
        select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None))
        .options(selectinload(User.countries), selectinload(User.clusters))
    )


def cached_user(token: str) -> User | None:
    """The user of a token this process checked less than TRACKER_AUTH_CACHE_SECONDS ago,
    from memory alone (``TokenCache`` says why that still refuses a revoked token within
    a second); None when the database must be asked."""
    ttl = get_settings().auth_cache_seconds
    principal = token_cache.get(hash_token(token), ttl=ttl) if ttl > 0 else None
    return None if principal is None else principal.user()


def authenticate(session: Session, *, token: str) -> User | None:
    """The user a live token belongs to, as a detached User: from ``cached_user``, or else
    from the database. The lookup is by SHA-256 of the token, so its timing tells nothing
    about how much of a guess was right."""
    user = cached_user(token)
    if user is not None:
        return user
    key = hash_token(token)
    started = token_cache.clock()
    if reads_replica(session):
        # A replica may be seconds behind the primary: a token issued a moment ago would
        # be missing there, and one revoked a moment ago still live. The cache keeps this
        # to one lookup on the primary per token, worker process and TTL.
        with new_session() as primary:
            live = _live_user(primary, key)
    else:
        live = _live_user(session, key)
    if live is None:
        return None
    principal = _Principal.of(live)
    if get_settings().auth_cache_seconds > 0:
        token_cache.put(key, principal, started=started)
    return principal.user()


def bearer_token(authorization: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, however spelt
    (``bearer``, spaces around the token), as FastAPI's ``HTTPBearer`` reads it."""
    scheme, _space, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def token_key(authorization: str) -> str | None:
    """The key of the token in an ``Authorization`` header value (its hash), if any."""
    token = bearer_token(authorization)
    return None if token is None else hash_token(token)


def cached_user_id(authorization: str) -> int | None:
    """The id of the user of a header's token, from memory alone (``cached_user``)."""
    token = bearer_token(authorization)
    user = None if token is None else cached_user(token)
    return None if user is None else user.id


def look_up_user_id(authorization: str) -> int | None:
    """The id of the user of a header's live token, asking the database if need be."""
    with new_session() as session:
        user = authenticate_header(session, authorization=authorization)
    return None if user is None else user.id


def authenticate_header(session: Session, *, authorization: str) -> User | None:
    """The user of an ``Authorization: Bearer <token>`` header value, if it names one."""
    token = bearer_token(authorization)
    return None if token is None else authenticate(session, token=token)
