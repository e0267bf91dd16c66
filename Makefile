# Two commands for a newcomer: `make demo` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-torch bench lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Stamps record which extras are installed, so repeated runs skip pip.
$(VENV)/.demo: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[cli,data,viz,serve]"
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]"
	touch $@ $(VENV)/.demo

# Peers to compare against: torch==2.13.0 exactly (the CPU build; any other spec pulls a
# multi-GB CUDA build), micrograd, mygrad, HIPS autograd and JAX.
$(VENV)/.bench: pyproject.toml $(VENV)/.dev
	$(BIN)/pip install -q -e ".[bench]" torch==2.13.0 jax
	touch $@

demo: $(VENV)/.demo
	$(BIN)/chainrule tour

test: $(VENV)/.dev
	$(BIN)/python -m pytest src tests

# Run by .ci/run after `make test`: the tests that compare against PyTorch.
test-torch: $(VENV)/.dev
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/python -m pytest tests -m torch

bench: $(VENV)/.bench
	$(BIN)/python benchmarks/run_all.py

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/lint-imports  # the layers in pyproject.toml: no import circles, no upward imports

format: $(VENV)/.dev
	$(BIN)/ruff format src tests benchmarks examples
	$(BIN)/ruff check --fix src tests benchmarks examples

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .hypothesis
