"""Keyset pagination: opaque cursors and the ``{"items", "next_cursor"}`` page."""

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Generic, TypeVar, cast

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select, SQLColumnExpression

from app.config import get_settings
from app.db import MAX_ID
from app.errors import BadRequest, ValidationFailed
from app.i18n import _

T = TypeVar("T")
R = TypeVar("R")
Q = TypeVar("Q", bound=Select[*tuple[Any, ...]])


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


def page_example(item: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` with an example 200 page: the first example of ``item``'s
    schema, and a cursor to the next page."""
    example = item.model_json_schema()["examples"][0]
    page = {"items": [example], "next_cursor": "eyJrIjoic2l0cmVwIiwidiI6WzQyXX0"}
    return {200: {"content": {"application/json": {"example": page}}}}


def keyset_page(
    query: Q,
    fetch: Callable[[Q], Sequence[R]],
    *,
    column: SQLColumnExpression[int],
    key: Callable[[R], int],
    kind: str,
    cursor: str | None,
    limit: int,
    descending: bool = True,
) -> tuple[Sequence[R], str | None]:
    """One page of ``query`` in the order of ``column`` (a row id, or another whole number
    unique within the query), from after ``cursor``: the page's rows, as ``fetch`` returns
    them, and the cursor of the next page (``key`` of the page's last row) when there is one.
    The endpoint's ``kind`` goes into its cursors, so that one endpoint's cursor is refused
    by another."""
    query = query.order_by(column.desc() if descending else column.asc())
    if cursor is not None:
        (after,) = decode_cursor(kind, cursor, types=(ROW_ID,))
        query = query.where(column < after if descending else column > after)
    fetched = fetch(query.limit(limit + 1))
    page = fetched[:limit]
    more = len(fetched) > limit
    return page, encode_cursor(kind, [key(page[-1])]) if more else None


def encode_cursor(kind: str, key: Sequence[Any]) -> str:
    """An opaque cursor for ``key``: whole numbers, dates and text (as ``decode_cursor``
    reads them back)."""
    raw = json.dumps({"k": kind, "v": list(key)}, separators=(",", ":"), default=_iso).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True, slots=True)
class IntIn:
    """A cursor position holding a whole number within ``low..high`` (bounds included)."""

    low: int
    high: int


BIGINT_MAX = 2**63 - 1
# An INTEGER column: a row id, a revision number.
ROW_ID = IntIn(0, MAX_ID)
# A BIGINT column (a sequence number, a transaction id). ``int`` means the same.
BIG = IntIn(0, BIGINT_MAX)

CursorPart = IntIn | type[int] | type[date] | type[str]
CursorTypes = tuple[CursorPart, ...]
# Every cursor this service hands out is a few dozen characters: anything much longer was
# not made here, and is refused before it is decoded at all.
MAX_CURSOR_LENGTH = 512
MAX_CURSOR_TEXT = 200


def _iso(value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"a cursor cannot hold {type(value).__name__}")


def decode_cursor(
    kind: str, cursor: str, *, types: CursorTypes | tuple[CursorTypes, ...]
) -> tuple[Any, ...]:
    """The key a cursor carries, each position checked against what the caller declares it
    to be, so that no crafted cursor reaches the database; a 400 for anything else.

    ``types`` gives one type per position: ``ROW_ID`` (or any ``IntIn``), ``int`` (a BIGINT,
    ``0..2**63-1``), ``date`` (an ISO 8601 date, returned as a ``date``) or ``str`` (text
    of at most 200 characters). A tuple of such tuples lists the forms a cursor may take,
    e.g. ``types=((int, int), (int,))`` for a cursor that grew a position: the first form
    whose length matches is used, so the caller tells them apart by ``len()``."""
    forms: tuple[CursorTypes, ...] = (
        types if types and isinstance(types[0], tuple) else (cast(CursorTypes, types),)
    )
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise MalformedCursor()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise MalformedCursor() from exc
    if not isinstance(data, dict) or data.get("k") != kind:
        raise MalformedCursor()
    key = data.get("v")
    if not isinstance(key, list):
        raise MalformedCursor()
    form = next((form for form in forms if len(form) == len(key)), None)
    if form is None:
        raise MalformedCursor()
    return tuple(_cursor_part(part, value) for part, value in zip(form, key, strict=True))


def _cursor_part(part: CursorPart, value: Any) -> Any:
    bounds = BIG if part is int else part
    if isinstance(bounds, IntIn):
        whole = isinstance(value, int) and not isinstance(value, bool)
        if whole and bounds.low <= value <= bounds.high:
            return value
    elif part is date and isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    elif part is str:
        text = isinstance(value, str) and len(value) <= MAX_CURSOR_TEXT
        if text and "\x00" not in value:
            return value
    raise MalformedCursor()


class MalformedCursor(BadRequest):
    type = "urn:crisis-tracker:problem:malformed-cursor"

    def __init__(self) -> None:
        super().__init__(
            _(
                "The cursor is malformed: pass back a next_cursor exactly as this endpoint "
                "returned it."
            )
        )


class PageParams(BaseModel):
    limit: int
    cursor: str | None


def _page_params(
    limit: Annotated[
        int | None, Query(ge=1, description="Items per page (default 100, at most 1000).")
    ] = None,
    cursor: Annotated[
        str | None, Query(description="A next_cursor from the previous page.")
    ] = None,
) -> PageParams:
    return PageParams(limit=checked_limit(limit), cursor=cursor)


def checked_limit(limit: int | None) -> int:
    """The page size to use: the default when none was asked for, a 422 above the maximum."""
    settings = get_settings()
    if limit is not None and limit > settings.page_limit_max:
        raise ValidationFailed(
            [
                (
                    ("query", "limit"),
                    _("at most {limit} items per page", limit=settings.page_limit_max),
                )
            ]
        )
    return limit or settings.page_limit_default


PageDep = Annotated[PageParams, Depends(_page_params)]
