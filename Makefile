# paramedic's commands. Every target installs what it needs by itself.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
BIN := $(VENV)/bin
# The stamp names both distributions' pyproject hashes: a change to either reinstalls.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml dev/pyproject.toml | sha1sum | cut -c1-12)
PYTEST_ARGS ?=
PRESET ?= full

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml dev/pyproject.toml
	@command -v python3 >/dev/null || { echo "python3 (3.11+) is needed" >&2; exit 2; }
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]' -e ./dev
	rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP) ## the Python virtualenv with paramedic, paramedic-dev (dev/) and the dev tools

system-deps: ## Debian packages the tests use (Prometheus, Alertmanager, podman, buildah, mmdebstrap)
	hack/system-deps.sh

controlplane: venv ## build (once, then cached) the local Kubernetes control plane
	$(BIN)/paramedic-devcluster build

image: venv system-deps ## build the operator's image (buildah, on a Debian base bootstrapped here) and print its size
	$(BIN)/python -m paramedic_dev.image

realnode: venv system-deps controlplane ## build (once, then cached) the real node's kubelet and the local base images
	$(BIN)/python -m paramedic_dev.node

crds: venv ## regenerate crds/ from the API models
	$(BIN)/python -m paramedic.api.crdgen crds

lint: venv ## ruff and mypy --strict on both packages (operator/, dev/)
	$(BIN)/ruff check operator dev tests
	$(BIN)/ruff format --check operator dev tests
	$(BIN)/mypy

test: venv system-deps controlplane realnode lint ## everything CI runs: lint, then the test-suite on the real control plane
	@# pytest exits 5 when it collected no test: a broken selection, not a pass.
	$(BIN)/pytest $(PYTEST_ARGS) || { rc=$$?; [ $$rc -ne 5 ] || echo 'pytest collected no tests' >&2; exit $$rc; }

up: venv controlplane ## a local control plane until Ctrl-C (prints its KUBECONFIG)
	$(BIN)/paramedic-devcluster up

bench: venv controlplane ## the scale benchmark (PRESET=smoke|medium|full, default full): table + .bench/results-$(PRESET).json
	$(BIN)/python -m paramedic_dev.bench --preset $(PRESET) --keep-logs .bench/logs-$(PRESET)

demo: venv controlplane ## the main job: local control plane, CRDs, runbooks, the operator
	$(BIN)/paramedic-devcluster demo

.PHONY: help venv system-deps controlplane image realnode crds lint test up bench demo
