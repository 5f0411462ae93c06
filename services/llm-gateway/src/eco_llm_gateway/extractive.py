"""Deterministic extractive methods behind the offline provider (no model weights).

Classification scores keyword overlap (with a small synonym table) between the text and
each label's name, description and examples; entities come from patterns; summaries and
outlines pick the text's own sentences by word-frequency scoring. Same input, same output.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from eco_llm_gateway.protocol import LabelSpec

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'_-]*|\d+")

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his i if in into is it its
    itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    when where which while who whom will with would you your yours yourself yourselves also
    may might must shall us let lets please could would i'm it's don't""".split()
)

# Groups of words that mean the same for intent matching (stemmed when built).
_SYNONYM_GROUPS = (
    "summarize summary summarise tldr recap overview brief digest condense gist shorten",
    "search find look lookup locate query retrieve fetch show list browse",
    "generate create write draft compose produce make build prepare author",
    "document doc docs report documentation page article guide manual readme paper",
    "log logs error errors exception failure fail failed crash trace incident warning",
    "explain why how describe clarify understand question meaning",
    "compare comparison versus vs difference differ contrast",
    "translate translation",
    "status health healthy running available alive uptime",
    "delete remove erase drop purge",
    "update change modify edit revise",
    "outline structure sections toc skeleton",
    "metric metrics usage cost tokens statistics stats",
    "service services instance instances endpoint",
    "greeting hello hi hey thanks thank",
)


def stem(word: str) -> str:
    """A light, deterministic suffix stripper (enough to match plural and -ing forms)."""
    w = word.lower().strip("'")
    if w.endswith("isation"):
        w = w[:-7] + "ization"
    for british in ("ise", "ised", "ises", "ising"):
        if w.endswith(british) and len(w) > len(british) + 3:
            w = w[: -len(british)] + "iz" + british[2:]
            break
    for suffix, replacement in (
        ("ies", "y"),
        ("ied", "y"),
        ("ing", ""),
        ("ed", ""),
        ("es", ""),
        ("s", ""),
        ("ly", ""),
    ):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3 and not w.endswith("ss"):
            w = w[: -len(suffix)] + replacement
            if suffix in ("ing", "ed") and w[-1] == w[-2] and w[-1] not in "lsz":
                w = w[:-1]  # logging -> log, stopped -> stop
            return w
    return w


def words(text: str) -> list[str]:
    """Lower-cased words of a text."""
    return [w.lower() for w in _WORD.findall(text)]


def content_stems(text: str) -> list[str]:
    """Stems of the words that carry meaning (stopwords dropped)."""
    return [stem(w) for w in words(text) if w not in STOPWORDS and len(w) > 1]


_SYNONYMS: dict[str, frozenset[str]] = {}
for _group in _SYNONYM_GROUPS:
    _stems = frozenset(stem(w) for w in _group.split())
    for _s in _stems:
        _SYNONYMS[_s] = _SYNONYMS.get(_s, frozenset()) | _stems


def _matches(a: str, b: str) -> bool:
    return a == b or (min(len(a), len(b)) >= 5 and (a.startswith(b) or b.startswith(a)))


# ---------------------------------------------------------------------------- classify

_FALLBACK_LABELS = ("other", "unknown", "none", "general", "misc", "fallback", "default")


def _profile(label: LabelSpec) -> dict[str, float]:
    weights: dict[str, float] = {}

    def add(terms: Iterable[str], weight: float) -> None:
        for term in terms:
            weights[term] = max(weights.get(term, 0.0), weight)

    name_terms = content_stems(re.sub(r"[_\-/.]+", " ", label.name))
    add(name_terms, 3.0)
    for term in name_terms:
        add(_SYNONYMS.get(term, ()), 2.0)
    if label.description:
        add(content_stems(label.description), 1.0)
    for example in label.examples:
        add(content_stems(example), 1.5)
    return weights


