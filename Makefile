# The README's two commands are `make run` and `make test`; both build their own virtualenv.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint typecheck pytest check preview bench clean policy-docs web webtest chromium oidc load checkov checkov-venv litellm-venv azurite

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev,infra]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# The web UI (app/web): npm ci from the lock file when it changes, then a build to app/web/dist.
WEB := app/web
WEB_STAMP := $(WEB)/node_modules/.installed-$(shell cat $(WEB)/package-lock.json | cksum | cut -d' ' -f1)
# The e2e tests drive Debian's Chromium (never a browser a tool downloads).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(WEB_STAMP): $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund
	touch $(WEB_STAMP)

## web: build the UI that `engram serve` serves at / (and Static Web Apps hosts)
web: $(WEB_STAMP)
	cd $(WEB) && npm run build

# Tests only: the OpenID provider the UI's sign-in test runs (tests/e2e/oidc, pinned in its own lock file).
OIDC := tests/e2e/oidc
OIDC_STAMP := $(OIDC)/node_modules/.installed-$(shell cat $(OIDC)/package-lock.json | cksum | cut -d' ' -f1)

$(OIDC_STAMP): $(OIDC)/package-lock.json
	cd $(OIDC) && npm ci --no-audit --no-fund
	touch $(OIDC_STAMP)

## oidc: install the local OpenID provider (oidc-provider) of tests/e2e/test_oidc_sign_in.py
oidc: $(OIDC_STAMP)

## webtest: the UI's unit tests (vitest)
webtest: $(WEB_STAMP)
	cd $(WEB) && npm test

# Checkov (the ARM scan of the stacks' plans, tests/policies/test_arm_export.py) pins many packages the
# project's own would fight: it gets a virtualenv of its own. The version is pinned too, since a new
# Checkov brings new checks and so new failures to fix or list in policies/checkov-reasons.yaml.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

$(CHECKOV_STAMP):
	rm -rf $(CHECKOV_VENV)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	touch $(CHECKOV_STAMP)

## checkov-venv: install Checkov into .venv-checkov
checkov-venv: $(CHECKOV_STAMP)

## checkov: export the five stacks as ARM templates, run Checkov, and print the failures that
## policies/checkov-reasons.yaml does not explain and the entries there that match no failure
checkov: $(STAMP) $(CHECKOV_STAMP)
	$(BIN)/python -m policies.checkov_scan $(CHECKOV_DIR)

# LiteLLM (tests/app/chat/test_litellm_chain.py: Engram -> a real LiteLLM proxy -> the OpenAI double) pulls in
# ~750 MB and pins its own FastAPI and OpenAI: a virtualenv of its own, built once from PyPI (about a minute),
# the version pinned so a new release cannot change what the test proves.
LITELLM_VERSION := 1.108.7
LITELLM_VENV := .venv-litellm
LITELLM_STAMP := $(LITELLM_VENV)/.installed-$(LITELLM_VERSION)

$(LITELLM_STAMP):
	rm -rf $(LITELLM_VENV)
	$(PYTHON) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LITELLM_VENV)/bin/pip install --quiet 'litellm[proxy]==$(LITELLM_VERSION)'
	touch $(LITELLM_STAMP)

## litellm-venv: install the LiteLLM proxy into .venv-litellm
litellm-venv: $(LITELLM_STAMP)

# Azurite (the Blob Storage emulator the recording tests run against; tests only, never shipped): npm ci
# from tests/azurite/package-lock.json, version pinned there.
AZURITE := tests/azurite
AZURITE_STAMP := $(AZURITE)/node_modules/.installed-$(shell cat $(AZURITE)/package-lock.json | cksum | cut -d' ' -f1)

$(AZURITE_STAMP): $(AZURITE)/package-lock.json
	cd $(AZURITE) && npm ci --no-audit --no-fund
	touch $(AZURITE_STAMP)

## azurite: install Azurite for tests/app/voice/test_recording.py and tests/app/recordings
azurite: $(AZURITE_STAMP)

chromium:
	@test -x $(CHROMIUM) || { $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends chromium; }

## run: install, build the UI and start the service on http://127.0.0.1:8082
run: $(STAMP) web
	$(BIN)/engram serve

## test: install everything and run lint, type checks, the UI's unit tests and the whole test suite
## (including the browser end-to-end tests in headless Chromium)
test: $(STAMP) lint typecheck webtest web chromium oidc pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports  # the layer contracts in pyproject.toml

typecheck: $(STAMP)
	$(BIN)/mypy app components policies $(wildcard stacks/*.py)

pytest: $(STAMP) $(CHECKOV_STAMP) $(LITELLM_STAMP) $(AZURITE_STAMP)
	@mkdir -p .ci-reports
	$(BIN)/pytest --junitxml=.ci-reports/junit.xml $(PYTEST_ARGS)

## load: the k6 load tests (scripts/load-tests) against a local `engram serve` on the doubles; prints k6's
## summary and fails when a threshold does (LOAD_VUS=10 LOAD_DURATION=20s by default)
LOAD_VUS ?= 10
LOAD_DURATION ?= 20s
load: $(STAMP)
	$(BIN)/python -m tests.load.stack --vus $(LOAD_VUS) --duration $(LOAD_DURATION)

## policy-docs: regenerate docs/policies.md from the policy pack
policy-docs: $(STAMP)
	$(BIN)/engram check --write-docs

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(LITELLM_VENV) .ci-reports .pytest_cache .mypy_cache .ruff_cache test-artifacts $(WEB)/node_modules $(WEB)/dist $(AZURITE)/node_modules
