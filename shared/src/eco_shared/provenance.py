"""The provenance record stored with every document (DESIGN.md "Provenance record").

The orchestrator builds it from what actually happened (recorded calls, real hashes); the
doc store validates and stores it. The fixed fields are typed; every part also accepts
extra fields, so a producer can add detail without a schema change. Anything a producer
does not know stays `None` (unknown), never a guess.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow")


class WorkflowExecution(_Part):
    """The run that made the document (a W3C PROV activity)."""

    execution_id: str | None = None
    workflow_name: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    status: str | None = None


class ServiceCall(_Part):
    """One call to a service during the run (a PROV agent associated with the activity)."""

    service: str
    instance_id: str | None = None
    operation: str | None = None
    started_at: datetime | None = None
    duration_ms: float | None = None
    status: str | int | None = None


class UserContext(_Part):
    """Who asked, and what they asked for. As the doc store answers it, `user_id` is the
    verified user (of `principal`) and `claimed_user_id` what the request body claimed."""

    user_id: str | None = None
    claimed_user_id: str | None = Field(
        default=None, description="The `user_id` a request claimed: a claim, never the owner."
    )
    query: str | None = None
    intent: str | None = None
    entities: list[Any] | dict[str, Any] | None = None


PromptSource = Literal["store", "cache", "stale", "snapshot", "seed"]


class PromptUsed(_Part):
    """A prompt template the run used: by name, version and the hash of its exact bytes;
    which label resolved it, where the bytes came from (`store`: fetched; `cache`: the
    client's fresh copy; `stale`: its last good copy while the store was unreachable;
    `snapshot`: the on-disk copy; `seed`: the copy shipped in code), the hash of the text as
    rendered, and the experiment arm that chose it."""

    name: str
    version: str | None = None
    sha256: str | None = None
    label: str | None = None
    source: PromptSource | None = None
    rendered_sha256: str | None = None
    experiment_id: str | None = None
    experiment_arm: str | None = None


class DataRef(_Part):
    """An input or output of the run; `sha256` is `None` when it was not hashed."""

    uri: str
    sha256: str | None = None


class DataLineage(_Part):
    """What went in, what was done, what came out; `inputs=None` means unknown."""

    inputs: list[DataRef] | None = None
    steps: list[Any] = Field(default_factory=list)
    outputs: list[DataRef] | None = None


class QualityMetrics(_Part):
    """Self-assessed quality of the result (0..1 where known)."""

    confidence: float | None = None
    completeness: float | None = None
    accuracy: float | None = None


class LLMUsage(_Part):
    """The model that wrote the content (a PROV software agent `provider/model`)."""

    provider: str | None = None
    model: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None


class ProvenanceRecord(_Part):
    """How a document was made: activity (run), agents (services, model, user), lineage."""

    workflow_execution: WorkflowExecution | None = None
    services_chain: list[ServiceCall] = Field(default_factory=list)
    user_context: UserContext | None = None
    prompts_used: list[PromptUsed] = Field(default_factory=list)
    data_lineage: DataLineage | None = None
    quality_metrics: QualityMetrics | None = None
    content_sha256: str | None = None
    trace_id: str | None = None
    llm: LLMUsage | None = None
    # who the document is for, from a verified token (DESIGN.md "Identity and access")
    principal: str | None = Field(
        default=None, description="The subject the document belongs to (`user:<id>`, a SPIFFE id)."
    )
    acting_chain: list[str] | None = Field(
        default=None,
        description="The principal first, then every service that acted for it (RFC 8693 `act`).",
    )

    def is_empty(self) -> bool:
        """True when the record says nothing at all about how the document was made."""
        return not self.model_dump(exclude_defaults=True)
