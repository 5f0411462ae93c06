"""Sentences, summaries and outlines: the text's own sentences picked by word-frequency
scoring, headings used when the text has them."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from eco_shared.text import STOPWORDS, content_stems, stem, words

_ABBREVIATIONS = frozenset(
    "e.g i.e etc vs mr mrs ms dr prof inc ltd jr sr st no fig approx cf al".split()
)
_BULLET = re.compile(r"^\s*(?:[-*+\u2022]|\d+[.)])\s+")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")


def split_sentences(text: str) -> list[str]:
    """Sentences of a text (lines, bullets and headings count as boundaries)."""
    sentences: list[str] = []
    for block in re.split(r"\n\s*\n|\n(?=\s*(?:[-*+\u2022]|\d+[.)]|#)\s)", text):
        block = _BULLET.sub("", block.strip())
        heading = _HEADING.match(block)
        if heading:
            block = heading.group(2)
        block = re.sub(r"\s+", " ", block).strip()
        if not block:
            continue
        start = 0
        for match in re.finditer(r"[.!?]+[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])", block):
            before = block[start : match.start()].split()
            last = before[-1].lower().rstrip(".") if before else ""
            if last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
                continue
            sentences.append(block[start : match.end()].strip())
            start = match.end()
        tail = block[start:].strip()
        if tail:
            sentences.append(tail)
    return sentences


def _frequencies(sentences: Sequence[str]) -> dict[str, float]:
    counts = Counter(s for sentence in sentences for s in content_stems(sentence))
    top = max(counts.values(), default=1)
    return {term: count / top for term, count in counts.items()}


def _score(sentence: str, freq: dict[str, float], index: int) -> float:
    terms = content_stems(sentence)
    if not terms:
        return 0.0
    score = sum(freq.get(t, 0.0) for t in terms) / math.sqrt(len(terms))
    if len(terms) < 3:
        score *= 0.5
    if index == 0:
        score *= 1.2  # openings tend to state the subject
    return score


def top_sentences(
    sentences: Sequence[str], count: int, freq: dict[str, float] | None = None
) -> list[int]:
    """Indices of the `count` best-scoring sentences, in text order."""
    freq = freq if freq is not None else _frequencies(sentences)
    ranked = sorted(range(len(sentences)), key=lambda i: (-_score(sentences[i], freq, i), i))
    return sorted(ranked[:count])


def summarize(text: str, max_sentences: int | None = None) -> dict[str, Any]:
    """The text's most informative sentences, in their original order."""
    sentences = split_sentences(text)
    count = max_sentences or min(3, max(1, math.ceil(len(sentences) / 3)))
    chosen = top_sentences(sentences, count)
    picked = [sentences[i] for i in chosen]
    return {
        "task": "summarize",
        "summary": " ".join(picked),
        "sentences": picked,
        "source_sentences": len(sentences),
        "method": "extractive-frequency",
    }


def keywords(text: str, count: int, freq: dict[str, float] | None = None) -> list[str]:
    """The most frequent meaningful words of a text, as written (first spelling seen)."""
    spelled: dict[str, str] = {}
    local: Counter[str] = Counter()
    for word in words(text):
        if word in STOPWORDS or len(word) < 3 or word.isdigit():
            continue
        s = stem(word)
        spelled.setdefault(s, word)
        local[s] += 1
    weight = freq or {}
    ranked = sorted(local, key=lambda s: (-(local[s] * (1 + weight.get(s, 0.0))), spelled[s]))
    return [spelled[s] for s in ranked[:count]]


def _title(terms: Sequence[str]) -> str:
    return " ".join(t.capitalize() for t in terms) if terms else "Untitled"


def outline(text: str, max_sections: int | None = None) -> dict[str, Any]:
    """A title and sections: the text's own headings, else paragraphs or sentence groups."""
    limit = max_sections or 6
    sections: list[tuple[str | None, str]] = []
    title: str | None = None
    current_heading: str | None = None
    body: list[str] = []
    has_headings = False
    for line in text.splitlines():
        heading = _HEADING.match(line)
        if heading:
            has_headings = True
            if current_heading is not None or "".join(body).strip():
                sections.append((current_heading, "\n".join(body)))
            if title is None and len(heading.group(1)) == 1:
                title = heading.group(2)
                current_heading, body = None, []
                continue
            current_heading, body = heading.group(2), []
        else:
            body.append(line)
    sections.append((current_heading, "\n".join(body)))
    sections = [(h, b) for h, b in sections if h is not None or b.strip()]
    if not has_headings:
        paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
        if len(paragraphs) < 2:
            sentences = split_sentences(text)
            groups = max(1, min(limit, math.ceil(len(sentences) / 3)))
            size = math.ceil(len(sentences) / groups) if sentences else 1
            paragraphs = [" ".join(sentences[i : i + size]) for i in range(0, len(sentences), size)]
        sections = [(None, p) for p in paragraphs]
    if len(sections) > limit:
        # Merge neighbours evenly so the outline keeps the whole text's order.
        per = math.ceil(len(sections) / limit)
        merged = []
        for i in range(0, len(sections), per):
            chunk = sections[i : i + per]
            merged.append((chunk[0][0], "\n\n".join(b for _, b in chunk)))
        sections = merged
    freq = _frequencies(split_sentences(text))
    result_sections = []
    for section_heading, section_body in sections:
        sentences = split_sentences(section_body)
        points = [sentences[i] for i in top_sentences(sentences, 2, freq)]
        result_sections.append(
            {
                "heading": section_heading or _title(keywords(section_body, 3, freq)),
                "points": points,
            }
        )
    return {
        "task": "outline",
        "title": title or _title(keywords(text, 4, freq)),
        "sections": result_sections,
        "method": "extractive-keywords",
    }
