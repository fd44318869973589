# The two commands of the README:
#   make smoke   set up, then run the smoke study (params/smoke.yaml) end to end on CPU
#   make test    set up, then run every test (nbdev-test over nbs/, pytest tests/) and print "N passed, N failed"
#   make lab     set up, then open JupyterLab on the notebooks
#   make docs    set up, then write README.md and the docs site (_site/index.html)
# Each does its own set-up into local virtualenvs on a fresh machine: .venv (the project) and .venv-vllm (vLLM's
# CPU build, its own environment; METAMATH_NO_VLLM=1 skips it).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
VLLM_VENV ?= .venv-vllm
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install smoke test export clean-nbs docs bench lab

# The set-up reruns when the *content* of pyproject.toml or scripts/install.sh changes (nbdev-export rewrites
# pyproject.toml on every `make export`, so a time stamp would reinstall after each export).
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml scripts/install.sh | sha256sum | cut -c1-12)
$(STAMP):
	bash scripts/install.sh $(PYTHON) $(VENV) $(VLLM_VENV)
	rm -f $(VENV)/.installed-*; touch $@ $(VENV)/.installed

install: $(STAMP)

smoke: install
	$(VENV)/bin/metamath-nb reproduce params/smoke.yaml --report

test: install
	$(PY) scripts/run_tests.py

export: install
	$(VENV)/bin/nbdev-export && $(VENV)/bin/nbdev-clean

docs: install
	$(PY) -m metamath_nb.site

# JupyterLab on the project folder (nbs/ holds the notebooks); kernels on local IPC sockets rather than TCP
lab: install
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=. --KernelManager.transport=ipc $(if $(filter 0,$(shell id -u)),--allow-root) nbs/50_synthesize.ipynb

bench: install
	for f in bench/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done
