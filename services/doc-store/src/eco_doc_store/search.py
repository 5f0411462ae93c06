"""Turn what a user typed into safe full-text queries, and documents into indexable text.

User text never reaches FTS5 or `websearch_to_tsquery` as syntax: it is split into words
and quoted phrases, and each becomes one quoted phrase (AND of all), always bound as a
parameter. So quotes, `%`, `*`, `NEAR`, `OR`, `-` or unbalanced parentheses cannot make a
query fail; they are just text. Text and queries are folded the same way (NFKD, accents
dropped) so both backends match "wörld" and "world" alike.
"""

from __future__ import annotations

import html
import re
import unicodedata

from eco_doc_store.models import DocumentFormat

MAX_QUERY_TERMS = 32
_UNIT = re.compile(r'"([^"]*)"?|([^\s"]+)')
_SCRIPT_STYLE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def fold(text: str) -> str:
    """Compatibility-decompose and drop combining marks: "Wörld ﬁle" -> "World file"."""
    decomposed = unicodedata.normalize("NFKD", text)
    if decomposed.isascii():
        return decomposed
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def query_terms(q: str) -> list[str]:
    """The words and quoted phrases of `q` that contain something searchable."""
    terms: list[str] = []
    for match in _UNIT.finditer(fold(q)):
        raw = match.group(1) if match.group(1) is not None else match.group(2)
        term = " ".join("".join(ch if ch.isprintable() else " " for ch in raw).split())
        if any(ch.isalnum() for ch in term):
            terms.append(term)
        if len(terms) == MAX_QUERY_TERMS:
            break
    return terms


def fts5_match(terms: list[str]) -> str:
    """An FTS5 MATCH expression: every term as a quoted phrase, all required."""
    return " ".join('"' + term.replace('"', '""') + '"' for term in terms)


def websearch_text(terms: list[str]) -> str:
    """Input for `websearch_to_tsquery`: every term quoted, so none reads as an operator."""
    return " ".join('"' + term.replace('"', " ") + '"' for term in terms)


def indexable_text(content: bytes, fmt: DocumentFormat, max_chars: int) -> str:
    """The text of a document that the full-text index sees (PDF bodies are not indexed)."""
    if fmt is DocumentFormat.pdf:
        return ""
    # Decoding is bounded first: max_chars characters are at most 4 * max_chars bytes.
    text = content[: 4 * max_chars].decode("utf-8", errors="replace")
    if fmt is DocumentFormat.html:
        text = html.unescape(_TAG.sub(" ", _SCRIPT_STYLE.sub(" ", text)))
    return fold(text[:max_chars]).replace("\x00", " ")
