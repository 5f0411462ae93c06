"""The api_documentation graph's review loop on its own: a spec whose loose examples break
their schemas is routed to `revise`, which writes valid ones, and then to `format`."""

from types import SimpleNamespace
from typing import Any

from eco_orchestrator.settings import OrchestratorSettings
from eco_orchestrator.workflows import api_documentation as doc

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "things", "version": "1"},
    "paths": {
        "/things": {
            "get": {
                "operationId": "list_things",
                "summary": "List things",
                "tags": ["things"],
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}
                        },
                    }
                },
            }
        }
    },
    "components": {
        "schemas": {
            "Thing": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "minLength": 3},
                    # A null default on a non-nullable field: the loose example copies it.
                    "note": {"type": "string", "default": None},
                },
            }
        }
    },
}


async def test_invalid_examples_are_revised_then_formatted() -> None:
    # The review nodes read only the run's settings from their context.
    ctx: Any = SimpleNamespace(settings=OrchestratorSettings(review_threshold=0.9))
    state: dict[str, Any] = {"spec": SPEC}
    state |= await doc.content(state, ctx)  # type: ignore[arg-type]
    state |= await doc.review(state, ctx)  # type: ignore[arg-type]
    quality = state["quality"]
    assert quality["operations_covered"] == 1
    assert list(quality["examples_invalid"]) == ["GET /things response 200"]
    assert quality["score"] < 0.9
    assert doc.after_review(state) == "revise"  # type: ignore[arg-type]

    state |= await doc.revise(state, ctx)  # type: ignore[arg-type]
    assert state["revisions"] == 1
    state |= await doc.review(state, ctx)  # type: ignore[arg-type]
    assert state["quality"]["examples_invalid"] == {}
    assert state["quality"]["score"] == 1.0
    assert doc.after_review(state) == "format"  # type: ignore[arg-type]
    example = state["examples"]["GET /things"]["responses"]["200"]["example"]
    assert isinstance(example["note"], str)
    assert len(example["name"]) >= 3


async def test_revision_happens_at_most_once() -> None:
    ctx: Any = SimpleNamespace(settings=OrchestratorSettings(review_threshold=1.0))
    state: dict[str, Any] = {"spec": SPEC, "revisions": doc.MAX_REVISIONS}
    state |= await doc.content(state, ctx)  # type: ignore[arg-type]
    state["revisions"] = doc.MAX_REVISIONS
    state |= await doc.review(state, ctx)  # type: ignore[arg-type]
    assert state["quality"]["score"] < 1.0
    assert doc.after_review(state) == "format"  # type: ignore[arg-type]
