from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends, Query

from app.errors import ValidationFailed
from app.i18n import _
from app.reference import catalog as reference


def split_codes(
    name: str, raw: str | None, *, allowed: Iterable[str], upper: bool = False
) -> list[str] | None:
    """A comma-separated query value as a list of known codes; a 422 naming any unknown."""
    if raw is None:
        return None
    codes = [part.strip() for part in raw.split(",") if part.strip()]
    codes = [c.upper() if upper else c.lower() for c in codes]
    allowed = set(allowed)
    unknown = [c for c in codes if c not in allowed]
    if unknown or not codes:
        msg = (
            _("{codes}: not a known {name} code", codes=", ".join(unknown), name=name)
            if unknown
            else _("nothing: not a known {name} code", name=name)
        )
        raise ValidationFailed([(("query", name), msg)])
    return list(dict.fromkeys(codes))


def _countries(
    country: Annotated[
        str | None, Query(description="One or more ISO3 country codes, comma-separated.")
    ] = None,
) -> list[str] | None:
    return split_codes("country", country, allowed=reference.countries(), upper=True)


CountryList = Annotated[list[str] | None, Depends(_countries)]
