"""The offline provider's extractive methods and the structured-task protocol."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from eco_llm_gateway.extractive import classify, extract_entities, outline, summarize
from eco_llm_gateway.protocol import LabelSpec, TaskSpecError, check_answer, find_task

INTENTS = [
    LabelSpec(name="search_documents"),
    LabelSpec(name="generate_document"),
    LabelSpec(name="summarize"),
    LabelSpec(name="query_logs"),
    LabelSpec(name="other"),
]

TEXT = (
    "The doc store keeps every document with its versions. Each version records a sha256 of "
    "its content. Provenance is stored with each document, so a reader can see which "
    "services produced it. Search runs over titles and bodies. The weather was nice."
)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Find the docs that mention Redis streams", "search_documents"),
        ("Write a report about the doc-store in markdown", "generate_document"),
        ("Give me a tl;dr of this", "summarize"),
        ("Show errors from the llm-gateway in the last 24 hours", "query_logs"),
        ("Why is the sky blue", "other"),
    ],
)
def test_classify_picks_the_label_by_name_and_synonyms(text: str, label: str) -> None:
    answer = classify(text, INTENTS)
    assert answer["label"] == label
    assert set(answer["scores"]) == {i.name for i in INTENTS}


def test_classify_uses_descriptions_and_examples() -> None:
    labels = [
        LabelSpec(name="billing", description="invoices, payments and refunds"),
        LabelSpec(name="outage", examples=("the site is down", "nothing loads")),
    ]
    assert classify("I want a refund for the last invoice", labels)["label"] == "billing"
    assert classify("Nothing loads since this morning", labels)["label"] == "outage"


def test_classify_without_evidence_says_so() -> None:
    answer = classify("zzz qqq", [LabelSpec(name="alpha"), LabelSpec(name="beta")])
    assert answer["label"] == "alpha"
    assert answer["confidence"] == 0.0
    assert "no label matched" in answer["method"]


def test_entities_of_every_kind_with_values() -> None:
    now = datetime(2025, 1, 2, 12, 0, tzinfo=UTC)
    text = (
        "Show ERROR logs of the doc store and payments-service between 2024-05-01 and "
        "May 3, 2024 at 14:30, trace 4bf92f3577b34da6a3ce929d0e0e4736, run-abc123, as PDF; "
        "also the last 24 hours, since yesterday, and mail ops@example.com"
    )
    found = extract_entities(text, now=now)["entities"]
    by_text = {e["text"]: e for e in found}
    assert by_text["ERROR"]["type"] == "log_level"
    assert by_text["doc store"] == {**by_text["doc store"], "type": "service", "value": "doc-store"}
    assert by_text["payments-service"]["type"] == "service"
    window = by_text["between 2024-05-01 and May 3, 2024"]
    assert window["value"] == {"start": "2024-05-01", "end": "2024-05-03"}
    assert by_text["14:30"]["type"] == "time"
    assert by_text["4bf92f3577b34da6a3ce929d0e0e4736"]["type"] == "id"
    assert by_text["run-abc123"]["type"] == "id"
    assert by_text["PDF"]["value"] == "pdf"
    last = next(e for e in found if e["text"].endswith("last 24 hours"))
    assert last["value"]["duration"] == "PT24H"
    assert last["value"]["start"] == "2025-01-01T12:00:00Z"
    assert by_text["since yesterday"]["value"] == {"start": "2025-01-01"}
    assert by_text["ops@example.com"]["type"] == "email"
    for entity in found:
        assert text[entity["start"] : entity["end"]] == entity["text"]


def test_entities_filtered_by_type_and_given_service_names() -> None:
    found = extract_entities(
        "billing engine errors in the past two days",
        types=["service", "time_window"],
        services=["billing engine"],
    )["entities"]
    assert [(e["type"], e["value"] if e["type"] == "service" else None) for e in found] == [
        ("service", "billing engine"),
        ("time_window", None),
    ]
    assert found[1]["value"]["seconds"] == 2 * 86400
    assert "start" not in found[1]["value"]  # no `now`, no guessing


def test_summarize_copies_the_best_sentences_in_order() -> None:
    answer = summarize(TEXT, 2)
    assert len(answer["sentences"]) == 2
    for sentence in answer["sentences"]:
        assert sentence in TEXT
    assert "weather" not in answer["summary"]
    positions = [TEXT.index(s) for s in answer["sentences"]]
    assert positions == sorted(positions)


def test_outline_uses_headings_when_there_are_some() -> None:
    doc = "# Guide\n\n## Install\nRun uv sync. It installs all.\n\n## Run\nRun eco up. It waits."
    answer = outline(doc)
    assert answer["title"] == "Guide"
    assert [s["heading"] for s in answer["sections"]] == ["Install", "Run"]
    assert answer["sections"][0]["points"] == ["Run uv sync.", "It installs all."]


def test_outline_of_plain_text_groups_sentences() -> None:
    answer = outline(TEXT, max_sections=2)
    assert 1 <= len(answer["sections"]) <= 2
    assert all(p in TEXT for s in answer["sections"] for p in s["points"])
    assert answer["title"]


def test_find_task_reads_the_json_system_message() -> None:
    messages = [
        ("system", "You are helpful."),
        ("system", json.dumps({"task": "classify", "labels": ["a", "b"]})),
        ("user", "hello"),
    ]
    spec, index = find_task(messages)
    assert spec is not None
    assert index == 1
    assert spec.label_names == ["a", "b"]
    assert find_task([("system", '{"not": "a task"}'), ("user", "x")]) == (None, None)
    assert find_task([("user", '{"task": "classify"}')]) == (None, None)  # only system


@pytest.mark.parametrize(
    "spec",
    [
        {"task": "classify", "labels": ["only-one"]},
        {"task": "classify", "labels": ["a", "a"]},
        {"task": "translate"},
        {"task": "summarize", "max_sentences": 0},
        {"task": "outline", "surprise": 1},
    ],
)
def test_invalid_task_specs_are_refused(spec: dict[str, object]) -> None:
    with pytest.raises(TaskSpecError):
        find_task([("system", json.dumps(spec))])


def test_check_answer_holds_remote_answers_to_the_task_shape() -> None:
    spec, _ = find_task([("system", json.dumps({"task": "classify", "labels": ["a", "b"]}))])
    data, text = check_answer(spec, '```json\n{"label": "b"}\n```')
    assert data == {"label": "b"}
    assert text == '{"label": "b"}'
    with pytest.raises(ValueError, match="not one of"):
        check_answer(spec, '{"label": "c"}')
    with pytest.raises(ValueError, match="not JSON"):
        check_answer(spec, "Sure! It is b.")
