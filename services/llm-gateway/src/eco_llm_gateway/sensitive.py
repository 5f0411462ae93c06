"""Detector of secrets and personal data in prompts: types and spans, never the values."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Detection:
    """One finding inside one text: where it is and what kind, not what it says."""

    start: int
    end: int
    type: str
    detail: str


# Order matters: earlier patterns win where spans overlap (a JWT is not also an api key).
_PATTERNS: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    (
        "private_key",
        "pem_private_key",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
            r".*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)",
            re.DOTALL,
        ),
    ),
    (
        "jwt",
        "json_web_token",
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ),
    ("api_key", "anthropic", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}")),
    ("api_key", "openai", re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}")),
    ("api_key", "aws_access_key_id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("api_key", "github", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{22,})")),
    ("api_key", "gitlab", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}")),
    ("api_key", "slack", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("api_key", "google", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("api_key", "stripe", re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}")),
    (
        "token",
        "authorization_header",
        re.compile(r"\b(?:Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{16,}", re.IGNORECASE),
    ),
    (
        "token",
        "secret_assignment",
        re.compile(
            r"\b[\w.-]*(?:api[_-]?key|secret|token|passw(?:or)?d|pwd|access[_-]?key)[\w.-]*"
            r"[\"']?\s*[:=]\s*[\"']?[^\s\"',;]{8,}",
            re.IGNORECASE,
        ),
    ),
    (
        "token",
        "url_credentials",
        re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.IGNORECASE),
    ),
    (
        "email",
        "email_address",
        re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
    ),
)

# What a match of each pattern must contain (any one of them): a pattern whose needles are
# all absent cannot match, so its scan is skipped (the same findings, found faster). The
# case-insensitive ones are checked on the lowered text, and only when it is ASCII (Unicode
# case folding has letters, like the Kelvin sign, that `lower()` would not bring to ASCII).
_NEEDLES: dict[str, tuple[str, ...]] = {
    "pem_private_key": ("-----BEGIN ",),
    "json_web_token": ("eyJ",),
    "anthropic": ("sk-ant-",),
    "openai": ("sk-",),
    "aws_access_key_id": ("AKIA", "ASIA"),
    "github": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    "gitlab": ("glpat-",),
    "slack": ("xox",),
    "google": ("AIza",),
    "stripe": ("_live_", "_test_"),
    "url_credentials": ("://",),
    "email_address": ("@",),
}
_FOLDED_NEEDLES: dict[str, tuple[str, ...]] = {
    "authorization_header": ("bearer", "basic", "token"),
    "secret_assignment": ("key", "secret", "token", "passw", "pwd"),
}
_DIGIT = re.compile(r"\d")


def _may_match(detail: str, text: str, lowered: str | None) -> bool:
    needles = _NEEDLES.get(detail)
    if needles is not None:
        return any(n in text for n in needles)
    folded = _FOLDED_NEEDLES.get(detail)
    if folded is not None and lowered is not None:
        return any(n in lowered for n in folded)
    return True


_CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
_PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]?\d{2,4}){1,4}"  # international
    r"|\(\d{3}\)\s?\d{3}[\s.-]\d{4}"  # (555) 123-4567
    r"|\d{3}[\s.-]\d{3}[\s.-]\d{4}"  # 555-123-4567
    r"|0\d{2,4}[\s/-]\d{3,4}[\s-]?\d{3,4}"  # national trunk prefix: 030 1234 5678
    r")(?![\w-])"
)


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum that every payment card number satisfies."""
    if not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card_numbers(text: str) -> list[Detection]:
    found = []
    for match in _CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group(0))
        # Card numbers are 13-19 digits, start with an issuer digit 2-6 and pass Luhn.
        if 13 <= len(digits) <= 19 and digits[0] in "23456" and len(set(digits)) > 1:
            if luhn_valid(digits):
                found.append(Detection(match.start(), match.end(), "card_number", "luhn_valid"))
    return found


def _phone_numbers(text: str) -> list[Detection]:
    found = []
    for match in _PHONE.finditer(text):
        digits = re.sub(r"\D", "", match.group(0))
        if 7 <= len(digits) <= 15:
            found.append(Detection(match.start(), match.end(), "phone", "phone_number"))
    return found


def detect(text: str) -> list[Detection]:
    """Every secret and piece of personal data in `text`, without overlaps, in text order."""
    candidates: list[tuple[int, Detection]] = []
    lowered = text.lower() if text.isascii() else None
    for rank, (kind, detail, pattern) in enumerate(_PATTERNS):
        if not _may_match(detail, text, lowered):
            continue
        for match in pattern.finditer(text):
            candidates.append((rank, Detection(match.start(), match.end(), kind, detail)))
    if _DIGIT.search(text):  # cards and phone numbers are digits
        rank = len(_PATTERNS)
        candidates += [(rank, d) for d in _card_numbers(text)]
        candidates += [(rank + 1, d) for d in _phone_numbers(text)]
    chosen: list[Detection] = []
    # Higher-ranked kinds first; a later candidate that overlaps a chosen span is dropped.
    for _, detection in sorted(candidates, key=lambda c: (c[0], c[1].start)):
        if any(detection.start < d.end and d.start < detection.end for d in chosen):
            continue
        chosen.append(detection)
    return sorted(chosen)


def detect_messages(contents: Sequence[str]) -> list[tuple[int, Detection]]:
    """Findings of every message, as (message index, detection)."""
    return [(index, d) for index, text in enumerate(contents) for d in detect(text)]
