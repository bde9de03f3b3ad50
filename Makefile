# transfer_lab: `make run` (the main job) and `make test`; each sets up .venv first if it is missing.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help setup run test test-slurm

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: $(STAMP) ## create .venv and install the package (editable) with its test extras

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

run: setup ## the main job: the paper's study (30 networks) on the embedded data, then its report
	$(PY) -m transfer_lab -m +exp=grid

test: setup ## the whole test suite (W&B offline), one worker per core, its 10 slowest tests listed
	WANDB_MODE=offline $(PY) -m pytest -n auto --dist worksteal --durations=10

test-slurm: setup ## the SLURM tests, on a one-node SLURM this starts (scripts/slurm_local.sh; as root)
	scripts/slurm_local.sh
	CI=true WANDB_MODE=offline $(PY) -m pytest -m slurm -v --durations=0
