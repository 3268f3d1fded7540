# The whole set-up on a fresh Debian machine:
#   make run    create the virtual environment, install packages, start the product
#   make test   the same set-up plus the Debian packages the tests need, then every test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test lint bench doctor system-packages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(VENV)/.runtime $@

run: $(VENV)/.runtime
	$(BIN)/python run.py

# Check .env against the tenant and the API it names (one line per check, exit 1 on a failure).
doctor: $(VENV)/.runtime
	$(BIN)/flask --app app doctor

system-packages:
	scripts/system-packages.sh

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/mypy

test: $(VENV)/.dev system-packages lint
	$(BIN)/pytest

bench: $(VENV)/.dev system-packages
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts
