# Two commands for a new user: `make demo` and `make test`. Everything else is optional.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SHARED_WEIGHTS := ../shared/models/mobilenet_v2_imagenet_no_top.weights.h5
# Keras's own ImageNet weights (downloaded once) unless the offline copy is beside the repo.
WEIGHTS ?= $(if $(wildcard $(SHARED_WEIGHTS)),$(SHARED_WEIGHTS),imagenet)
INPUT ?= data/sample
OUTPUT ?= output
export CDK_DISABLE_CLI_TELEMETRY := true
# Node.js as pinned in package.json (22 LTS): jsii and the CDK CLI run on it, whatever Node installed it.
NODE_BIN := $(CURDIR)/node_modules/.bin
export SPARK_LOCAL_IP ?= 127.0.0.1

.PHONY: help demo test quality prerequisites clean

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z]+):.*## (.*)/  make \1\t\2/' | expand -t 22

demo: $(VENV)/.job prerequisites ## create the environment and run the job on the bundled photos
	PIPELINE_WEIGHTS_OPTION="make $@ WEIGHTS=FILE" \
		$(BIN)/python -m pipeline run --input "$(INPUT)" --output "$(OUTPUT)" --weights "$(WEIGHTS)"

test: $(VENV)/.dev prerequisites $(if $(wildcard package.json),node_modules/.installed) ## install and run every check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PATH="$(NODE_BIN):$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

quality: $(VENV)/.dev prerequisites ## held-out accuracy on the shared photos (block and interleaved splits; runs kept in output/quality/)
	$(BIN)/python bench/quality.py --weights "$(WEIGHTS)"

prerequisites: ## check Python 3.11+ and a Java 17 to 21 that runs (pipeline/job/prerequisites.py)
	@[ -n "$(PYTHON)" ] || { echo "error: no python3 on PATH: install Python 3.11 or 3.12, or set PYTHON=/path/to/python3.11" >&2; exit 1; }
	@$(PYTHON) -m pipeline.job.prerequisites

$(VENV)/.job: requirements.txt requirements-emr.txt
	@$(MAKE) --no-print-directory prerequisites
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.job requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "error: npm is required for the CDK checks (any Node.js with npm: it installs the pinned Node 22 itself)" >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@$(NODE_BIN)/node -e 'process.exit(Number(process.versions.node.split(".")[0]) < 22 ? 1 : 0)' || \
		{ echo "error: Node.js 22 or newer is required by the CDK (jsii): npm ci did not install the pinned node package" >&2; exit 1; }
	touch $@

clean: ## remove the environment, the Node tools and caches (not output/)
	rm -rf $(VENV) node_modules cdk.out .pytest_cache .ruff_cache
