# Crewhouse developer commands. The two set-up commands in README.md are `make dev` and `make test`;
# both create .venv and install what they need (re-installing only when pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCAL_STAMP := $(VENV)/.installed-local
DEV_STAMP := $(VENV)/.installed-dev
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: dev test test-tiers lint types unit component integration infra e2e bench bench-small bench-small-others \
	unit-infra local-assembly \
	synth layer deploy openapi clean system-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(LOCAL_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[local]'
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[local,dev]'
	touch $@ $(LOCAL_STAMP)

## System packages of the local cloud: Tesseract (local OCR of uploaded images and PDFs).
system-deps:
	@command -v tesseract >/dev/null || (apt-get update -qq && apt-get install -y -qq tesseract-ocr >/dev/null) \
		|| (sudo -n apt-get update -qq && sudo -n apt-get install -y -qq tesseract-ocr >/dev/null) \
		|| echo 'tesseract unavailable: OCR status will say so'

## Start Crewhouse locally on the embedded AWS cloud (API on :8000, AWS endpoint on :4566).
dev: $(LOCAL_STAMP) system-deps
	$(BIN)/crewhouse local

## The whole test suite (what CI runs): ruff, then mypy and the test tiers side by side in separate processes
## (moto's state is process-wide), benchmarks at their small size. Each tier's output appears when it ends.
PYTEST := $(BIN)/pytest
TEST_JOBS ?= 4
test: $(DEV_STAMP) system-deps
	$(BIN)/ruff check .
	@echo "mypy and the test tiers run in parallel ($(TEST_JOBS) at a time), the cold-start benchmark last; each prints its output when it ends"
	$(MAKE) --no-print-directory -j$(TEST_JOBS) --keep-going --output-sync=target COMPONENT_WORKERS=0 test-tiers

# The cold-start benchmark compares the CPU time of imports with a baseline's, which other busy processes on the
# same cores skew (1.4-1.7x instead of 1.0-1.2x): it runs alone, once every other tier has passed.
test-tiers: types integration component unit-infra bench-small-others
	$(PYTEST) tests/bench/test_cold_start.py --bench-size=small

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy functions cdk tests

types: $(DEV_STAMP)
	$(BIN)/mypy functions cdk tests

## One tier each; any of them alone or in any order.
unit infra e2e: $(DEV_STAMP) system-deps
	$(PYTEST) tests/$@

# Component test files are independent (each has its own mock_aws or moto server): alone, two workers, a file
# each. Inside `make test` one process: the other tiers already fill both cores, and more contention pushed the
# small chat benchmark over its ceiling and made an integration cancel race lose (measured).
COMPONENT_WORKERS ?= 2
component: $(DEV_STAMP) system-deps local-assembly
	$(PYTEST) -n $(COMPONENT_WORKERS) --dist loadfile tests/component

# One embedded cloud per process: a second worker would deploy a second cloud, so one process.
integration: $(DEV_STAMP) system-deps local-assembly
	$(PYTEST) tests/integration

unit-infra: $(DEV_STAMP) system-deps
	$(PYTEST) tests/unit tests/infra tests/e2e

## The benchmarks at full size (minutes); `bench-small` is the quick run `make test` includes.
bench: $(DEV_STAMP) system-deps local-assembly
	$(PYTEST) tests/bench --bench-size=full

bench-small: $(DEV_STAMP) system-deps local-assembly
	$(PYTEST) tests/bench --bench-size=small

bench-small-others: $(DEV_STAMP) system-deps local-assembly
	$(PYTEST) tests/bench --bench-size=small --ignore=tests/bench/test_cold_start.py

# The synthesized template the local tiers deploy or read tables from, built once before they start.
local-assembly: $(DEV_STAMP)
	@$(BIN)/python -c "from crewhouse.local.synth import synthesize; synthesize()"

## Synthesize for a real deployment (builds the arm64 dependency layer with pip --platform, cached in build/).
synth: $(LOCAL_STAMP)
	$(BIN)/python cdk/app.py

layer: $(LOCAL_STAMP)
	$(BIN)/python -c "from crewhouse_cdk.layer import build_layer; print(build_layer())"

## Deploy to the AWS account of your current credentials (run `npx cdk bootstrap` once per account/region).
deploy: $(LOCAL_STAMP)
	npm ci --no-audit --no-fund
	PATH="$(CURDIR)/$(BIN):$$PATH" npx cdk deploy --require-approval never

openapi: $(LOCAL_STAMP)
	$(BIN)/crewhouse openapi

clean:
	rm -rf build cdk.out .pytest_cache .mypy_cache .ruff_cache
