# Crewhouse developer commands. The two set-up commands in README.md are `make dev` and `make test`;
# both create .venv and install it from requirements/dev.lock (re-installing only when the lock or
# pyproject.toml changes; `make lock` rewrites the locks after a dependency change).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEV_LOCK := requirements/dev.lock
LAYER_LOCK := requirements/layer.lock
# One lock for the embedded cloud and the dev tools: both set-up commands install the same environment.
DEV_STAMP := $(VENV)/.installed-dev
LOCAL_STAMP := $(DEV_STAMP)
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
# One bytecode cache for every Python process the commands start, under build/ (out of the source tree and of the
# Lambda assets), even where the shell sets PYTHONDONTWRITEBYTECODE: without it each process and subprocess
# compiled what it imported anew (aws_cdk alone costs 8 s of CPU a process to compile, moto and boto3 a few more).
export PYTHONPYCACHEPREFIX := $(CURDIR)/build/pycache
export PYTHONDONTWRITEBYTECODE :=

.PHONY: cost cost-check dev test test-tiers coverage-report lint types unit component integration fuzz infra \
	e2e bench bench-small \
	unit-infra local-assembly synth layer lock deploy deploy-check openapi clean system-deps \
	browser-deps console console-e2e

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# uv itself first (its hashed lines of the lock, with pip), then the venv made exactly the lock (hashes
# required, stale packages removed), then this project, editable and without dependencies.
$(DEV_STAMP): $(DEV_LOCK) pyproject.toml sdk/python/pyproject.toml | $(BIN)/python
	awk '/^uv==/{p=1} p{print} p&&!/\\$$/{p=0}' $(DEV_LOCK) > $(VENV)/uv-requirement.txt
	$(BIN)/pip install --quiet --no-deps --require-hashes -r $(VENV)/uv-requirement.txt
	$(BIN)/uv pip sync --quiet --python $(BIN)/python --require-hashes $(DEV_LOCK)
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e . -e sdk/python
	touch $@

## System packages of the local cloud: Tesseract (local OCR of uploaded images and PDFs).
system-deps:
	@command -v tesseract >/dev/null || (apt-get update -qq && apt-get install -y -qq tesseract-ocr >/dev/null) \
		|| (sudo -n apt-get update -qq && sudo -n apt-get install -y -qq tesseract-ocr >/dev/null) \
		|| echo 'tesseract unavailable: OCR status will say so'

## Debian's Chromium for the console's browser tests (Playwright drives it; browser downloads are not available).
browser-deps:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| (sudo -n apt-get update -qq && sudo -n apt-get install -y -qq chromium >/dev/null)

## The web console (console/): npm ci from its lock, then the API types from docs/openapi.json, tsc and vite build,
## again only when its sources, its lock or the OpenAPI document changed.
CONSOLE_STAMP := console/dist/.built
CONSOLE_SOURCES := $(shell find console/src console/e2e -type f -not -name '*.gen.ts' 2>/dev/null) \
	console/index.html console/vite.config.ts console/tsconfig.json console/package.json docs/openapi.json
console: $(CONSOLE_STAMP)
console/node_modules/.package-lock.json: console/package-lock.json
	cd console && npm ci --no-audit --no-fund
$(CONSOLE_STAMP): console/node_modules/.package-lock.json $(CONSOLE_SOURCES)
	cd console && npm run build
	touch $@

## The console in a real Chromium against a fresh `crewhouse local` (sign-in, sign-up, tasks …; screenshots and
## axe-core checks under build/console-e2e/).
console-e2e: browser-deps console $(DEV_STAMP) local-assembly
	cd console && npm run e2e

## Start Crewhouse locally on the embedded AWS cloud (API on :8000, AWS endpoint on :4566).
dev: $(LOCAL_STAMP) system-deps console
	$(BIN)/crewhouse local

## The whole test suite (what CI runs): ruff, then mypy and the test tiers side by side in separate processes
## (moto's state is process-wide). Each tier's output appears when it ends. Benchmarks run in `make bench`.
PYTEST := $(BIN)/pytest
# `make test` sets it to run the tier under coverage; alone, a tier runs plain pytest.
PYTEST_COVERED ?= $(PYTEST)
TEST_JOBS ?= 4
test: $(DEV_STAMP) system-deps
	$(BIN)/ruff check .
	@echo "mypy and the test tiers run in parallel ($(TEST_JOBS) at a time); each prints its output when it ends"
	rm -rf build/coverage && mkdir -p build/coverage
	$(MAKE) --no-print-directory -j$(TEST_JOBS) --keep-going --output-sync=target COMPONENT_WORKERS=0 \
		PYTEST_COVERED="$(BIN)/coverage run -m pytest" test-tiers
	$(MAKE) --no-print-directory coverage-report

# Line coverage of the shipped code ([tool.coverage] in pyproject.toml): each tier wrote its own data file
# (`coverage run`, not pytest-cov, whose in-process combine would race the other tiers); one line here, the
# full report in build/coverage/report.txt and build/coverage/html; fails under the floor (fail_under).
coverage-report: $(DEV_STAMP)
	$(BIN)/coverage combine --quiet
	-@$(BIN)/coverage html --quiet
	@$(BIN)/coverage report > build/coverage/report.txt; rc=$$?; \
		echo "line coverage: $$(grep '^TOTAL' build/coverage/report.txt) (floor: fail_under in pyproject.toml)"; \
		exit $$rc

