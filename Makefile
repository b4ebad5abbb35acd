# mp4mp3 — one machine, the whole system. `make help` lists the targets.
SHELL := /bin/bash
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: help bootstrap up down status test lint chart-schema demo bench chaos fuzz k9s screenshots clean-state

help:  ## list targets
	@grep -E '^[a-z0-9-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

bootstrap:  ## install Debian packages, the Python venv and the Go builds (idempotent)
	@devstack/bootstrap.sh

up: bootstrap  ## start the devstack and every service (idempotent), print the URLs
	@$(PY) -m devstack up

down:  ## stop what `make up` started, nothing else
	@$(PY) -m devstack down

status:  ## which devstack servers run
	@$(PY) -m devstack status

test: bootstrap  ## every test CI runs: lint, unit, integration and end-to-end on the devstack
	@MP4MP3_LINT="$(MAKE) --no-print-directory lint" $(PY) -m tests $(PYTEST_ARGS)

# the linters' caches live with the other build caches, outside the checkout: a fresh clone of the
# same sources at the same path is linted in about a second, at a new path in about 23 s (mypy
# checks again what it cannot match by path), where an empty cache takes about 40 s
LINT_CACHE := $(or $(MP4MP3_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/mp4mp3)/lint

lint:  ## ruff and mypy
	@RUFF_CACHE_DIR=$(LINT_CACHE)/ruff .venv/bin/ruff check .
	@MYPY_CACHE_DIR=$(LINT_CACHE)/mypy .venv/bin/mypy --no-error-summary .

chart-schema:  ## regenerate the chart's values.schema.json and README table from values.yaml's @param comments
	@$(PY) charts/values_schema.py

demo: bootstrap  ## convert a generated sample video end to end and show the email
	@$(PY) -m devstack.demo

bench: bootstrap  ## run the benchmarks, write bench/results/
	@$(PY) -m bench

chaos: bootstrap  ## fault-injection soak on the devstack (N=60 FAULTS=16 SEED=random), write bench/results/chaos-<date>.*
	@$(PY) -m bench.chaos --n $(or $(N),60) --faults $(or $(FAULTS),16) $(if $(SEED),--seed $(SEED))

fuzz: bootstrap  ## fuzz the gateway's and auth's APIs from their OpenAPI documents (schemathesis), print totals
	@$(PY) -m tests.fuzz $(PYTEST_ARGS)

k9s:  ## k9s on the devstack's ConversionJobs, with docs/k9s/ (aliases, hotkeys, plugins); ARGS=... to pass others
	@devstack/build.sh k9s
	@$(PY) -m devstack.k9s $(ARGS)

screenshots: bootstrap  ## refresh docs/screenshots/ (the web page's states) with its browser test on the whole system
	@MP4MP3_SCREENSHOTS=$(CURDIR)/docs/screenshots $(PY) -m pytest tests/e2e/test_page.py -x -q $(PYTEST_ARGS)

clean-state: down  ## stop everything and delete .devstack/ (all devstack data)
	rm -rf .devstack