def classify(text: str, labels: Sequence[LabelSpec]) -> dict[str, Any]:
    """Pick the label whose name, synonyms, description and examples the text matches best."""
    text = re.sub(r"\btl;?dr\b", "tldr", text, flags=re.I)
    terms = set(content_stems(text))
    lowered = " " + " ".join(words(text)) + " "
    profiles = [_profile(label) for label in labels]
    df = Counter(term for profile in profiles for term in profile)
    scores: list[float] = []
    evidence: list[list[str]] = []
    for label, profile in zip(labels, profiles, strict=True):
        score = 0.0
        matched: list[str] = []
        for term, weight in profile.items():
            if any(_matches(term, t) for t in terms):
                score += weight * math.log(1 + len(labels) / df[term])
                matched.append(term)
        phrase = " " + " ".join(words(re.sub(r"[_\-/.]+", " ", label.name))) + " "
        if phrase.strip() and phrase in lowered:
            score += 3.0
        norm = math.sqrt(sum(profile.values())) or 1.0
        scores.append(score / norm)
        evidence.append(sorted(matched))
    total = sum(scores)
    names = [label.name for label in labels]
    if total == 0:
        fallback = next((n for n in names if n.lower() in _FALLBACK_LABELS), names[0])
        return {
            "task": "classify",
            "label": fallback,
            "confidence": 0.0,
            "scores": dict.fromkeys(names, 0.0),
            "evidence": [],
            "method": "keyword-overlap (no label matched; fallback label)",
        }
    best = max(range(len(names)), key=lambda i: (scores[i], -i))
    return {
        "task": "classify",
        "label": names[best],
        "confidence": round(scores[best] / total, 3),
        "scores": {n: round(s / total, 3) for n, s in zip(names, scores, strict=True)},
        "evidence": evidence[best],
        "method": "keyword-overlap",
    }


# ---------------------------------------------------------------------------- entities

_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        (
            "january jan",
            "february feb",
            "march mar",
            "april apr",
            "may",
            "june jun",
            "july jul",
            "august aug",
            "september sep sept",
            "october oct",
            "november nov",
            "december dec",
        )
    )
    for m in names.split()
}
_MONTH = r"(?:" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "twenty-four": 24,
    "twenty four": 24,
    "thirty": 30,
    "forty-eight": 48,
    "sixty": 60,
    "ninety": 90,
}
_UNIT_SECONDS = {
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "night": 86400,
    "week": 7 * 86400,
    "weekend": 2 * 86400,
    "month": 30 * 86400,
    "quarter": 91 * 86400,
    "year": 365 * 86400,
}
_UNIT_ISO = {
    "second": "PT{n}S",
    "minute": "PT{n}M",
    "hour": "PT{n}H",
    "day": "P{n}D",
    "night": "P{n}D",
    "week": "P{n}W",
    "weekend": "P{d}D",
    "month": "P{n}M",
    "quarter": "P{m}M",
    "year": "P{n}Y",
}
_COUNT = r"(\d+|" + "|".join(sorted(map(re.escape, _NUMBERS), key=len, reverse=True)) + r")"
_UNIT = r"(second|minute|hour|day|night|week|weekend|month|quarter|year)s?"

