"""A line diff of two versions' texts (difflib), with context hunks and a size limit.

Pure: bytes in, rows out. A side that is not UTF-8 text (or holds NUL) is binary, and a
side over the byte or line limit is too large; either way the diff is a sentence instead of
rows, so a huge document never costs a quadratic diff on a page request.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Literal

MAX_DIFF_BYTES = 512 * 1024
MAX_DIFF_LINES = 5_000
CONTEXT_LINES = 3

RowKind = Literal["same", "added", "removed", "gap"]


@dataclass(frozen=True, slots=True)
class DiffRow:
    """One row of the table: a line kept, added or removed, or a gap of unchanged lines."""

    kind: RowKind
    old_no: int | None
    new_no: int | None
    text: str
    hidden: int = 0  # for a gap: how many unchanged lines it stands for


@dataclass(frozen=True, slots=True)
class LineDiff:
    """The rows, or `reason` (a sentence) when the texts cannot be diffed here."""

    rows: list[DiffRow] = field(default_factory=list)
    added: int = 0
    removed: int = 0
    reason: str | None = None

    @property
    def identical(self) -> bool:
        return self.reason is None and self.added == 0 and self.removed == 0


def as_text(content: bytes) -> str | None:
    """The content as text, or None when it is binary (not UTF-8, or holding NUL)."""
    if b"\x00" in content:
        return None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None


def too_large(size_bytes: int, max_bytes: int = MAX_DIFF_BYTES) -> str | None:
    """A sentence when a side of `size_bytes` is over the limit, else None."""
    if size_bytes > max_bytes:
        return (
            f"Too large to compare here: a version is {size_bytes:,} bytes, the limit"
            f" is {max_bytes:,}. Download both versions to compare them."
        )
    return None


def line_diff(
    old: bytes,
    new: bytes,
    *,
    context: int = CONTEXT_LINES,
    max_bytes: int = MAX_DIFF_BYTES,
    max_lines: int = MAX_DIFF_LINES,
) -> LineDiff:
    """The line diff of `old` to `new`: changed lines with `context` unchanged ones around
    them, longer unchanged runs folded into gap rows."""
    for side in (old, new):
        reason = too_large(len(side), max_bytes)
        if reason:
            return LineDiff(reason=reason)
    old_text, new_text = as_text(old), as_text(new)
    if old_text is None or new_text is None:
        return LineDiff(reason="Not text: a binary document has no line diff. Download both.")
    a, b = old_text.splitlines(), new_text.splitlines()
    if max(len(a), len(b)) > max_lines:
        return LineDiff(
            reason=f"Too many lines to compare here ({max(len(a), len(b)):,}; the limit is"
            f" {max_lines:,}). Download both versions to compare them."
        )
    rows: list[DiffRow] = []
    added = removed = 0
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows.extend(_kept(a, i1, i2, j1, context, first=i1 == 0, last=i2 == len(a)))
            continue
        for i in range(i1, i2):
            rows.append(DiffRow("removed", i + 1, None, a[i]))
        for j in range(j1, j2):
            rows.append(DiffRow("added", None, j + 1, b[j]))
        removed += i2 - i1
        added += j2 - j1
    if added == removed == 0:
        return LineDiff(added=0, removed=0)
    return LineDiff(rows=rows, added=added, removed=removed)


def _kept(
    a: list[str], i1: int, i2: int, j1: int, context: int, *, first: bool, last: bool
) -> list[DiffRow]:
    """An unchanged run: its first and last `context` lines beside changes, a gap between."""
    head = 0 if first else context
    tail = 0 if last else context
    if i2 - i1 <= head + tail:
        return [DiffRow("same", i + 1, j1 + (i - i1) + 1, a[i]) for i in range(i1, i2)]
    rows = [DiffRow("same", i + 1, j1 + (i - i1) + 1, a[i]) for i in range(i1, i1 + head)]
    hidden = (i2 - tail) - (i1 + head)
    rows.append(DiffRow("gap", None, None, "", hidden=hidden))
    rows.extend(DiffRow("same", i + 1, j1 + (i - i1) + 1, a[i]) for i in range(i2 - tail, i2))
    return rows
