# transfer_lab: `make run` (the main job) and `make test`; each sets up .venv first if it is missing.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# CPU kernels of a machine without AVX-512 (AVX2 only), forced on any x86 CPU: ATen's and oneDNN's dispatch.
AVX2 := ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2

.PHONY: help setup run test test-quick test-avx2 test-slurm lint

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: $(STAMP) ## create .venv and install the package (editable) with its test extras

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

run: setup ## the main job: the paper's study (30 networks) on the embedded data, then its report
	$(PY) -m transfer_lab -m +exp=grid

test: setup ## the whole test suite but SLURM's (W&B offline), one worker per core, its 10 slowest tests listed
	WANDB_MODE=offline $(PY) -m pytest -n auto --dist worksteal -m "not slurm" --durations=10

test-quick: setup ## the tests not marked slow (no runs of the real commands, no training of a network): the inner loop
	WANDB_MODE=offline $(PY) -m pytest -n auto --dist worksteal -m "not slow and not slurm" --durations=5

test-avx2: setup ## the model tests again with AVX2 kernels forced, as a CPU without AVX-512 computes them
	$(AVX2) WANDB_MODE=offline $(PY) -m pytest -q tests/models

test-slurm: setup ## the SLURM tests, on a one-node SLURM this starts (scripts/slurm_local.sh; as root)
	scripts/slurm_local.sh
	CI=true WANDB_MODE=offline $(PY) -m pytest -m slurm -v --durations=0

lint: setup ## ruff: lint and format check (pyproject.toml [tool.ruff]); `ruff format .` fixes the format
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
