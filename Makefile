# Services: `make run` and `make test` are all a newcomer needs.
# Everything installs into .venv from requirements/ (exact versions locked in
# requirements/constraints.txt).

PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
MANAGE := cd Services && ../$(BIN)/python manage.py
CONSTRAINTS := -c requirements/constraints.txt
HOST ?= 127.0.0.1
PORT ?= 8000
# Test defaults: the PostgreSQL and Redis of this machine; override to point elsewhere.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/services
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install-prod install-dev install-gcp run run-docker run-docker-gpu install-precommit \
	run-precommit test test-fast lint bench bench-quick download-data sync models-local models-gcp model-tests report \
	migrate api-key browser clean

help:  ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(PIP) install -q --upgrade "pip>=24" wheel

$(VENV)/.prod: $(BIN)/python requirements/base.txt requirements/constraints.txt
	@echo "installing the runtime packages into $(VENV) (a few minutes the first time)"
	$(PIP) install -q -r requirements/base.txt $(CONSTRAINTS)
	@touch $@

$(VENV)/.dev: $(VENV)/.prod requirements/dev.txt
	@echo "installing the test and lint packages into $(VENV)"
	$(PIP) install -q -r requirements/dev.txt $(CONSTRAINTS)
	@touch $@

install-prod: $(VENV)/.prod  ## install what the web server and workers need
install-dev: $(VENV)/.dev  ## install that plus tests, linters and DVC
install-gcp: $(VENV)/.dev  ## install the Google Cloud parts (storage client, DVC's gs remote)
	$(PIP) install -q -r requirements/gcp.txt $(CONSTRAINTS)

migrate: install-prod
	$(MANAGE) migrate --no-input -v 0

api-key: migrate  ## print the local API key (created on first use)
	@$(MANAGE) create_api_key --user local --staff --name local --workspace default --key-file ../var/local-api-key

run: migrate  ## set up and start the web server and a worker on the embedded defaults
	@echo "API key for the Swagger UI (Authorize -> X-API-Key):"
	@$(MANAGE) create_api_key --user local --staff --name local --workspace default --key-file ../var/local-api-key
	@echo "Web app: http://$(HOST):$(PORT)/  (user 'local'). One-time login link, then set a password:"
	@$(MANAGE) login_link --user local --staff --base-url http://$(HOST):$(PORT)
	$(MANAGE) run_platform --host $(HOST) --port $(PORT)

run-docker:  ## web, worker, Redis and PostgreSQL in containers
	docker compose up --build

run-docker-gpu:  ## the same plus a worker on the gpu queue (needs an NVIDIA GPU)
	docker compose --profile gpu up --build

browser:  ## Debian's chromium for the browser tests (installed when missing)
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
		else echo "chromium is missing: install Debian's chromium package (the browser tests need it)"; fi; }

test: install-dev browser  ## set up and run the whole test suite against PostgreSQL and Redis
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install-dev  ## the suite without the slow end-to-end tests
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: install-dev  ## ruff, hadolint and actionlint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint Dockerfile Dockerfile.gpu
	$(BIN)/actionlint

install-precommit: install-dev  ## install the git pre-commit hook
	$(BIN)/pre-commit install

run-precommit: install-dev  ## run every pre-commit hook on every file
	$(BIN)/pre-commit run --all-files

bench: install-dev  ## benchmarks against peer tools; prints ratios and peak memory (long: full sizes)
	@set -e; for b in benches/bench_*.py; do echo "== $$b"; $(BIN)/python $$b; done

bench-quick: install-dev  ## every benchmark at small sizes: checks they run (the test suite does this too)
	@set -e; for b in benches/bench_*.py; do echo "== $$b --quick"; $(BIN)/python $$b --quick; done

download-data: install-prod  ## run the downloads configured in data/downloads.yaml
	$(MANAGE) download_data

# `make sync models-local` (bucket -> disk) or `make sync models-gcp` (disk -> bucket);
# SYNC_ARGS="--dry-run" lists what would move, "--delete" removes what the source lacks.
sync: install-prod  ## sync models with the GCS bucket: make sync models-local | models-gcp
	$(MANAGE) sync_models $(filter models-local models-gcp,$(MAKECMDGOALS)) $(SYNC_ARGS)

models-local models-gcp:
	@:

model-tests: install-dev  ## run the DVC pipelines and check their metrics against model_tests.yaml
	$(MANAGE) run_model_tests

report: install-dev  ## render the CML report markdown locally
	$(MANAGE) render_report

clean:  ## remove the virtualenv and local runtime state (keeps data/ and models/)
	rm -rf $(VENV) var
