"""Users, API tokens, and who may do what."""

import hashlib
import re
import secrets
from collections.abc import Iterable
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from app.audit import service as audit
from app.auth.models import ApiToken, Role, User, UserCluster, UserCountry
from app.clusters import service as clusters
from app.db import utcnow
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.i18n import _
from app.reference import service as reference

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
                known=", ".join(clusters.CLUSTERS),
            ),
        )
        for code in cluster_codes
        if code not in clusters.CLUSTERS
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


def authenticate(session: Session, *, token: str) -> User | None:
    """The user a live token belongs to. The lookup is by SHA-256 of the token, so its
    timing tells nothing about how much of a guess was right."""
    return session.scalar(
        select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
        .options(selectinload(User.countries), selectinload(User.clusters))
    )


def authenticate_header(session: Session, *, authorization: str) -> User | None:
    """The user of an ``Authorization: Bearer <token>`` header value, if it names one."""
    scheme, _space, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return authenticate(session, token=token.strip())


# Permission checks. Each raises Forbidden with a sentence a user can act on.


def require_role(user: User, *roles: Role) -> None:
    if user.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise Forbidden(
            _(
                "Your role ({role}) cannot do this; it needs one of: {allowed}.",
                role=user.role,
                allowed=allowed,
            )
        )


def require_country(user: User, country: str, *, thing: Literal["sitrep"] | None = None) -> None:
    """Field officers and country-scoped coordinators act only in their own countries.
    For a ``thing`` the user named by id only, the message does not say its country."""
    if country_scope(user) is not None and country not in user.country_codes:
        yours = ", ".join(sorted(user.country_codes))
        raise Forbidden(
            _("This sitrep is not in one of your countries ({yours}).", yours=yours)
            if thing == "sitrep"
            else _(
                "{country} is not one of your countries ({yours}).", country=country, yours=yours
            )
        )


def country_scope(user: User) -> frozenset[str] | None:
    """The countries a user is limited to, or None for every country."""
    if user.role == Role.field or (user.role == Role.coordinator and user.countries):
        return user.country_codes
    return None


def narrow_countries(user: User, requested: Iterable[str] | None) -> list[str] | None:
    """The countries a query may cover: what was asked for, within the user's scope.
    None means no restriction at all."""
    scope = country_scope(user)
    if requested is None:
        return None if scope is None else sorted(scope)
    requested = list(requested)
    for country in requested:
        require_country(user, country)
    return requested


def require_cluster(user: User, cluster: str) -> None:
    if user.role == Role.coordinator and cluster not in user.cluster_codes:
        raise Forbidden(
            _(
                "{cluster} is not one of your clusters ({yours}).",
                cluster=cluster,
                yours=", ".join(sorted(user.cluster_codes)),
            )
        )


def narrow_sectors(user: User, requested: Iterable[str] | None) -> list[str] | None:
    """The sectors a query may cover: what was asked for, within a coordinator's clusters.
    None means no restriction at all."""
    if user.role != Role.coordinator:
        return None if requested is None else list(requested)
    if requested is None:
        return [s for code in sorted(user.cluster_codes) for s in clusters.CLUSTERS[code].sectors]
    requested = list(requested)
    for sector in requested:
        require_cluster(user, clusters.cluster_of_sector(sector).code)
    return requested
