"""Prompts: the templating rules (`template`), sticky experiment assignment (`assign`) and
the orchestrator's cached, outage-proof client of the prompt store (`client`).

Import from the submodules; this package re-exports nothing, so each stays light.
"""
