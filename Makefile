# One command surface: hooks, CI and people call the same targets.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")

.PHONY: setup up test lint format typecheck bench

setup:  ## install uv if missing, then the whole workspace from uv.lock
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
		|| python3 -m pip install --quiet uv
	$(UV) sync --all-packages --frozen

up: setup  ## start the whole ecosystem on embedded defaults (Ctrl-C stops it)
	$(UV) run --frozen eco up

test: setup  ## every package's tests and the cross-service tests in tests/
	$(UV) run --frozen pytest $(PYTEST_ARGS)

lint: setup  ## ruff lint and format check, mypy strict on shared/
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy shared/src

format: setup
	$(UV) run --frozen ruff check --fix .
	$(UV) run --frozen ruff format .

bench: setup  ## benchmarks, each printed as a ratio against a baseline in the same run
	@failed=""; for script in bench/[!_]*.py; do echo "== $$script"; \
		$(UV) run --frozen python $$script || failed="$$failed $$script"; done; \
	if [ -n "$$failed" ]; then echo "below target or failed:$$failed"; exit 1; fi
