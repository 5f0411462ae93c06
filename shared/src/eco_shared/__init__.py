"""The shared kernel of the LLM Documentation Ecosystem."""
