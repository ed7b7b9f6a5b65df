"""The base of every request body schema."""

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from app.i18n import N_


def no_nul(value: Any) -> Any:
    """Refuses text holding a NUL character: PostgreSQL can neither store nor compare it."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError(N_("must not contain NUL characters"))
    return value


class RequestModel(BaseModel):
    """Unknown fields are refused, and so is a NUL character in any text: PostgreSQL
    cannot store one, and no legitimate report contains it."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return no_nul(value)
