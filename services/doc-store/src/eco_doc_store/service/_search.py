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
    ) -> DocumentPage:
        """Live documents matching `q`, of the caller's (or, with `docs:read:all`, anyone's;
        `owner` narrows to one principal's, and names no one else's for other callers).

        `match="all"`: every term required, newest first. `match="any"`: at least one,
        the documents matching most terms first, then by relevance, then newest first.
        Items carry their text only with `include_content` (lists stay small). `total` is
        exact up to `search_count_cap` matches (or the end of the page), that bound past it.
        """
        visible = readable_owner(caller)
        terms = None
        if q is not None and q.strip():
            terms = query_terms(q)
        # nothing searchable (only punctuation), or someone else's when the caller sees its own
        if terms == [] or (None not in (owner, visible) and owner != visible):
            check_page(page, page_size, 0)
            return DocumentPage(items=[], total=0, page=page, page_size=page_size)
        limit = self.settings.inline_content_max_bytes
        async with self.engine.connect() as conn:
            rows, total = await repo.search(
                conn,
                terms=terms,
                match=match,
                format=format.value if format else None,
                created_after=created_after,
                offset=(page - 1) * page_size,
                limit=page_size,
                owner=owner or visible,
                count_cap=self.settings.search_count_cap,
            )
            wanted = [r["version_id"] for r in rows if include_content and wants_content(r, limit)]
            contents = await repo.get_contents(conn, wanted) if wanted else {}
        check_page(page, page_size, total)
        items = [
            view(r, base_url, content=contents.get(r["version_id"]), limit=limit) for r in rows
        ]
        return DocumentPage(items=items, total=total, page=page, page_size=page_size)
