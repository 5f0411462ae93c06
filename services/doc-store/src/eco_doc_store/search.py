"""Turn what a user typed into search terms, and documents into indexable text.

User text never reaches FTS5 or `websearch_to_tsquery` as syntax: it is split into words
and quoted phrases, and each becomes one quoted phrase, always bound as a parameter (the
repository builds the expressions). So quotes, `%`, `*`, `NEAR`, `OR`, `-` or unbalanced
parentheses cannot make a query fail; they are just text. Text and queries are folded the
same way (NFKD, accents dropped) so both backends match "wörld" and "world" alike, and
stemmed the same way (`eco_shared.text.stemmed_text`) so "retries" finds "retry".
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from datetime import datetime

from eco_shared.models.doc_store import DocumentFormat
from eco_shared.text import fold, stemmed_text

MAX_QUERY_TERMS = 32
# A search counts its matches exactly up to here (or to the end of the page asked for, if
# further); past it `total` is this bound, so a query costs what its page costs.
SEARCH_COUNT_CAP = 1000
DEFAULT_SEARCH_MAX_CHARS = 200_000
_UNIT = re.compile(r'"([^"]*)"?|([^\s"]+)')
_SCRIPT_STYLE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True, slots=True)
class SearchTerm:
    """One word or phrase of a query, as typed (folded) and stemmed.

    `stemmed` is None when stemming would drop part of the term (the stemmer knows only
    Latin letters and digits), so a term is never widened to match less than it says.
    """

    text: str
    stemmed: str | None


@dataclass(frozen=True, slots=True)
class IndexText:
    """What the full-text index stores for one version: folded and stemmed title and body."""

    title: str
    body: str
    stemmed_title: str
    stemmed_body: str


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One document's row in the full-text index: its current version's text, and whose it is.

    `search_id` is the row id of the document's version 1: the SQLite index's row id, so
    the index's order is the documents' order of creation. `created_at` is the document's
    (PostgreSQL keeps it, and the owner, beside the `tsvector`s to order and filter by).
    """

    document_id: str
    search_id: int
    version_id: int
    owner: str
    created_at: datetime
    text: IndexText


def count_bound(offset: int, limit: int, cap: int = SEARCH_COUNT_CAP) -> int:
    """How far a search counts its matches: `total` is exact below this, this bound above.

    At least one past the page asked for, so a page past the end is still told apart.
    """
    return max(cap, offset + limit + 1)


def owner_token(owner: str) -> str:
    """The owner as one index token (letters and digits only, so the tokenizer keeps it whole
    and no other owner's token, nor any word, is a prefix or part of it)."""
    return "o" + hashlib.sha256(owner.encode()).hexdigest()[:40]


def _stemmed(term: str) -> str | None:
    if any(ch.isalnum() and not ch.isascii() for ch in term):
        return None
    return stemmed_text(term) or None


def query_terms(q: str) -> list[SearchTerm]:
    """The words and quoted phrases of `q` that contain something searchable."""
    terms: list[SearchTerm] = []
    for match in _UNIT.finditer(fold(q)):
        raw = match.group(1) if match.group(1) is not None else match.group(2)
        term = " ".join("".join(ch if ch.isprintable() else " " for ch in raw).split())
        if any(ch.isalnum() for ch in term):
            terms.append(SearchTerm(term, _stemmed(term)))
        if len(terms) == MAX_QUERY_TERMS:
            break
    return terms


def document_text(content: bytes, fmt: DocumentFormat, max_chars: int) -> str:
    """The text of a document that the full-text index sees (PDF bodies are not indexed)."""
    if fmt is DocumentFormat.pdf:
        return ""
    # Decoding is bounded first: max_chars characters are at most 4 * max_chars bytes.
    text = content[: 4 * max_chars].decode("utf-8", errors="replace")
    if fmt is DocumentFormat.html:
        text = html.unescape(_TAG.sub(" ", _SCRIPT_STYLE.sub(" ", text)))
    return fold(text[:max_chars]).replace("\x00", " ")


def index_text(title: str, body: str) -> IndexText:
    """The index entry of a title and a body (as `document_text` made it)."""
    folded = fold(title)
    return IndexText(folded, body, stemmed_text(folded), stemmed_text(body))


def indexable(content: bytes, fmt: DocumentFormat, title: str, max_chars: int) -> IndexText:
    """The index entry of one version."""
    return index_text(title, document_text(content, fmt, max_chars))
