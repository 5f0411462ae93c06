"""The one cursor pagination: opaque cursors, `Page[T]`, and the limit+1 page cut.

A cursor is the sort key of the last row handed out (e.g. `(time_us, id)`), as urlsafe
base64 of JSON; a cursor this service did not hand out is a 400 naming the field.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from eco_shared.problems import BadRequest, field_error

T = TypeVar("T")
Row = TypeVar("Row")


class Page(BaseModel, Generic[T]):
    """One page of a newest-first list; pass `next_cursor` back as `cursor` for the next."""

    items: list[T]
    next_cursor: str | None = Field(None, description="Absent on the last page.")


def encode_cursor(*key: int | str) -> str:
    """An opaque cursor for the position after `key`."""
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *types: type[int] | type[str], field: str = "cursor") -> tuple:  # type: ignore[type-arg]
    """The key a cursor holds, each part of the given type; `BadRequest` when it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError):
        value = None
    if (
        not isinstance(value, list)
        or len(value) != len(types)
        or not all(
            isinstance(v, t) and not isinstance(v, bool) for v, t in zip(value, types, strict=True)
        )
    ):
        raise BadRequest(
            f"{field}: not a cursor this service handed out",
            title="Invalid cursor",
            errors=[field_error("query", field, "not a cursor this service handed out")],
        )
    return tuple(value)


def cut_page(
    rows: Sequence[Row], limit: int, key: Callable[[Row], tuple[int | str, ...]]
) -> tuple[list[Row], str | None]:
    """Rows fetched with `LIMIT limit + 1` -> (the page, the next cursor or None)."""
    if len(rows) <= limit:
        return list(rows), None
    page = list(rows[:limit])
    return page, encode_cursor(*key(page[-1]))
