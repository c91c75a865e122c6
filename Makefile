# The make targets are the project's interface: demo, test, lint, bench, synth, layer.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Debian packages the tests and the demo use: a real OCI registry, skopeo to check it, and openssl and jq
# for the consumer's record-verification recipe (docs/attestation.md), which the tests run as written.
APT_PACKAGES := docker-registry skopeo openssl jq
LAYER_DIR := build/layer

.PHONY: demo test lint typecheck pytest bench synth layer install system clean schemas

$(VENV)/.installed: requirements.txt requirements-dev.txt layers/eksd_adopt/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed system

system:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# The Lambda layer: the domain package and its runtime dependencies, built for arm64 without Docker.
layer: $(LAYER_DIR)/.built
$(LAYER_DIR)/.built: $(VENV)/.installed layers/eksd_adopt/pyproject.toml infra/layer_build.py $(shell find layers/eksd_adopt/src -name '*.py')
	$(PY) -m infra.layer_build $(LAYER_DIR)
	touch $@

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy layers/eksd_adopt/src functions infra app.py

pytest: install layer
	EKSD_ADOPT_RELIABILITY_DOC=1 $(VENV)/bin/pytest -n 2 --dist loadgroup -q

test: install layer lint typecheck pytest

synth: install layer
	$(PY) app.py

# `make demo ARGS=--no-approve` (or --keep-running) leaves the services up to explore (README: Exploring the
# local services). They keep their files in a working folder under $$TMPDIR (/tmp by default), printed at start.
demo: install
	$(VENV)/bin/eksd-adopt demo $(ARGS)

# Event JSON Schemas and the generated part of docs/events.md, from the event models (a test checks they are current).
schemas: $(VENV)/.installed
	$(PY) -m eksd_adopt.events.schema_gen schemas/ --docs docs/events.md

# BENCH names benchmarks, each optionally followed by its flags (BENCH="history --seed 3"); BENCH_ARGS
# go to the last one named (make bench BENCH=history BENCH_ARGS="--seed 3 --drop 0.2").
bench: install layer
	$(PY) -m bench $(BENCH) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build cdk.out .pytest_cache .mypy_cache .ruff_cache
