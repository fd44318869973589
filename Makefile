# The two commands of the README:
#   make smoke   set up, then run the smoke study (params/smoke.yaml) end to end on CPU
#   make test    set up, then run every test (nbdev-test over nbs/, pytest tests/) and print "N passed, N failed"
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

.PHONY: install smoke test export clean-nbs docs bench

$(VENV)/.installed: pyproject.toml Makefile scripts/install.sh
	bash scripts/install.sh $(PYTHON) $(VENV) $(VLLM_VENV)
	touch $@

install: $(VENV)/.installed

smoke: install
	$(VENV)/bin/metamath-nb reproduce params/smoke.yaml --report

test: install
	$(PY) scripts/run_tests.py

export: install
	$(VENV)/bin/nbdev-export && $(VENV)/bin/nbdev-clean

docs: install
	$(PY) -m metamath_nb.site

bench: install
	for f in bench/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done
