"""Deterministic extractive methods behind the offline provider (no model weights).

Classification scores keyword overlap (with a small synonym table) between the text and
each label's name, description and examples; entities come from patterns; summaries and
outlines pick the text's own sentences by word-frequency scoring. Same input, same output.
Words, stems and stop words come from `eco_shared.text`, the toolkit doc-store search uses.
"""

from eco_llm_gateway.extractive._classify import classify
from eco_llm_gateway.extractive._entities import extract_entities
from eco_llm_gateway.extractive._patterns import ECOSYSTEM_SERVICES
from eco_llm_gateway.extractive._sentences import (
    keywords,
    outline,
    split_sentences,
    summarize,
    top_sentences,
)

__all__ = [
    "ECOSYSTEM_SERVICES",
    "classify",
    "extract_entities",
    "keywords",
    "outline",
    "split_sentences",
    "summarize",
    "top_sentences",
]
