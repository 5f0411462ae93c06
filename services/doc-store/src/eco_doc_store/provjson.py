"""Export provenance records as W3C PROV-JSON through the `prov` package.

Every version of a document is an entity with its sha256 (`wasRevisionOf` the one
before), attributed to the principal that stored it (from its token); the run that made a
version is an activity that `used` its inputs and prompts, associated with the services it
called, the model (`provider/model`) and the principal; each service of the acting chain
`actedOnBehalfOf` the principal. A version `wasDerivedFrom` its inputs and each prompt version
it was made with (an entity per name, version and sha256; the label, source and experiment
arm of that use on the relations). A user id the record itself names is only a claim
(`eco:claimed_user_id`). What is not known is written as `unknown`, never guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from prov.constants import PROV, PROV_LABEL, PROV_TYPE
from prov.identifier import Namespace
from prov.model import ProvActivity, ProvAgent, ProvDocument, ProvEntity

from eco_shared.auth import SERVICE_SUBJECT_PREFIX, user_subject
from eco_shared.provenance import DataRef, PromptUsed, ProvenanceRecord

ECO = Namespace("eco", "urn:eco:")
UNKNOWN = "unknown"


@dataclass(frozen=True)
class VersionFacts:
    """What the doc store itself knows about one version."""

    version: int
    title: str
    format: str
    sha256: str
    size_bytes: int
    created_at: datetime
    provenance: ProvenanceRecord | None
    # the token's subject that stored the version, then the services acting for it
    principal: str | None = None
    acting_chain: tuple[str, ...] = ()


def _local(*parts: object) -> str:
    return "/".join(quote(str(p), safe="") for p in parts)


class _Builder:
    """One PROV document; nodes shared between versions (agents, inputs) are made once."""

    def __init__(self, document_id: str) -> None:
        self.document_id = document_id
        self.doc = ProvDocument()
        self.doc.add_namespace(ECO)
        self._entities: dict[str, ProvEntity] = {}
        self._agents: dict[str, ProvAgent] = {}
        self._activities: dict[str, ProvActivity] = {}
        self._delegations: set[tuple[object, ...]] = set()

    def entity(self, local: str, attrs: dict[Any, Any]) -> ProvEntity:
        if local not in self._entities:
            self._entities[local] = self.doc.entity(ECO[local], attrs)
        return self._entities[local]

    def agent(self, local: str, attrs: dict[Any, Any]) -> ProvAgent:
        if local not in self._agents:
            self._agents[local] = self.doc.agent(ECO[local], attrs)
        return self._agents[local]

    def software(self, local: str, attrs: dict[Any, Any]) -> ProvAgent:
        return self.agent(local, {PROV_TYPE: PROV["SoftwareAgent"], **attrs})

    def data(self, kind: str, ref: DataRef) -> ProvEntity:
        return self.entity(
            _local(kind, ref.uri),
            {ECO["uri"]: ref.uri, ECO["sha256"]: ref.sha256 or UNKNOWN},
        )

    def version(self, facts: VersionFacts, previous: ProvEntity | None) -> ProvEntity:
        entity = self.entity(
            _local("document", self.document_id, "v", facts.version),
            {
                PROV_TYPE: ECO["Document"],
                PROV_LABEL: facts.title,
                ECO["document_id"]: self.document_id,
                ECO["version"]: facts.version,
                ECO["format"]: facts.format,
                ECO["sha256"]: facts.sha256,
                ECO["size_bytes"]: facts.size_bytes,
                ECO["stored_at"]: facts.created_at,
            },
        )
        if previous is not None:
            self.doc.wasRevisionOf(entity, previous)
        record = facts.provenance
        if record is None or _says_nothing(record):
            entity.add_attributes({ECO["provenance"]: UNKNOWN})
            if facts.principal is None:
                self.doc.wasAttributedTo(entity, self.software("service/doc-store", {}))
            else:
                self.doc.wasAttributedTo(entity, self.principal(facts))
        else:
            self.run(facts, entity, record)
        return entity

    def principal(self, facts: VersionFacts, activity: ProvActivity | None = None) -> ProvAgent:
        """The agent who stored a version, with the services that acted on its behalf."""
        subject = facts.principal
        users = user_subject("")
        if subject is None:
            agent = self.agent(
                _local("user", UNKNOWN), {PROV_TYPE: PROV["Person"], ECO["user_id"]: UNKNOWN}
            )
        elif subject.startswith(users):
            user_id = subject[len(users) :]
            agent = self.agent(
                _local("user", user_id),
                {PROV_TYPE: PROV["Person"], ECO["user_id"]: user_id, ECO["subject"]: subject},
            )
        else:
            agent = self._subject_agent(subject)
        for actor in facts.acting_chain[1:]:
            delegation = (actor, subject, activity.identifier if activity else None)
            if delegation not in self._delegations:
                self._delegations.add(delegation)
                self.doc.actedOnBehalfOf(self._subject_agent(actor), agent, activity)
        return agent

    def _subject_agent(self, subject: str) -> ProvAgent:
        if subject.startswith(SERVICE_SUBJECT_PREFIX):
            name = subject[len(SERVICE_SUBJECT_PREFIX) :]
            return self.software(_local("service", name), {ECO["service"]: name})
        return self.agent(_local("principal", subject), {ECO["subject"]: subject})

    def run(self, facts: VersionFacts, entity: ProvEntity, record: ProvenanceRecord) -> None:
        info = record.workflow_execution
        execution_id = info.execution_id if info else None
        attrs: dict[Any, Any] = {
            PROV_TYPE: ECO["WorkflowRun"],
            ECO["execution_id"]: execution_id or UNKNOWN,
            ECO["workflow_name"]: (info.workflow_name if info else None) or UNKNOWN,
            ECO["status"]: (info.status if info else None) or UNKNOWN,
            ECO["trace_id"]: record.trace_id or UNKNOWN,
        }
        if record.user_context is not None and record.user_context.query is not None:
            attrs[ECO["query"]] = record.user_context.query
        claimed = _claimed_user(record)
        if claimed is not None:
            attrs[ECO["claimed_user_id"]] = claimed
        if record.llm is not None:
            for name in ("tokens_in", "tokens_out"):
                value = getattr(record.llm, name)
                attrs[ECO[name]] = value if value is not None else UNKNOWN
        # A run without an id is still its own activity, named after what it generated.
        local = (
            _local("run", execution_id)
            if execution_id
            else _local("run", "unknown", self.document_id, "v", facts.version)
        )
        activity = self._activities.get(local)
        if activity is None:
            activity = self.doc.activity(
                ECO[local],
                info.started_at if info else None,
                info.completed_at if info else None,
                attrs,
            )
            self._activities[local] = activity
        self.doc.wasGeneratedBy(entity, activity)
        if record.content_sha256 is not None:
            entity.add_attributes({ECO["claimed_sha256"]: record.content_sha256})
        if record.quality_metrics is not None:
            for name in ("confidence", "completeness", "accuracy"):
                value = getattr(record.quality_metrics, name)
                entity.add_attributes({ECO[name]: value if value is not None else UNKNOWN})
        self.lineage(facts, entity, activity, record)
        self.agents(facts, entity, activity, record)

    def lineage(
        self,
        facts: VersionFacts,
        entity: ProvEntity,
        activity: ProvActivity,
        record: ProvenanceRecord,
    ) -> None:
        lineage = record.data_lineage
        if lineage is None or lineage.inputs is None:
            unknown = self.entity(
                _local("input", "unknown", self.document_id, "v", facts.version),
                {PROV_TYPE: ECO["UnknownInput"], PROV_LABEL: UNKNOWN},
            )
            self.doc.used(activity, unknown)
        else:
            for ref in lineage.inputs:
                source = self.data("input", ref)
                self.doc.used(activity, source)
                self.doc.wasDerivedFrom(entity, source, activity)
        for ref in (lineage.outputs or []) if lineage is not None else []:
            self.doc.wasGeneratedBy(self.data("output", ref), activity)
        for prompt in record.prompts_used:
            self.prompt(facts, entity, activity, prompt)

    def prompt(
        self, facts: VersionFacts, entity: ProvEntity, activity: ProvActivity, prompt: PromptUsed
    ) -> None:
        """The prompt version a run used: one entity per exact bytes (name, version, sha256),
        which the document `wasDerivedFrom`; how this run came by it (label, source, the
        rendered text's hash, the experiment arm) is a fact of the use, on both relations."""
        version = prompt.version or UNKNOWN
        if prompt.sha256:
            local = _local("prompt", prompt.name, version, prompt.sha256)
        else:  # bytes nobody hashed are not the same as any other use's: one per version
            local = _local(
                "prompt", prompt.name, version, UNKNOWN, self.document_id, "v", facts.version
            )
        used = self.entity(
            local,
            {
                PROV_TYPE: ECO["PromptVersion"],
                PROV_LABEL: f"{prompt.name} v{version}",
                ECO["name"]: prompt.name,
                ECO["version"]: version,
                ECO["sha256"]: prompt.sha256 or UNKNOWN,
            },
        )
        use: dict[Any, Any] = {
            ECO[name]: value
            for name in ("label", "source", "rendered_sha256", "experiment_id", "experiment_arm")
            if (value := getattr(prompt, name)) is not None
        }
        self.doc.used(activity, used, other_attributes=use or None)
        self.doc.wasDerivedFrom(entity, used, activity, other_attributes=use or None)

    def agents(
        self,
        facts: VersionFacts,
        entity: ProvEntity,
        activity: ProvActivity,
        record: ProvenanceRecord,
    ) -> None:
        services = dict.fromkeys(call.service for call in record.services_chain)
        for service in services:
            agent = self.software(_local("service", service), {ECO["service"]: service})
            self.doc.wasAssociatedWith(activity, agent)
        if record.llm is not None:
            model = f"{record.llm.provider or UNKNOWN}/{record.llm.model or UNKNOWN}"
            agent = self.software(_local("model", model), {ECO["model"]: model})
            self.doc.wasAssociatedWith(activity, agent)
        principal = self.principal(facts, activity)
        self.doc.wasAssociatedWith(activity, principal)
        self.doc.wasAttributedTo(entity, principal)


def _claimed_user(record: ProvenanceRecord) -> str | None:
    claimed = getattr(record.user_context, "claimed_user_id", None)
    return claimed if isinstance(claimed, str) else None


def _says_nothing(record: ProvenanceRecord) -> bool:
    """Whether the producer said nothing (what the doc store adds does not count)."""
    return not record.model_dump(exclude_defaults=True, exclude={"principal", "acting_chain"})


def prov_document(document_id: str, versions: Sequence[VersionFacts]) -> ProvDocument:
    """The PROV document of `versions` (oldest first) of one document."""
    builder = _Builder(document_id)
    previous: ProvEntity | None = None
    for facts in versions:
        previous = builder.version(facts, previous)
    return builder.doc


def prov_json(document_id: str, versions: Sequence[VersionFacts]) -> str:
    """The PROV-JSON text of `versions` of one document."""
    return str(prov_document(document_id, versions).serialize(format="json"))
