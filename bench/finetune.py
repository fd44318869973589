"""Fine-tuning throughput: unsloth QLoRA vs transformers + peft + bitsandbytes QLoRA (and full fine-tuning on CPU).

Every trainer gets the same model folder and the same batch of random token ids, in its own process (unsloth patches
transformers when imported, and each process' peak memory is its own). The 7B-shaped model is built once, in a
process of its own too: the parent process never holds a model or a CUDA context while the workers train. Printed:
tokens/s and peak memory per trainer.

  CUDA:  a randomly initialised Llama-2-7B-shaped model (no download), unsloth vs peft, 4-bit NF4 base, LoRA r=16,
         bf16 compute (autocast, as the Trainer does) over fp32 LoRA weights, gradient checkpointing, batch 4 x 512
         tokens. Peak memory = torch.cuda.max_memory_allocated.
  CPU:   the tiny random Llama (and SmolLM2-135M with --model smollm2), unsloth vs peft vs full, fp32. Peak memory =
         the worker process' peak resident set size.

  python bench/finetune.py                      # CUDA: 7B-shaped; CPU: tiny
  python bench/finetune.py --model smollm2 --steps 3 --seq 256 --batch 2
  python bench/finetune.py --json out.json      # also write the figures as JSON
"""
import argparse, json, os, resource, subprocess, sys, time
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')

LLAMA2_7B = dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                 num_key_value_heads=32, vocab_size=32000, max_position_embeddings=4096, rms_norm_eps=1e-5)


def random_llama2_7b(layers=32) -> Path:
    "A randomly initialised Llama-2-7B-shaped model (bf16 safetensors) with the tiny model's tokenizer, cached"
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    from metamath_nb.models import cache_dir, tiny_llama
    path = cache_dir()/f'bench-llama2-7b-shape-l{layers}'
    if (path/'config.json').exists(): return path
    tok = AutoTokenizer.from_pretrained(tiny_llama())
    cfg = LlamaConfig(**(LLAMA2_7B | {'num_hidden_layers': layers}), bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    prev = torch.get_default_dtype(); torch.set_default_dtype(torch.bfloat16)  # build in bf16: 13.5 GB, not 27
    try:
        with torch.device('cuda' if torch.cuda.is_available() else 'cpu'): model = LlamaForCausalLM(cfg)
    finally: torch.set_default_dtype(prev)
    tmp = path.with_name(path.name + '.tmp')
    model.save_pretrained(tmp); tok.save_pretrained(tmp); tmp.rename(path)
    return path


def model_dir(name, layers) -> Path:
    "The model folder; the 7B-shaped one is built (once) in a child process, so that this process never holds it"
    from metamath_nb.models import cache_dir, resolve_model
    if name != '7b': return Path(resolve_model(name))
    path = cache_dir()/f'bench-llama2-7b-shape-l{layers}'
    if not (path/'config.json').exists():
        subprocess.run([sys.executable, __file__, '--build-7b', '--layers', str(layers)], check=True)
    return path


def worker(a):
    "Train `a.steps` timed steps (after `a.warmup`) of one trainer on a fixed random batch; print one JSON line"
    import torch
    from metamath_nb.config import FinetuneConfig
    from metamath_nb.finetune import load_for_training, count_params, peak_memory_mb
    cuda = torch.cuda.is_available()
    cfg = FinetuneConfig(trainer=a.worker, base_model=a.model_dir, load_in_4bit=a.worker != 'full', lora_r=a.lora_r,
                         lora_alpha=a.lora_r, lora_dropout=0.0, max_length=a.seq, dtype='bfloat16' if cuda else 'float32')
    t0 = time.perf_counter()
    model, tok = load_for_training(cfg)  # this process's device: cuda:<LOCAL_RANK> (cuda:0 here) or cpu
    load_s = time.perf_counter() - t0
    trainable, total = count_params(model)
    g = torch.Generator().manual_seed(0)
    vocab = model.get_input_embeddings().weight.shape[0]
    ids = torch.randint(10, min(vocab, 32000), (a.batch, a.seq), generator=g).to(model.device)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    def step():
        with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=cfg.dtype == 'bfloat16'):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
        return float(loss)
    for _ in range(a.warmup): step()
    if cuda: torch.cuda.synchronize()
    t = time.perf_counter()
    losses = [step() for _ in range(a.steps)]
    if cuda: torch.cuda.synchronize()
    dt = time.perf_counter() - t
    print('RESULT ' + json.dumps({'trainer': a.worker, 'tokens_per_s': round(a.batch * a.seq * a.steps / dt, 1),
        'peak_mem_mb': round(peak_memory_mb(), 1), 'step_s': round(dt / a.steps, 3), 'load_s': round(load_s, 1),
        'trainable_params': trainable, 'total_params': total, 'loss_first': round(losses[0], 4),
        'loss_last': round(losses[-1], 4), 'device': torch.cuda.get_device_name() if cuda else 'cpu'}), flush=True)