_ISO_DATE = r"\d{4}-\d{2}-\d{2}"
_TEXT_DATE = (
    rf"{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH},?\s+\d{{4}}"
)
_ANY_DATE = rf"(?:{_ISO_DATE}|{_TEXT_DATE}|yesterday|today|tomorrow)"

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "time_window",
        re.compile(rf"\bbetween\s+(?P<a>{_ANY_DATE})\s+and\s+(?P<b>{_ANY_DATE})", re.I),
    ),
    ("time_window", re.compile(rf"\b(?P<dir>since|after|before|until)\s+(?P<a>{_ANY_DATE})", re.I)),
    (
        "time_window",
        re.compile(
            rf"\b(?:(?:in|over|during|within|for)\s+)?(?:the\s+)?(?P<dir>last|past|previous|next|"
            rf"coming)\s+(?P<n>{_COUNT[1:-1]})\s+(?P<unit>{_UNIT[1:]}",
            re.I,
        ),
    ),
    (
        "time_window",
        re.compile(
            r"\b(?P<dir>last|past|previous|this|next|current)\s+"
            r"(?P<unit>hour|day|night|week|weekend|month|quarter|year)\b",
            re.I,
        ),
    ),
    (
        "datetime",
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?", re.I
        ),
    ),
    ("date", re.compile(rf"\b(?:{_ISO_DATE}|{_TEXT_DATE})\b", re.I)),
    ("date", re.compile(r"\b(?:yesterday|today|tomorrow)\b", re.I)),
    (
        "time",
        re.compile(
            r"\b(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?(?:\s?(?:[ap]m\b|[ap]\.m\.))?"
            r"|\b(?:1[0-2]|0?[1-9])\s?(?:[ap]m\b|[ap]\.m\.)",
            re.I,
        ),
    ),
    ("email", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")),
    ("url", re.compile(r"\bhttps?://[^\s<>\"')\]]+", re.I)),
    (
        "id",
        re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I),
    ),
    (
        "id",
        re.compile(
            r"\b(?:doc|document|run|req|request|trace|span|job|task|inst|instance|user|evt|event|"
            r"msg|order|ticket)[-_:][A-Za-z0-9][A-Za-z0-9_-]{2,}\b",
            re.I,
        ),
    ),
    ("id", re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{16,64}\b", re.I)),
    ("id", re.compile(r"(?<![\w#])#\d{2,}\b")),
    (
        "format",
        re.compile(
            r"\b(markdown|md|pdf|html|json|csv|docx|txt|plain text|yaml|yml|xml|latex|rst|xlsx|"
            r"excel)\b",
            re.I,
        ),
    ),
    (
        "log_level",
        re.compile(r"\b(debug|info|warn|warnings?|errors?|critical|fatal)\b", re.I),
    ),
    (
        "service",
        re.compile(
            r"\b[a-z][a-z0-9]*(?:-[a-z0-9]+)*-(?:service|svc|api|gateway|collector|store|worker|"
            r"server|db|queue)\b"
        ),
    ),
]

ECOSYSTEM_SERVICES = (
    "discovery",
    "llm-gateway",
    "log-collector",
    "doc-store",
    "orchestrator",
    "cli",
)

_FORMATS = {"md": "markdown", "yml": "yaml", "txt": "text", "plain text": "text", "excel": "xlsx"}
_LEVELS = {"warn": "WARNING", "warnings": "WARNING", "errors": "ERROR"}


@dataclass
class _Candidate:
    type: str
    start: int
    end: int
    value: Any
    detail: str | None = None
    priority: int = 0


def _parse_text_date(text: str) -> date | None:
    t = text.strip().lower().replace(",", " ")
    t = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", t).replace(".", " ")
    parts = t.split()
    try:
        if re.fullmatch(_ISO_DATE, text.strip()):
            return date.fromisoformat(text.strip())
        if parts[0] in _MONTHS:
            return date(int(parts[2]), _MONTHS[parts[0]], int(parts[1]))
        if len(parts) >= 3 and parts[1] in _MONTHS:
            return date(int(parts[2]), _MONTHS[parts[1]], int(parts[0]))
    except (ValueError, IndexError):
        return None
    return None


_RELATIVE_DAYS = {"yesterday": -1, "today": 0, "tomorrow": 1}


def _date_value(text: str, now: datetime | None) -> Any:
    """ISO date for absolute dates; relative days resolved against `now` when given."""
    key = text.strip().lower()
    if key in _RELATIVE_DAYS:
        if now is None:
            return {"relative_days": _RELATIVE_DAYS[key]}
        return (now.date() + timedelta(days=_RELATIVE_DAYS[key])).isoformat()
    parsed = _parse_text_date(text)
    return parsed.isoformat() if parsed else None


