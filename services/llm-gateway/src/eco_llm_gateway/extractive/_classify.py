"""Classification by keyword overlap: the text against each label's name (with a small
synonym table), description and examples."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from eco_llm_gateway.protocol import LabelSpec
from eco_shared.text import content_stems, stem, words

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


_SYNONYMS: dict[str, frozenset[str]] = {}
for _group in _SYNONYM_GROUPS:
    _stems = frozenset(stem(w) for w in _group.split())
    for _s in _stems:
        _SYNONYMS[_s] = _SYNONYMS.get(_s, frozenset()) | _stems


def _matches(a: str, b: str) -> bool:
    return a == b or (min(len(a), len(b)) >= 5 and (a.startswith(b) or b.startswith(a)))


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
