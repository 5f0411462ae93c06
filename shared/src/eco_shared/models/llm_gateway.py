"""Wire models of the llm-gateway: OpenAI's chat-completions shape with the gateway's `eco`
block, and the gateway's own model, provider and usage reports.

The service answers with these models and `eco_shared.adapters.llm_gateway` reads them back,
so the two cannot disagree on a field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.config import JsonDict

Role = Literal["system", "developer", "user", "assistant"]
Health = Literal["healthy", "degraded", "down", "unknown"]


class TextPart(BaseModel):
    """One part of an array-valued message content (only text is supported)."""

    model_config = ConfigDict(strict=True)

    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    """One message of a conversation."""

    model_config = ConfigDict(extra="ignore", strict=True)

    role: Role
    content: str | list[TextPart]
    name: str | None = Field(default=None, max_length=64)

    @property
    def text(self) -> str:
        """The message's content as plain text."""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class ResponseFormat(BaseModel):
    """`text`, `json_object`, or `json_schema` (structured outputs: no provider honours it yet)."""

    model_config = ConfigDict(strict=True)

    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: dict[str, Any] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(strict=True)

    include_usage: bool = False


StopSequence = Annotated[str, Field(min_length=1, max_length=100)]


def _integral(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


# JSON Schema's integer includes 5.0; strict validation alone would refuse it. (Limits go
# before it in `Annotated`, or the schema shows them as "ge" rather than "minimum".)
_INTEGRAL = BeforeValidator(_integral)
JsonInt = Annotated[int, _INTEGRAL]

# A message whose text is not blank (the gateway refuses a conversation of blank messages).
_NOT_BLANK = "\\S"
_SOME_TEXT: JsonDict = {
    "type": "object",
    "required": ["content"],
    "properties": {
        "content": {
            "anyOf": [
                {"type": "string", "pattern": _NOT_BLANK},
                {
                    "type": "array",
                    "contains": {
                        "type": "object",
                        "required": ["text"],
                        "properties": {"text": {"type": "string", "pattern": _NOT_BLANK}},
                    },
                },
            ]
        }
    },
}


class ChatCompletionRequest(BaseModel):
    """`POST /v1/chat/completions`: OpenAI's request shape.

    Parameters a provider cannot honour (`tools`, `n` > 1, `logprobs`, ...) are refused with a
    400 naming them, unless `drop_params` is true; fields OpenAI does not define are ignored.
    """

    # strict: a request the schema calls invalid (`"cache": 0`) is refused, not coerced
    model_config = ConfigDict(extra="ignore", strict=True)

    model: str = Field(default="auto", min_length=1, max_length=256)
    messages: list[ChatMessage] = Field(
        min_length=1,
        description="At least one message must have text that is not blank.",
        json_schema_extra={"contains": _SOME_TEXT},
    )
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: Annotated[int, Field(ge=1), _INTEGRAL] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1), _INTEGRAL] | None = None
    stop: StopSequence | Annotated[list[StopSequence], Field(max_length=4)] | None = None
    n: Annotated[int, Field(ge=1, le=128), _INTEGRAL] | None = Field(
        default=None, description="Choices wanted (only 1)."
    )
    seed: JsonInt | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, Field(ge=0, le=20), _INTEGRAL] | None = None
    tools: list[dict[str, Any]] | None = Field(default=None, min_length=1, max_length=128)
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    functions: list[dict[str, Any]] | None = Field(default=None, min_length=1, max_length=128)
    function_call: str | dict[str, Any] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    response_format: ResponseFormat | None = None
    user: str | None = Field(default=None, max_length=256)
    drop_params: bool = Field(
        default=False,
        description="Gateway extension (LiteLLM's name): drop parameters the provider cannot "
        "honour instead of refusing them; the answer names them in `eco.dropped_params`.",
    )
    cache: bool | None = Field(
        default=None,
        description="Gateway extension: true caches this request, false never; "
        "default: cached when temperature is 0.",
    )

    @property
    def stops(self) -> list[str]:
        """The stop sequences as a list."""
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    @property
    def output_limit(self) -> int | None:
        """The requested cap on output tokens (`max_completion_tokens` wins)."""
        return self.max_completion_tokens or self.max_tokens

    @property
    def json_mode(self) -> bool:
        """Whether a JSON object was asked for (`response_format: json_object`)."""
        return self.response_format is not None and self.response_format.type == "json_object"


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: str
    logprobs: None = None


class Finding(BaseModel):
    """One piece of sensitive content: its type and where it is, never its value."""

    type: str
    detail: str | None = None
    message: int = Field(description="Index of the message it was found in.")
    start: int
    end: int


