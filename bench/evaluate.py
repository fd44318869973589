"""Evaluation throughput, and the SmolLM2 baseline.

    python bench/evaluate.py               # CPU: tiny model, batched vs one-at-a-time on the same 64 items;
                                           # then vLLM on GSM8K test (1319 items, 7B-shaped model) where a CUDA vLLM exists
    python bench/evaluate.py --engines     # side by side on the same 64 GSM8K test items with SmolLM2, paper protocol:
                                           # transformers (float32) vs a vLLM server (float32, bfloat16): items/s, accuracy
    python bench/evaluate.py --baseline    # SmolLM2-135M-Instruct on seeded GSM8K / MATH500 subsets, both graders

Prints figures; writes nothing into the repository (scratch goes to a temporary folder unless --out is given).
"""
import argparse, json, os, sys, tempfile, time
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')

from metamath_nb.config import EvalConfig, VLLMConfig
from metamath_nb.data import data_dir, mini_seeds, load_benchmark
from metamath_nb.evaluate import (evaluate, eval_prompt, HFEngine, VLLMEngine, METAMATH_STOP, read_predictions,
                                  vllm_available)
from metamath_nb.stats import wilson_ci
from metamath_nb.models import load_model, tiny_llama, smollm2_path
from metamath_nb.vllm_server import vllm_info, vllm_python


def items_64():
    "The same 64 items every time: the mini seed set (GSM8K format first, then MATH format)"
    return (list(mini_seeds('gsm8k')) + list(mini_seeds('math')))[:64]


def cpu_throughput(max_new_tokens=128, batch_size=8, model_name='tiny', n_items=64):
    "Batched (batch_size) vs one-at-a-time generation of the same prompts (mini seed items), in one process"
    import torch
    model, tok = load_model(str(tiny_llama()) if model_name == 'tiny' else model_name, device='cpu')
    probs = items_64()[:n_items]
    prompts = [eval_prompt(p.question) for p in probs]
    out = {}
    for bs in (batch_size, 1):
        eng = HFEngine(model, tok, batch_size=bs, model_id=model_name)
        eng(prompts[:2], 4, METAMATH_STOP)   # warm-up
        t = time.perf_counter()
        res = [c for i in range(0, len(prompts), bs) for c in eng(prompts[i:i + bs], max_new_tokens, METAMATH_STOP)]
        dt = time.perf_counter() - t
        out[bs] = dict(seconds=dt, items_per_s=len(prompts) / dt, tokens=sum(c['completion_tokens'] for c in res),
                       texts=[c['text'] for c in res])
        print(f"{model_name} model, batch_size={bs:2d}: {len(prompts)} items in {dt:6.2f} s = {len(prompts) / dt:6.2f} items/s, "
              f"{out[bs]['tokens'] / dt:7.1f} new tokens/s ({out[bs]['tokens']} tokens, budget {max_new_tokens})", flush=True)
    same = sum(a == b for a, b in zip(out[batch_size]['texts'], out[1]['texts']))
    print(f"speed-up batched/single: {out[batch_size]['items_per_s'] / out[1]['items_per_s']:.2f}x; "
          f"identical outputs batched vs single: {same}/{len(prompts)} (torch {torch.__version__}, {torch.get_num_threads()} threads)")
    return out


def seven_b_shaped(folder: Path) -> Path:
    "A Llama-2-7B-shaped config (4096 hidden, 32 layers, 11008 MLP) with SmolLM2's tokenizer, for vLLM's dummy weights"
    from transformers import AutoTokenizer, LlamaConfig
    tok = AutoTokenizer.from_pretrained(smollm2_path())
    cfg = LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=32, max_position_embeddings=4096, vocab_size=len(tok), dtype='bfloat16',
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, architectures=['LlamaForCausalLM'])
    folder.mkdir(parents=True, exist_ok=True)
    cfg.save_pretrained(folder); tok.save_pretrained(folder)
    return folder