def _iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def _window_value(match: re.Match[str], now: datetime | None) -> Any:
    groups = match.groupdict()
    if groups.get("b"):
        return {"start": _date_value(groups["a"], now), "end": _date_value(groups["b"], now)}
    direction = (groups.get("dir") or "").lower()
    if groups.get("a"):
        bound = _date_value(groups["a"], now)
        key = "start" if direction in ("since", "after") else "end"
        return {key: bound}
    unit = groups["unit"].lower().rstrip("s") if groups.get("unit") else "day"
    if unit not in _UNIT_SECONDS:
        unit = unit + "s" if unit + "s" in _UNIT_SECONDS else unit
    raw_n = (groups.get("n") or "1").lower()
    n = int(raw_n) if raw_n.isdigit() else _NUMBERS.get(raw_n, 1)
    seconds = n * _UNIT_SECONDS[unit]
    iso = _UNIT_ISO[unit].format(n=n, d=2 * n, m=3 * n)
    when = {"last": "past", "past": "past", "previous": "past", "next": "future"}.get(
        direction, "future" if direction == "coming" else "current"
    )
    value: dict[str, Any] = {
        "direction": when,
        "count": n,
        "unit": unit,
        "duration": iso,
        "seconds": seconds,
    }
    if now is not None and when == "past":
        value["start"] = _iso(now - timedelta(seconds=seconds))
        value["end"] = _iso(now)
    elif now is not None and when == "future":
        value["start"] = _iso(now)
        value["end"] = _iso(now + timedelta(seconds=seconds))
    return value


def _value(kind: str, match: re.Match[str], now: datetime | None) -> Any:
    text = match.group(0)
    if kind == "time_window":
        return _window_value(match, now)
    if kind == "date":
        return _date_value(text, now)
    if kind == "datetime":
        try:
            return _iso(datetime.fromisoformat(text.replace(" ", "T")))
        except ValueError:
            return None
    if kind == "time":
        m = re.match(r"(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s?([ap])?", text.lower())
        if m is None:
            return None
        hour, minute = int(m.group(1)), int(m.group(2) or 0)
        if m.group(4) == "p" and hour < 12:
            hour += 12
        if m.group(4) == "a" and hour == 12:
            hour = 0
        return f"{hour:02d}:{minute:02d}"
    if kind == "format":
        low = text.lower()
        return _FORMATS.get(low, low)
    if kind == "log_level":
        low = text.lower()
        return _LEVELS.get(low, low.upper())
    if kind == "service":
        return text.lower()
    if kind == "id" and text.startswith("#"):
        return text[1:]
    return text


def _service_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    alternatives = []
    for name in sorted(set(names), key=len, reverse=True):
        parts = [re.escape(p) for p in re.split(r"[-_ ]+", name) if p]
        if parts:
            alternatives.append(r"[-_ ]?".join(parts))
    if not alternatives:
        return None
    return re.compile(r"(?<![\w-])(?:" + "|".join(alternatives) + r")(?![\w-])", re.I)


def extract_entities(
    text: str,
    *,
    types: Sequence[str] | None = None,
    services: Sequence[str] = (),
    now: datetime | None = None,
) -> dict[str, Any]:
    """Dates, time windows, times, services, ids, formats, e-mails, URLs and log levels."""
    if now is not None and now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    wanted = set(types) if types else None
    candidates: list[_Candidate] = []
    known = [*ECOSYSTEM_SERVICES, *services]
    patterns = list(_PATTERNS)
    service_re = _service_pattern(known)
    if service_re is not None:
        # Known names first: `doc-store` is a service, not an id with a `doc-` prefix.
        patterns.insert(0, ("service", service_re))
    canonical = {re.sub(r"[-_ ]+", "", n.lower()): n for n in known}
    for priority, (kind, pattern) in enumerate(patterns):
        if wanted is not None and kind not in wanted:
            continue
        for match in pattern.finditer(text):
            value = _value(kind, match, now)
            if kind == "service":
                value = canonical.get(re.sub(r"[-_ ]+", "", value), value)
            if kind in ("date", "datetime") and value is None:
                continue
            candidates.append(_Candidate(kind, match.start(), match.end(), value, None, priority))
    candidates.sort(key=lambda c: (c.start, -(c.end - c.start), c.priority))
    chosen: list[_Candidate] = []
    for candidate in candidates:
        if chosen and candidate.start < chosen[-1].end:
            continue
        chosen.append(candidate)
    entities = [
        {
            "type": c.type,
            "text": text[c.start : c.end],
            "start": c.start,
            "end": c.end,
            "value": c.value,
        }
        for c in chosen
    ]
    return {"task": "extract_entities", "entities": entities, "method": "patterns"}


# ---------------------------------------------------------------------------- sentences

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
