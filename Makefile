# Set up and run in one command each; rerunning reuses the environment (.venv).
#
#   make run   [CORES=64] [PROFILE=workflow/profiles/slurm] [ARGS="--configfile quick.yaml"]
#   make test  [FASSEG_ROOT=/data/FASSEG] [PYTEST="-k features"]
#   make lint  (ruff and snakefmt, as CI runs them)
#
# The environment holds the versions of constraints.txt and is rebuilt when
# constraints.txt or pyproject.toml change.

PYTHON ?= python3
VENV ?= .venv
CORES ?= all
PROFILE ?=
ARGS ?=
PYTEST ?=
TORCH ?= torch==2.13.0
# PyPI's Linux wheels of PyTorch are CUDA builds of several GB; PyTorch's own index
# has the CPU build. Elsewhere PyPI's wheels are the CPU build. TORCH_INDEX= takes PyPI's.
ifeq ($(shell uname -s),Linux)
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
else
TORCH_INDEX ?=
endif

BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.faceseg-installed
# The venv's tools first, so that Snakemake's jobs and the tests' subprocesses find them.
RUN := PATH="$(BIN):$$PATH"

.PHONY: env run test lint

env: $(STAMP)

# PyTorch alone from its index; its dependencies come with the rest, at the versions of constraints.txt.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-deps $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	$(BIN)/python -m pip check
	touch $@

run: env
	$(RUN) snakemake --cores $(CORES) $(if $(PROFILE),--workflow-profile $(PROFILE)) $(ARGS)

test: env
	$(RUN) python -m pytest -ra $(PYTEST)

lint: env
	$(RUN) ruff check .
	$(RUN) snakefmt --check Snakefile workflow/rules