def run_all(a):
    import torch
    cuda = torch.cuda.is_available()
    name = a.model or ('7b' if cuda else 'tiny')
    trainers = a.trainers.split(',') if a.trainers else (['unsloth', 'peft'] if cuda else ['unsloth', 'peft', 'full'])
    path = model_dir(name, a.layers)
    print(f"model {name} ({path}), batch {a.batch} x {a.seq} tokens, {a.warmup} warm-up + {a.steps} timed steps, "
          f"{'CUDA' if cuda else f'CPU ({os.cpu_count()} cores)'}", flush=True)  # no CUDA context in this process
    runs = {tr: [] for tr in trainers}
    for rep in range(a.repeats):  # trainers interleaved, so that load from other processes spreads over all of them
        for tr in trainers:
            cmd = [sys.executable, __file__, '--worker', tr, '--model-dir', str(path), '--batch', str(a.batch), '--seq',
                   str(a.seq), '--steps', str(a.steps), '--warmup', str(a.warmup), '--lora-r', str(a.lora_r)]
            p = subprocess.run(cmd, capture_output=True, text=True)
            res = [l for l in p.stdout.splitlines() if l.startswith('RESULT ')]
            if p.returncode or not res:
                print(f"{tr}: FAILED (exit {p.returncode})\n{p.stderr[-3000:]}", flush=True)
                runs[tr].append({'trainer': tr, 'error': p.stderr.strip().splitlines()[-1] if p.stderr.strip() else f'exit {p.returncode}'})
            else: runs[tr].append(json.loads(res[-1][7:])); print(f"  {tr} run {rep + 1}: {runs[tr][-1]['tokens_per_s']} tokens/s", flush=True)
    rows = []
    for tr, rs in runs.items():
        ok = sorted((r for r in rs if 'error' not in r), key=lambda r: r['tokens_per_s'])
        if not ok: rows.append(rs[-1]); continue
        med = dict(ok[len(ok) // 2])  # the median run (upper median for an even count)
        med['tokens_per_s_all'] = [r['tokens_per_s'] for r in ok]
        rows.append(med)
    print(f"\nmedian of {a.repeats} run(s) per trainer on {next((r['device'] for r in rows if 'device' in r), '?')}")
    print(f"{'trainer':<8} {'tokens/s':>10} {'peak MiB':>10} {'s/step':>8} {'trainable':>12} {'loss first->last':>18}")
    for r in rows:
        if 'error' in r: print(f"{r['trainer']:<8} error: {r['error']}"); continue
        print(f"{r['trainer']:<8} {r['tokens_per_s']:>10.1f} {r['peak_mem_mb']:>10.1f} {r['step_s']:>8.3f} "
              f"{r['trainable_params']:>12,} {r['loss_first']:>8.3f} -> {r['loss_last']:.3f}   all runs: {r['tokens_per_s_all']}")
    if a.json: Path(a.json).write_text(json.dumps({'model': name, 'batch': a.batch, 'seq': a.seq, 'steps': a.steps, 'repeats': a.repeats, 'results': rows}, indent=2))
    return 0 if all('error' not in r for r in rows) else 1


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--model', help="'7b' (random Llama-2-7B shape), 'tiny', 'smollm2' or a path; default: 7b on CUDA, tiny on CPU")
    ap.add_argument('--trainers', help='comma-separated: unsloth,peft,full (default: unsloth,peft on CUDA; all three on CPU)')
    ap.add_argument('--layers', type=int, default=32, help='decoder layers of the 7B-shaped model')
    ap.add_argument('--batch', type=int, default=None); ap.add_argument('--seq', type=int, default=None)
    ap.add_argument('--steps', type=int, default=None); ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--lora-r', type=int, default=16); ap.add_argument('--json')
    ap.add_argument('--repeats', type=int, default=None, help='runs per trainer, median reported (default: 1 on CUDA, 3 on CPU)')
    ap.add_argument('--worker', help=argparse.SUPPRESS); ap.add_argument('--model-dir', help=argparse.SUPPRESS)
    ap.add_argument('--build-7b', action='store_true', help=argparse.SUPPRESS)
    a = ap.parse_args()
    import torch
    cuda = torch.cuda.is_available()
    a.batch = a.batch or (4 if cuda else 4); a.seq = a.seq or (512 if cuda else 128); a.steps = a.steps or (10 if cuda else 20)
    a.repeats = a.repeats or (1 if cuda else 3)
    if a.build_7b: random_llama2_7b(a.layers); sys.exit(0)
    sys.exit(worker(a) if a.worker else run_all(a))
