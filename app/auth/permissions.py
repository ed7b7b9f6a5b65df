"""Who may do what: each check raises Forbidden with a sentence a user can act on, and the
narrowing of a query to what a user may see. It reads only the user (and the cluster
catalog), so any service can call it: no other domain is imported."""

from collections.abc import Iterable
from typing import Literal

from app.auth.models import Role, User
from app.clusters import catalog
from app.errors import Forbidden
from app.i18n import _


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
        return [s for code in sorted(user.cluster_codes) for s in catalog.CLUSTERS[code].sectors]
    requested = list(requested)
    for sector in requested:
        require_cluster(user, catalog.cluster_of_sector(sector).code)
    return requested
