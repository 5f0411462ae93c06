"""Full-text search over the live documents."""

from __future__ import annotations

from datetime import datetime

from eco_doc_store import repository as repo
from eco_doc_store.search import query_terms
from eco_doc_store.service._base import (
    ServiceBase,
    check_page,
    readable_owner,
    view,
    wants_content,
)
from eco_shared.auth import Principal
from eco_shared.models.doc_store import DocumentFormat, DocumentPage, MatchMode
from eco_shared.pagination import decode_cursor, encode_cursor
from eco_shared.problems import BadRequest, field_error

_MAX_POSITION = 2**53


def _bad_cursor(why: str) -> BadRequest:
    return BadRequest(
        f"cursor: {why}",
        title="Invalid cursor",
        errors=[field_error("query", "cursor", why)],
    )


def _read_cursor(cursor: str) -> tuple[int, int, repo.SearchKey | None]:
    """(page, offset, keyset position) of a cursor `search` handed out."""
    tag, page, position, ident = decode_cursor(cursor, str, int, int, str)
    if tag not in ("t", "r", "o") or not 1 <= page <= _MAX_POSITION:
        raise _bad_cursor("not a cursor this service handed out")
    if not 0 <= position <= _MAX_POSITION:
        raise _bad_cursor("not a cursor this service handed out")
    if tag == "o":
        return page, position, None
    return page, 0, (tag, position, ident)


class SearchOps(ServiceBase):
    """Search titles and text (words and "phrases", stemmed), filter and page."""

    async def search(
        self,
        caller: Principal,
        *,
        q: str | None,
        format: DocumentFormat | None,
        created_after: datetime | None,
        page: int,
        page_size: int,
        base_url: str,
        match: MatchMode = "all",
        include_content: bool = False,
        owner: str | None = None,
        cursor: str | None = None,
    ) -> DocumentPage:
        """Live documents matching `q`, of the caller's (or, with `docs:read:all`, anyone's;
        `owner` narrows to one principal's, and names no one else's for other callers).

        `match="all"`: every term required, newest first. `match="any"`: at least one,
        the documents matching most terms first, then by relevance, then newest first.
        Items carry their text only with `include_content` (lists stay small). `total` is
        exact up to `search_count_cap` matches (or the end of the page), that bound past it.

        `next_cursor` continues after this page: a keyset position in the newest-first
        orders (a write between pages shifts nothing), the next offset for `match=any` with
        terms (relevance has no stable key). With a `cursor`, `page` is the cursor's.
        """
        offset = (page - 1) * page_size
        after: repo.SearchKey | None = None
        if cursor is not None:
            page, offset, after = _read_cursor(cursor)
        visible = readable_owner(caller)
        terms = None
        if q is not None and q.strip():
            terms = query_terms(q)
        # nothing searchable (only punctuation), or someone else's when the caller sees its own
        if terms == [] or (None not in (owner, visible) and owner != visible):
            if cursor is None:
                check_page(page, page_size, 0)
            return DocumentPage(items=[], total=0, page=page, page_size=page_size)
        limit = self.settings.inline_content_max_bytes
        async with self.engine.connect() as conn:
            kind = repo.keyset_kind(conn, terms, match)
            if cursor is not None and (after is None) != (kind is None):
                raise _bad_cursor("a cursor of another query's order")
            try:
                rows, total = await repo.search(
                    conn,
                    terms=terms,
                    match=match,
                    format=format.value if format else None,
                    created_after=created_after,
                    offset=offset,
                    limit=page_size,
                    peek=True,
                    owner=owner or visible,
                    count_cap=self.settings.search_count_cap,
                    after=after,
                )
            except repo.InvalidSearchKey as exc:
                raise _bad_cursor(str(exc)) from None
            next_cursor = None
            if len(rows) > page_size:
                rows = rows[:page_size]
                if kind is None:
                    next_cursor = encode_cursor("o", page + 1, offset + page_size, "")
                else:
                    tag, position, ident = repo.search_key(rows[-1], kind)
                    next_cursor = encode_cursor(tag, page + 1, position, ident)
            wanted = [r["version_id"] for r in rows if include_content and wants_content(r, limit)]
            contents = await repo.get_contents(conn, wanted) if wanted else {}
        if cursor is None:
            check_page(page, page_size, total)
        items = [
            view(r, base_url, content=contents.get(r["version_id"]), limit=limit) for r in rows
        ]
        return DocumentPage(
            items=items, total=total, page=page, page_size=page_size, next_cursor=next_cursor
        )