class Attempt(BaseModel):
    """One provider the router tried, and what came of it."""

    provider: str
    model: str
    outcome: str  # ok | timeout | unavailable | rate_limited | server_error | bad_response | ...
    status: int | None = None
    detail: str | None = None
    retry_after_s: float | None = Field(default=None, description="The provider's Retry-After.")
    duration_ms: float


class Route(BaseModel):
    requested: str
    reason: str
    attempts: list[Attempt] = Field(default_factory=list)


class Sensitivity(BaseModel):
    detected: bool
    findings: list[Finding] = Field(default_factory=list)


class EcoInfo(BaseModel):
    """The gateway's account of the call: who answered, why, and from where."""

    provider: str
    model: str
    local: bool
    cache_hit: bool
    caller: str = Field(description="The principal's subject, as the call is accounted.")
    task: str | None = None
    route: Route
    sensitive: Sensitivity
    dropped_params: list[str] = Field(
        default_factory=list,
        description="Parameters dropped because the provider cannot honour them (drop_params).",
    )


class ChatCompletion(BaseModel):
    """The OpenAI chat-completion response with the gateway's `eco` block."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    system_fingerprint: str | None = None
    choices: list[Choice]
    usage: Usage
    eco: EcoInfo


class OpenAIErrorDetail(BaseModel):
    """OpenAI's error object; `eco` is the gateway's problem details (RFC 9457) behind it."""

    message: str
    type: str
    param: str | None = None
    code: str | None = None
    eco: dict[str, Any] | None = Field(
        default=None, description="The problem details: type URN, title, status, errors, ..."
    )


class OpenAIError(BaseModel):
    """Every error on `/v1/*`, in OpenAI's shape (the official SDKs read `error.message`)."""

    model_config = ConfigDict(title="OpenAIError")

    error: OpenAIErrorDetail


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str
    provider: str
    kind: str
    local: bool


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class LatencyStats(BaseModel):
    avg_ms: float | None
    p50_ms: float | None
    p95_ms: float | None


class ProbeResult(BaseModel):
    ok: bool
    duration_ms: float
    error: str | None = None


class ProviderStatus(BaseModel):
    name: str
    kind: str
    local: bool
    base_url: str | None
    models: list[str]
    health: Health
    circuit: str | None = Field(description="State of the shared client's breaker for its host.")
    recent_calls: int
    recent_errors: int
    error_rate: float | None
    latency: LatencyStats
    total_calls: int
    total_errors: int
    last_error: str | None = None
    last_error_at: str | None = None
    probe: ProbeResult | None = None


class ProviderList(BaseModel):
    providers: list[ProviderStatus]
    routing: list[str] = Field(description="The `auto` preference order (provider/model).")


class UsageTotals(BaseModel):
    calls: int = 0
    errors: int = 0
    rate_limited: int = 0
    cache_hits: int = 0
    sensitive: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0


class CallerUsage(BaseModel):
    totals: UsageTotals
    by_provider: dict[str, UsageTotals]


class UsageReport(BaseModel):
    """Totals by caller (principal subject) and provider: the caller's own, unless it holds
    `gateway:read:all`."""

    since: str | None
    until: str
    caller: str | None
    provider: str | None
    complete: bool = Field(
        description="False when part of the window is older than the retained usage log."
    )
    totals: UsageTotals
    by_caller: dict[str, CallerUsage]
    by_provider: dict[str, UsageTotals]


class UsageRecord(BaseModel):
    """One call as the usage log keeps it, by the principal that made it."""

    caller: str = Field(description="The principal's subject (`user:<id>` or a service's id).")
    actors: list[str] = Field(
        default_factory=list,
        description="The services that acted for the caller, nearest first (RFC 8693 `act`).",
    )
    key_id: str | None = Field(
        default=None, description="The API key the caller's token came from (its id only)."
    )
    run_id: str | None = Field(
        default=None,
        description="The run the call was made for, from the caller's verified token (its run "
        "grant's resource `urn:eco:run:<id>`), never from a header; absent outside runs.",
    )
    requested_model: str
    provider: str
    model: str
    status: int
    outcome: str
    stream: bool
    cache_hit: bool
    tokens_in: int
    tokens_out: int
    cost_usd: float
    duration_ms: float
    task: str | None
    sensitive: bool
    finding_types: list[str]
    route_reason: str
    attempts: list[Attempt]


class UsageLogEntry(UsageRecord):
    """A usage record as read back: with its log id and time."""

    id: str
    time: str


class UsageLog(BaseModel):
    entries: list[UsageLogEntry]