def vllm_gsm8k(model=None, out=None):
    "GSM8K test, all 1319 items, through evaluate() with a vLLM server on CUDA (a 7B-shaped model with dummy weights by default); wall time"
    if not vllm_available() or vllm_info(vllm_python())['device'] != 'cuda': print("vLLM GSM8K 7B benchmark skipped: needs a CUDA build of vLLM"); return None
    if data_dir() is None: print("vLLM GSM8K benchmark skipped: benchmark data absent (set METAMATH_DATA)"); return None
    out = Path(out or tempfile.mkdtemp())
    vcfg = VLLMConfig(dtype='bfloat16', max_model_len=2048, extra_args=[] if model else ['--load-format', 'dummy'])
    t0 = time.perf_counter()
    res = evaluate(EvalConfig(engine='vllm', vllm=vcfg), out/'run', model=model or str(seven_b_shaped(out/'llama-7b-shaped')))
    wall = time.perf_counter() - t0
    tm, ready = res.metrics['timing']['gsm8k'], json.loads((out/'run'/'vllm'/'vllm-server-0.json').read_text())['ready_s']
    toks = sum(r['completion_tokens'] or 0 for r in read_predictions(res.predictions['gsm8k']))
    print(f"vLLM GSM8K ({model or '7B-shaped Llama, dummy weights'}): {res.metrics['benchmarks']['gsm8k']['n']} items, server start {ready:.1f} s, "
          f"generation {tm['generation_s'] - ready:.1f} s ({res.metrics['benchmarks']['gsm8k']['n'] / (tm['generation_s'] - ready):.2f} items/s, "
          f"{toks / (tm['generation_s'] - ready):.0f} new tokens/s), evaluate() wall {wall:.1f} s")
    return res


def engines_side_by_side(n_items=64, out=None, batch_size=8, max_new_tokens=None):
    "The same GSM8K test items (seeded subset, seed 0) with SmolLM2 under the paper's protocol: transformers vs a vLLM server"
    if data_dir() is None: sys.exit("needs the benchmark data (set METAMATH_DATA)")
    probs = list(load_benchmark('gsm8k', 'test', data_dir=data_dir(), limit=n_items, seed=0))
    out, rows = Path(out or tempfile.mkdtemp()), {}
    fp = dict(max_model_len=2048, enforce_eager=True, kv_cache_gib=2)
    runs = {'transformers float32': EvalConfig(model='smollm2', device='cpu', batch_size=batch_size),
            'vLLM server float32': EvalConfig(model='smollm2', engine='vllm', vllm=VLLMConfig(dtype='float32', **fp)),
            'vLLM server bfloat16': EvalConfig(model='smollm2', engine='vllm', vllm=VLLMConfig(dtype='bfloat16', **fp))}
    print(f"{len(probs)} GSM8K test items, SmolLM2-135M-Instruct, paper protocol; load average {os.getloadavg()[0]:.1f} at start", flush=True)
    for name, cfg in runs.items():
        if max_new_tokens: cfg = cfg.model_copy(update={'max_new_tokens': {'gsm8k': max_new_tokens}})
        if cfg.engine == 'vllm' and not vllm_available(): print(f"{name}: skipped (no vLLM environment)"); continue
        d = out/name.replace(' ', '_')
        t0 = time.perf_counter(); res = evaluate(cfg, d, problems={'gsm8k': probs}); wall = time.perf_counter() - t0
        rec = d/'vllm'/'vllm-server-0.json'
        start = json.loads(rec.read_text())['ready_s'] if rec.exists() else 0.0
        gen = res.metrics['timing']['gsm8k']['generation_s'] - start
        m, outs = res.metrics['benchmarks']['gsm8k'], [r['output'] for r in read_predictions(res.predictions['gsm8k'])]
        toks = sum(r['completion_tokens'] or 0 for r in read_predictions(res.predictions['gsm8k']))
        rows[name] = outs
        acc = '; '.join(f"{md} {m[md]['correct']}/{m['n']} = {m[md]['accuracy']:.1%} (95% CI {m[md]['ci95'][0]:.1%}-{m[md]['ci95'][1]:.1%})" for md in cfg.grading)
        print(f"{name:22s} {len(probs) / gen:6.2f} items/s ({toks / gen:6.1f} new tokens/s; generation {gen:6.1f} s, server start {start:5.1f} s, "
              f"wall {wall:6.1f} s)  {acc}", flush=True)
    names = list(rows)
    for a, b in zip(names, names[1:]):
        print(f"identical outputs, {a} vs {b}: {sum(x == y for x, y in zip(rows[a], rows[b]))}/{len(probs)}")
    print(f"load average {os.getloadavg()[0]:.1f} at end; outputs in {out}")


