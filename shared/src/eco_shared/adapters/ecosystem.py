"""`Ecosystem`: every service's adapter on one `ServiceClient`, as one caller.

The CLI and the console both talk to the whole ecosystem as one principal (the CLI's user,
a signed-in console user); this is the one place that knows which adapter each service
has. Each adapter (its module and wire models) is imported when it is first used, so a
short command pays only for the services it talks to.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eco_shared.adapters.discovery import DiscoveryAdapter
    from eco_shared.adapters.doc_store import DocStoreAdapter
    from eco_shared.adapters.llm_gateway import LlmGatewayAdapter
    from eco_shared.adapters.log_collector import LogCollectorAdapter
    from eco_shared.adapters.orchestrator import OrchestratorAdapter
    from eco_shared.adapters.prompt_store import PromptStoreAdapter
    from eco_shared.directory import ServiceDirectory
    from eco_shared.http import ServiceClient


@dataclass
class Ecosystem:
    """Adapters of every service, resolved through `directory`, calling through `http`.

    `discovery_url` pins discovery's own address (a process that knows it, such as the
    console); without it discovery is resolved like any other service.
    """

    http: ServiceClient
    directory: ServiceDirectory
    discovery_url: str | None = None

    @cached_property
    def discovery(self) -> DiscoveryAdapter:
        from eco_shared.adapters.discovery import DiscoveryAdapter

        if self.discovery_url is not None:
            return DiscoveryAdapter(self.http, base_url=self.discovery_url)
        return DiscoveryAdapter(self.http, self.directory)

    @cached_property
    def docs(self) -> DocStoreAdapter:
        from eco_shared.adapters.doc_store import DocStoreAdapter

        return DocStoreAdapter(self.http, self.directory)

    @cached_property
    def logs(self) -> LogCollectorAdapter:
        from eco_shared.adapters.log_collector import LogCollectorAdapter

        return LogCollectorAdapter(self.http, self.directory)

    @cached_property
    def orchestrator(self) -> OrchestratorAdapter:
        from eco_shared.adapters.orchestrator import OrchestratorAdapter

        return OrchestratorAdapter(self.http, self.directory)

    @cached_property
    def prompts(self) -> PromptStoreAdapter:
        from eco_shared.adapters.prompt_store import PromptStoreAdapter

        return PromptStoreAdapter(self.http, self.directory)

    @cached_property
    def gateway(self) -> LlmGatewayAdapter:
        from eco_shared.adapters.llm_gateway import LlmGatewayAdapter

        return LlmGatewayAdapter(self.http, self.directory)
