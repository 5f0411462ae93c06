"""The LangGraph workflows: the run graph and one `StateGraph` per workflow."""

from eco_orchestrator.workflows._base import RunCancelled, RunContext, RunState, ServiceFailure
from eco_orchestrator.workflows.run_graph import WORKFLOW_BUILDERS, build

__all__ = [
    "WORKFLOW_BUILDERS",
    "RunCancelled",
    "RunContext",
    "RunState",
    "ServiceFailure",
    "build",
]
