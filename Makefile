# `make run` and `make test` each set up .venv when needed, then run.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Every `bsp` a test starts would compile the project's modules again, and pytest
# rewrite every plugin's, were bytecode not kept: a fifth of the CLI's start-up.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: run test lint docs clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# The distribution was named bsp before bsp-sante: an older .venv would list both.
	@$(BIN)/python -m pip uninstall --quiet --yes bsp 2>/dev/null || true
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/bsp

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# Three workers on two cores: a good part of the suite waits on the processes and
# terminals it starts (served platforms, `bsp` commands, tmux), and a third worker uses
# that time (a clean run: 462 s of pytest against 487–559 s with two).
test: lint
	$(BIN)/python -m pytest -n 3 -q

# The SVG screenshots of docs/img/, taken with the Pilot on the embedded platform.
docs: $(STAMP)
	$(BIN)/python docs/screenshots.py

clean:
	rm -rf $(VENV)
