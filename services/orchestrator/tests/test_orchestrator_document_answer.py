"""`document_answer`'s keywords and passage matching, on the shared text toolkit."""

from __future__ import annotations

import pytest

from eco_orchestrator.workflows.document_answer import keywords, mentions
from eco_shared.text import stem


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What do our documents say about retries?", ["retries"]),
        (
            "How does the doc-store handle idempotency keys?",
            ["doc-store", "handle", "idempotency", "keys"],
        ),
        # one keyword a stem: the doc store's stemmed index finds every inflection
        ("retries, retried, retrying: the retry policy", ["retries", "policy"]),
        ("Tell me what the documentation says", []),
    ],
)
def test_keywords_drop_stop_and_question_words(question: str, expected: list[str]) -> None:
    assert keywords(question) == expected


def test_keywords_are_capped() -> None:
    assert len(keywords("alpha bravo charlie delta echo foxtrot golf hotel")) == 6


def test_passages_match_by_stem() -> None:
    stems = {stem(t) for t in keywords("What do our documents say about retries?")}
    assert mentions("Idempotent calls are retried three times with backoff.", stems)
    assert mentions("The retry budget is shared.", stems)
    assert not mentions("The breaker opens after five consecutive failures.", stems)
    # a stem inside another word is no mention (substring matching said it was)
    assert not mentions("Read the retrospective.", {stem("retro")})
