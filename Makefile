# The two Quick-start commands. Each bootstraps .venv itself and reinstalls only
# when pyproject.toml changes, so a fresh machine needs nothing but python3, pip and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint bench clean

demo: $(VENV)/.installed-demo
	$(BIN)/openclarify demo

test: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports
	bash tests/web/ensure_chromium.sh
	sh .ci/ensure-postgres
	$(BIN)/python -m pytest -q

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/kernelshap_bench.py --records 24 --write

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed-demo: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install -q -e '.[sklearn]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed-demo

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache
