# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Tests use the real services of this machine (CI starts them if they are down).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/tagloop
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run up test lint install install-dev services browser clean bench

# The platform runs the model in its worker, so `make run` needs the ML requirements too.
# pip's own progress shows: a first install downloads torch, minutes of silence otherwise.
$(VENV)/.installed: requirements-ml.txt requirements.txt
	@test -x $(PY) || { echo "Making the virtualenv ($(VENV))…"; $(PYTHON) -m venv $(VENV); }
	@echo "Installing Python packages (pip)…"
	@$(PY) -m pip install --disable-pip-version-check --progress-bar on -r requirements-ml.txt
	@touch $@

$(VENV)/.installed-dev: requirements-dev.txt requirements-ml.txt requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt >$(VENV)/pip.log 2>&1 \
		|| { cat $(VENV)/pip.log; exit 1; }
	@touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## make run: the whole platform (web + tagging worker + trainer) on http://127.0.0.1:8000 (PORT changes it)
run: install
	@$(PY) scripts/run_platform.py $(if $(PORT),--port $(PORT))

## make up: the compose stack (docker compose up -d --build --wait), on Docker Compose 2.24+ only
up:
	@scripts/compose.sh up -d --build --wait

## make test: lint, type checks and the whole test suite against real PostgreSQL, Redis, Celery, Chromium
test: install-dev services browser
	@DEBUG=1 $(VENV)/bin/ruff check --quiet .
	@DEBUG=1 $(VENV)/bin/ruff format --check --quiet .
	@DEBUG=1 $(VENV)/bin/mypy --no-error-summary .
	@DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) DEBUG=1 \
		$(PY) -m pytest $(PYTEST_ARGS)

lint: install-dev
	@DEBUG=1 $(VENV)/bin/ruff check . && DEBUG=1 $(VENV)/bin/ruff format --check . && DEBUG=1 $(VENV)/bin/mypy .

services:
	@scripts/ensure_services.sh

browser:
	@scripts/ensure_chromium.sh

bench: install-dev
	@echo "See bench/README.md: each benchmark is run by hand with its own arguments."

clean:
	rm -rf var test-artifacts
