"""Wire models of the prompt store: what its routes take and answer with.

The prompt store validates its requests and builds its responses with these classes, and
`eco_shared.adapters.prompt_store` reads responses back with them, so the two cannot drift.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import MISSING, AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr

from eco_shared.pagination import Page

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,127}$"
LABEL_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
TAG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
# Text the store keeps holds no NUL (PostgreSQL cannot store it).
TEXT_PATTERN = r"^[^\x00]*$"
LABEL_MOVED = "prompt.label_moved"
LATEST = "latest"
MAX_PAGE_SIZE = 100

Syntax = Literal["mustache", "jinja2", "fstring"]
Kind = Literal["text", "chat"]
VariableType = Literal["string", "number", "integer", "boolean", "object", "array"]
OriginKind = Literal["push", "seed", "variation", "rollback"]


def _encodable(value: Any) -> Any:
    """Refuse lone surrogates anywhere in a JSON value: they are not UTF-8 text."""
    if isinstance(value, str):
        value.encode("utf-8")
    elif isinstance(value, dict):
        for key, item in value.items():
            _encodable(key)
            _encodable(item)
    elif isinstance(value, list):
        for item in value:
            _encodable(item)
    return value


Text = Annotated[str, Field(pattern=TEXT_PATTERN), AfterValidator(_encodable)]
Json = Annotated[dict[str, Any], AfterValidator(_encodable)]
PromptName = Annotated[str, Field(pattern=NAME_PATTERN)]
LabelName = Annotated[str, Field(pattern=LABEL_PATTERN)]
VersionNumber = Annotated[int, Field(ge=1, le=2**31 - 1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VariableSpec(_Strict):
    """A declared variable: its JSON type, and a default (which makes it optional).

    `default` and `required` serialise only when declared (pydantic's `MISSING`): an absent
    key is never sent as null, so `"default": null` always means a default of null (the
    templating rules read a present `default` key as "optional")."""

    type: VariableType = "string"
    description: Annotated[str, Field(max_length=2000, pattern=TEXT_PATTERN)] | None = None
    default: Any | MISSING = MISSING
    required: bool | MISSING = Field(
        MISSING, description="Default: true unless a default is given."
    )


Variables = Annotated[
    dict[Annotated[str, Field(max_length=64)], VariableSpec], Field(max_length=100)
]


class PromptCreate(_Strict):
    name: PromptName
    description: Annotated[str, Field(max_length=2000, pattern=TEXT_PATTERN)] | None = None
    tags: Annotated[list[Annotated[str, Field(pattern=TAG_PATTERN)]], Field(max_length=20)] = []
    kind: Kind = "text"


class Prompt(BaseModel):
    name: str
    description: str | None
    tags: list[str]
    kind: Kind
    created_at: datetime
    created_by: str
    latest_version: int | None = Field(description="The version `latest` points at.")
    labels: dict[str, int] = Field(description="Every label and the version it points at.")


class Origin(BaseModel):
    """Where a version came from (a push, a seed, a generated variation of `of_version`)."""

    kind: OriginKind
    of_version: int | None = None
    model: str | None = None


class PromptVersionCreate(_Strict):
    template: Text
    syntax: Syntax = "mustache"
    variables: Variables = {}
    config: Json = Field(default_factory=dict, description="Model settings, free-form.")
    message: Annotated[str, Field(max_length=2000, pattern=TEXT_PATTERN)] | None = None
    labels: Annotated[list[LabelName], Field(max_length=20)] = Field(
        default_factory=list, description="Labels to point at the new version (not `latest`)."
    )


class PromptVersion(BaseModel):
    name: str
    version: int
    sha256: str = Field(description="sha256 (hex) of the template's UTF-8 bytes.")
    template: str
    syntax: Syntax
    variables: dict[str, VariableSpec]
    config: dict[str, Any]
    message: str | None
    author: str
    created_at: datetime
    origin: Origin | None
    labels: list[str]


class LabelMoveRequest(_Strict):
    version: VersionNumber
    expected_version: VersionNumber | None = Field(
        description="The label's current version; null: the label must not exist yet."
    )
    reason: Annotated[str, Field(max_length=2000, pattern=TEXT_PATTERN)] | None = None


class RollbackRequest(_Strict):
    reason: Annotated[str, Field(max_length=2000, pattern=TEXT_PATTERN)] | None = None
    expected_version: VersionNumber | None = Field(
        None, description="When given, the label's current version must be this one."
    )


class Label(BaseModel):
    name: str
    label: str
    version: int
    previous_version: int | None
    moved_by: str
    moved_at: datetime
    reason: str | None


class LabelMove(BaseModel):
    name: str
    label: str
    from_version: int | None
    to_version: int
    by: str
    reason: str | None
    at: datetime


class DiffChanges(BaseModel):
    template: bool
    variables: bool
    config: bool
    syntax: bool


class Diff(BaseModel):
    name: str
    from_version: int
    to_version: int
    unified: str
    changes: DiffChanges


class RenderRequest(_Strict):
    variables: Json = {}


class Rendered(BaseModel):
    name: str
    version: int
    sha256: str
    rendered: str
    rendered_sha256: str


class LintRequest(_Strict):
    template: Text
    syntax: Syntax = "mustache"
    variables: Variables | None = None
    kind: Kind = "text"


class LintProblem(BaseModel):
    code: str
    message: str
    variable: str | None = None
    line: int | None = None


class LintResult(BaseModel):
    problems: list[LintProblem]


class ExperimentArmDefinition(BaseModel):
    name: str
    weight: float
    version: PromptVersion


class ExperimentDefinition(BaseModel):
    """What a client needs to assign an arm by itself (see `eco_shared.prompts.assign`)."""

    id: str
    name: str
    prompt: str
    label: str
    salt: str
    status: str
    arms: list[ExperimentArmDefinition]


class Resolution(BaseModel):
    name: str
    label: str
    version: PromptVersion
    experiment: ExperimentDefinition | None
    _etag: str | None = PrivateAttr(default=None)

    @property
    def etag(self) -> str | None:
        """The response's ETag (send it back as `etag` to get None while nothing changed)."""
        return self._etag


class PromptEvent(BaseModel):
    """A `prompt.label_moved` event of the watch feed; `cursor` is its SSE id."""

    cursor: str = ""
    id: str
    type: str
    source: str
    time: str
    data: dict[str, Any]


class PromptPage(Page[Prompt]):
    """Prompts, newest first."""


class VersionPage(Page[PromptVersion]):
    """Versions of a prompt, newest first."""


class LabelMovePage(Page[LabelMove]):
    """Moves of a label, newest first."""
