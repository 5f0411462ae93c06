"""The prompt store's logic, one module per responsibility, behind one service object."""

from eco_prompt_store.service._experiments import ExperimentOps
from eco_prompt_store.service._labels import AlsoInTransaction, LabelOps
from eco_prompt_store.service._outcomes import OUTCOMES_GROUP, OutcomeOps
from eco_prompt_store.service._paging import CURSOR_PATTERN
from eco_prompt_store.service._prompts import PromptOps
from eco_prompt_store.service._tools import ToolOps
from eco_prompt_store.service._variations import VariationOps
from eco_prompt_store.service._watch import Watch


# ExperimentOps before LabelOps: it gives the resolution its running experiment.
class PromptStoreService(ExperimentOps, OutcomeOps, VariationOps, LabelOps, PromptOps, ToolOps):
    """Prompts, versions, labels, diff, render, lint, experiments, outcomes and variations
    over one database and the outbox."""


__all__ = ["CURSOR_PATTERN", "OUTCOMES_GROUP", "AlsoInTransaction", "PromptStoreService", "Watch"]