def baseline(gsm8k=100, math500=50, out=None, batch_size=8):
    "SmolLM2-135M-Instruct with the paper's protocol on seeded subsets; accuracy with 95% Wilson intervals"
    out = Path(out or tempfile.mkdtemp())
    benches = {k: v for k, v in (('gsm8k', gsm8k), ('math500', math500)) if v}
    for b, n in benches.items():
        cfg = EvalConfig(model='smollm2', benchmarks=[b], limit=n, seed=0, batch_size=batch_size, device='cpu')
        res = evaluate(cfg, out, data_dir=data_dir())
        m, tm = res.metrics['benchmarks'][b], res.metrics['timing'][b]
        for mode in cfg.grading:
            k = m[mode]['correct']; lo, hi = wilson_ci(k, m['n'])
            print(f"SmolLM2-135M-Instruct {b} (seeded subset n={m['n']}, seed 0) {mode:8s}: {k}/{m['n']} = {k / m['n']:.1%} "
                  f"(95% CI {lo:.1%}-{hi:.1%}); no answer extracted: {m['no_answer'][mode]}", flush=True)
        print(f"  generated {tm['generated']} (reused {tm['reused']}, from the journal {tm.get('resumed', 0)}) at {tm['items_per_s']} items/s; output in {out}")


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--baseline', action='store_true', help='run the SmolLM2 baseline instead of the throughput benchmark')
    ap.add_argument('--engines', action='store_true', help='transformers vs vLLM server on the same 64 GSM8K test items (SmolLM2)')
    ap.add_argument('--eval-tokens', type=int, default=None, help='--engines: new-token budget (default: the paper\'s 512)')
    ap.add_argument('--gsm8k', type=int, default=100, help='baseline: GSM8K subset size (0: skip)')
    ap.add_argument('--math500', type=int, default=50, help='baseline: MATH500 subset size (0: skip)')
    ap.add_argument('--out', default=None, help='run folder (reusing it resumes)')
    ap.add_argument('--vllm-model', default=None, help='vLLM benchmark: a real model instead of the 7B-shaped dummy')
    ap.add_argument('--max-new-tokens', type=int, default=128, help='CPU benchmark: new-token budget')
    ap.add_argument('--model', default='tiny', help="CPU benchmark: model ('tiny', 'smollm2', a path)")
    ap.add_argument('--items', type=int, default=64, help='CPU benchmark: number of items (at most 64)')
    ap.add_argument('--threads', type=int, default=None, help='torch CPU threads (1 is fastest on an oversubscribed machine)')
    a = ap.parse_args()
    if a.threads:
        import torch; torch.set_num_threads(a.threads)
    if a.engines: engines_side_by_side(a.items, a.out, max_new_tokens=a.eval_tokens)
    elif a.baseline:
        if data_dir() is None: sys.exit("baseline needs the benchmark data (set METAMATH_DATA)")
        baseline(a.gsm8k, a.math500, a.out)
    else:
        cpu_throughput(a.max_new_tokens, model_name=a.model, n_items=a.items)
        vllm_gsm8k(a.vllm_model, a.out)