# Schemathesis over the whole API (`make fuzz`, ~1,300 requests) and the benchmarks (workloads, timed ratios;
# `make bench`) run after `make test` in CI; `make test` keeps the cold start's exact guards and the request budgets
# (unit-infra).
test-tiers: types integration component unit-infra console-e2e

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(MAKE) --no-print-directory types

# The bus SDK is its own package (sdk/python), checked on its own so its module is found once.
types: $(DEV_STAMP)
	$(BIN)/mypy functions cdk tests examples
	$(BIN)/mypy sdk/python/src

## One tier each; any of them alone or in any order.
unit infra e2e: $(DEV_STAMP) system-deps node_modules/.package-lock.json
	$(PYTEST) tests/$@

# Component test files are independent (each has its own mock_aws or moto server): alone, two workers, a file
# each. Inside `make test` one process: the other tiers already fill both cores, and more contention pushed the
# small chat benchmark over its ceiling and made an integration cancel race lose (measured).
COMPONENT_WORKERS ?= 2
component: $(DEV_STAMP) system-deps local-assembly
	$(PYTEST_COVERED) -n $(COMPONENT_WORKERS) --dist loadfile tests/component

# One embedded cloud per process, so one process. The schemathesis sweep of the whole API is `make fuzz`.
FUZZ := tests/integration/test_openapi_fuzz.py
integration: $(DEV_STAMP) system-deps local-assembly
	$(PYTEST_COVERED) tests/integration --ignore=$(FUZZ)

## Schemathesis over the merged OpenAPI document against the embedded cloud: no 5xx, responses match the schema.
fuzz: $(DEV_STAMP) system-deps local-assembly
	$(PYTEST) $(FUZZ)

# Then the cold start's exact guards (no heavy package at import, a module budget per handler; their timed ratios
# run in `make bench`) and the exact AWS request budgets of the headline operations (tests/cost, its own cloud).
unit-infra: $(DEV_STAMP) system-deps node_modules/.package-lock.json local-assembly
	$(PYTEST_COVERED) tests/unit tests/infra tests/e2e sdk/python/tests
	$(PYTEST) tests/bench/test_cold_start.py --bench-size=small -m "not timing"
	$(PYTEST) tests/cost

## The benchmarks at full size (minutes), then the exact request budgets of every metered row (tests/cost, every
## API operation and background flow); `bench-small` is a quick run of the same benchmarks.
bench: $(DEV_STAMP) system-deps local-assembly
	$(PYTEST) tests/bench --bench-size=full
	CREWHOUSE_COST_ALL=1 $(PYTEST) tests/cost

bench-small: $(DEV_STAMP) system-deps local-assembly
	$(PYTEST) tests/bench --bench-size=small

## What each operation costs in AWS (requests, capacity, transitions, dollars); rewrites docs/cost.md's table.
cost: $(DEV_STAMP) system-deps local-assembly
	CREWHOUSE_COST_ALL=1 CREWHOUSE_WRITE_COST=1 $(PYTEST) tests/cost -s

# The exact request budgets of every row alone (one embedded cloud, a few minutes); `make cost` also prints and
# writes the table. CREWHOUSE_WRITE_BUDGETS=1 rewrites tests/cost/budgets.json after a deliberate change.
cost-check: $(DEV_STAMP) system-deps local-assembly
	CREWHOUSE_COST_ALL=1 $(PYTEST) tests/cost

# The synthesized template the local tiers deploy or read tables from, built once before they start.
local-assembly: $(DEV_STAMP)
	@$(BIN)/python -c "from crewhouse.local.synth import synthesize; synthesize()"

## Regenerate both locks from pyproject.toml (needs PyPI): the dev environment, then the Lambda layers
## (Python 3.13 on arm64, Amazon Linux 2023: any manylinux up to 2_34; the runtime provides boto3) held to
## the dev lock's versions, so that tests run what ships.
lock: $(DEV_STAMP)
	$(BIN)/uv pip compile --quiet pyproject.toml --extra local --extra dev --universal --python-version 3.11 \
		--generate-hashes -o $(DEV_LOCK)
	$(BIN)/uv pip compile --quiet pyproject.toml -c $(DEV_LOCK) --python-platform aarch64-manylinux_2_34 \
		--python-version 3.13 --generate-hashes --no-emit-package boto3 --no-emit-package botocore \
		--no-emit-package s3transfer -o $(LAYER_LOCK)

## The CDK CLI pinned in package-lock.json (and the ASL validator), installed only when the lock changes.
node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

## Synthesize for a real deployment with the npm-pinned CDK CLI into cdk.out (builds the arm64 layers with
## pip --platform from requirements/layer.lock, cached in build/).
synth: $(DEV_STAMP) node_modules/.package-lock.json console
	PATH="$(CURDIR)/$(BIN):$$PATH" CREWHOUSE_LAYER=build npx cdk synth --quiet

layer: $(DEV_STAMP)
	$(BIN)/python -m crewhouse_cdk.layer

## Deploy to the AWS account of your current credentials (run `npx cdk bootstrap` once per account/region).
deploy: synth
	PATH="$(CURDIR)/$(BIN):$$PATH" npx cdk deploy --app cdk.out --require-approval never

## What this machine can prove of `make deploy`: its synth, then checks of the cloud assembly (handlers in
## their assets, state machines through asl-validator, asset sizes, no local-only code, cfn-lint, cdk-nag).
deploy-check: synth
	$(BIN)/python -m tests.infra.deploy_check cdk.out

openapi: $(LOCAL_STAMP)
	$(BIN)/crewhouse openapi

clean:
	rm -rf build cdk.out node_modules .pytest_cache .mypy_cache .ruff_cache
