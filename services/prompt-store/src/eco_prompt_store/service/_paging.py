"""Cursors of the prompt store's pages: one integer position, in a fixed-width form.

A cursor is the urlsafe base64 of the 4-byte (SQL INTEGER) position of the last row handed out (a
prompt's id, a version number, a move's id), so every string the pattern allows is a
position to read on from: the OpenAPI document states exactly which cursors are accepted,
and `eco_shared.pagination.Page` carries them.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import TypeVar

CURSOR_PATTERN = r"^[A-Za-z0-9_-]{6}$"
Row = TypeVar("Row")


def encode_position(position: int) -> str:
    """The cursor for the rows after `position`."""
    raw = position.to_bytes(4, "big", signed=True)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_position(cursor: str | None) -> int | None:
    """The position a cursor (matching `CURSOR_PATTERN`) holds; None without one."""
    if cursor is None:
        return None
    return int.from_bytes(base64.urlsafe_b64decode(cursor + "=="), "big", signed=True)


def cut(
    rows: Sequence[Row], limit: int, position: Callable[[Row], int]
) -> tuple[list[Row], str | None]:
    """Rows fetched with `LIMIT limit + 1` -> (the page, the next cursor or None)."""
    if len(rows) <= limit:
        return list(rows), None
    page = list(rows[:limit])
    return page, encode_position(position(page[-1]))
