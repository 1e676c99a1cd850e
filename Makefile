# The two commands: `make run` (everything up on http://127.0.0.1:8000) and `make test` (the suite on SQLite).
# Only python3.11 is needed: the virtualenv is created and filled on first use, and refilled when pyproject.toml
# changes (the stamp file below is older than it).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev

TEST_POSTGRES_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
TEST_NATS_URL ?= nats://127.0.0.1:4222
# Extra pytest arguments: `make test PYTEST_ARGS='--hypothesis-seed=3 -x'`.
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run run-scaled migrate test test-pg test-deep fuzz lint bench relay crash-test clean

help:
	@echo "make run        install if needed, migrate every service, start the services and the gateway (:8000)"
	@echo "make test       the whole suite on SQLite"
	@echo "make test-pg    the same suite on PostgreSQL (+ Redis, NATS): TEST_POSTGRES_URL, TEST_REDIS_URL, TEST_NATS_URL"
	@echo "make run-scaled the production shape: 2 workers per service on PostgreSQL, Redis, NATS, relays apart"
	@echo "make test-deep  the property-based tests, searching at random with many more examples (minutes)"
	@echo "make fuzz       schemathesis on the merged API, every role, many examples, SQLite then PostgreSQL (long)"
	@echo "make lint       ruff check, ruff format --check, mypy --strict, lint-imports (architecture contracts)"
	@echo "make bench      benchmarks, results in bench/results/"
	@echo "make migrate    apply every service's migrations"
	@echo "make relay      one service's outbox relay as its own process (SERVICE=orders|leaders|points)"
	@echo "make crash-test services as processes on PostgreSQL + NATS, killed at crash points, then reconciled"
	@echo "make clean      remove the local databases and caches (keeps .venv)"

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstalled only when pyproject.toml is newer than the stamp: a plain `make test` does not touch the network.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(STAMP)

migrate: $(STAMP)
	$(VENV)/bin/groupbuy migrate

run: migrate
	$(PY) -m services.launcher

# Every service on its own PostgreSQL database with two workers, flash-sale stock on Redis, events on NATS: the servers
# of SCALED_POSTGRES_URL, SCALED_REDIS_URL and SCALED_NATS_URL (defaults: this machine's). Migrates first.
run-scaled: $(STAMP)
	$(PY) -m services.launcher --scaled

# Hypothesis runs its `ci` profile here (tests/conftest.py): the same examples every run, so the suite cannot flake.
test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-pg: $(STAMP)
	TEST_POSTGRES_URL='$(TEST_POSTGRES_URL)' TEST_REDIS_URL='$(TEST_REDIS_URL)' TEST_NATS_URL='$(TEST_NATS_URL)' \
		$(PY) -m pytest -q $(PYTEST_ARGS)

# The tests marked `hypothesis` with the `deep` profile: a random search, longer sequences, failures kept in
# .hypothesis/ and replayed first on the next run.
test-deep: $(STAMP)
	$(PY) -m pytest -q -m hypothesis --hypothesis-profile=deep $(PYTEST_ARGS)

# Schemathesis on the merged OpenAPI document (tests/fuzz), as `make test` runs it but with many more examples per
# operation and every staff duty, on SQLite and then on PostgreSQL: 0 server errors, 0 undocumented answers.
FUZZ_EXAMPLES ?= 25
FUZZ_ROLES ?= anonymous,customer,leader,ops,catalogue,finance,leader_admin,support,manager
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_ROLES=$(FUZZ_ROLES) $(PY) -m pytest -q -s tests/fuzz $(PYTEST_ARGS)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_ROLES=$(FUZZ_ROLES) TEST_POSTGRES_URL='$(TEST_POSTGRES_URL)' \
		$(PY) -m pytest -q -s tests/fuzz $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy services tests bench
	$(VENV)/bin/lint-imports --no-cache

bench: $(STAMP)
	$(PY) -m bench

# The outbox relay of one service as its own process (run the service with EVENTS_RELAY_IN_PROCESS=false):
# `make relay SERVICE=orders`.
SERVICE ?= orders
relay: $(STAMP)
	$(VENV)/bin/groupbuy relay $(SERVICE)

# Services as processes on PostgreSQL and NATS, killed at the crash points; reconciliation must report 0 lost
# and 0 duplicated over at least 100 crashes.
crash-test: $(STAMP)
	mkdir -p var/crash
	TEST_POSTGRES_URL='$(TEST_POSTGRES_URL)' TEST_NATS_URL='$(TEST_NATS_URL)' \
		$(PY) -m tests.crash.harness --orders 300 --crash-probability 0.04 --min-crashes 100 --output var/crash/report.json

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache .hypothesis tests/.generated
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
