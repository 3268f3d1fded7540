# The whole set-up on a fresh Debian machine:
#   make run    create the virtual environment, install packages, start the product
#   make test   the same set-up plus the Debian packages the tests need, then every test
#   make lock   rebuild requirements.lock and requirements-dev.lock from the ranges
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip --quiet --disable-pip-version-check
# Exact versions with the hash of every file PyPI has for them, for this Python (3.11, Linux).
COMPILE := CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes \
           --strip-extras --no-emit-index-url --no-emit-find-links

.PHONY: run test lint lock bench doctor system-packages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The packages come from the locks only, each checked against its hash; a stamp is older than
# its lock after `make lock` (or a pull that changed it), so the next run installs again.
$(VENV)/.runtime: requirements.lock | $(BIN)/python
	$(PIP) install --require-hashes -r requirements.lock
	touch $@

# The dev lock holds the runtime lock's pins plus the tools': it satisfies .runtime too.
$(VENV)/.dev: requirements-dev.lock requirements.lock | $(BIN)/python
	$(PIP) install --require-hashes -r requirements-dev.lock
	touch $(VENV)/.runtime $@

run: $(VENV)/.runtime
	$(BIN)/python run.py

# Check .env against the tenant and the API it names (one line per check, exit 1 on a failure).
doctor: $(VENV)/.runtime
	$(BIN)/flask --app app doctor

system-packages:
	scripts/system-packages.sh

# The newest versions the ranges in requirements-dev.txt allow, then the runtime subset of the
# same pins (pip-compile keeps the pins of the file it rewrites when they still fit), so both
# locks agree on every shared package. pip-tools is installed here only, never by run or test.
lock: | $(BIN)/python
	$(PIP) install 'pip-tools>=7.5,<8'
	$(COMPILE) --upgrade --output-file requirements-dev.lock requirements-dev.txt
	cp requirements-dev.lock requirements.lock
	$(COMPILE) --output-file requirements.lock requirements.txt

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/mypy

test: $(VENV)/.dev system-packages lint
	$(BIN)/pytest

bench: $(VENV)/.dev system-packages
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts
