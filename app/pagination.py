"""Keyset pagination: opaque cursors and the ``{"items", "next_cursor"}`` page."""

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

from app.config import get_settings
from app.errors import BadRequest, ValidationFailed
from app.i18n import _

T = TypeVar("T")
R = TypeVar("R")


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
    fetched: Sequence[R], *, limit: int, kind: str, key: Callable[[R], list[int]]
) -> tuple[Sequence[R], str | None]:
    """Cuts rows fetched with ``limit + 1`` to a page: the page's rows, and the cursor of
    the next page (``key`` of the last row) when there is one."""
    page = fetched[:limit]
    more = len(fetched) > limit
    return page, encode_cursor(kind, key(page[-1])) if more else None


def encode_cursor(kind: str, key: list[Any]) -> str:
    raw = json.dumps({"k": kind, "v": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str, *, arity: int) -> list[Any]:
    """The key a cursor carries; a 400 for anything this endpoint did not hand out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise MalformedCursor() from exc
    if not isinstance(data, dict) or data.get("k") != kind:
        raise MalformedCursor()
    key = data.get("v")
    if (
        not isinstance(key, list)
        or len(key) != arity
        or not all(
            isinstance(part, int) and not isinstance(part, bool) and 0 <= part < 2**63
            for part in key
        )
    ):
        raise MalformedCursor()
    return key


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
