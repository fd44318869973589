"""Perplexity throughput on CPU: the batched forward pass of `metamath_nb.perplexity` with SmolLM2-135M-Instruct over
real GSM8K training rows (their chains of thought in MetaMathQA's format, scored as the response given the training
prompt), beside the fine-tune's tokens/s of the same model on the same machine (bench/finetune.py's peft LoRA worker,
run here in its own process). Both count every token the model reads (padding excluded for perplexity). Printed:
tokens/s of each and their ratio; the figures move with the machine's load (other processes share its cores).

  python bench/perplexity.py                    # 128 rows, batch 16; the fine-tune: batch 2 x 256 tokens, 3 steps
  python bench/perplexity.py --rows 256 --batch 32 --json out.json
"""
import argparse, json, os, subprocess, sys, time
from pathlib import Path
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')

def rows(n: int) -> list[dict]:
    "The first `n` GSM8K training problems (the local file, else the mini seeds) as MetaMathQA rows"
    from metamath_nb.data import load_seeds
    from metamath_nb.config import DataConfig
    from metamath_nb.sft_data import seed_to_row
    try: seeds = load_seeds(DataConfig(seeds=[{'name': 'gsm8k', 'limit': n}]), 0)
    except Exception as e: print(f"GSM8K train not found ({type(e).__name__}): the mini seeds instead"); seeds = load_seeds(DataConfig(), 0)
    return [seed_to_row(p) for p in seeds][:n]

def perplexity_rate(a) -> dict:
    import torch
    from metamath_nb.models import load_model
    from metamath_nb.perplexity import perplexities
    torch.set_num_threads(os.cpu_count())
    model, tok = load_model(a.model, device='cpu')
    rs = rows(a.rows)
    perplexities(model, tok, rs[:a.batch], batch_size=a.batch, max_length=a.max_length, progress=False)   # warm-up
    t = time.perf_counter(); df = perplexities(model, tok, rs, batch_size=a.batch, max_length=a.max_length, progress=False); dt = time.perf_counter() - t
    return {'rows': len(df), 'tokens_read': int(df.length.sum()), 'tokens_scored': int(df.tokens.sum()), 'wall_s': round(dt, 2),
            'tokens_per_s': round(df.length.sum() / dt, 1), 'median_ppl': round(float(df.ppl.median()), 3)}

def finetune_rate(a) -> dict:
    "bench/finetune.py's peft worker on the same model, in its own process"
    cmd = [sys.executable, str(ROOT/'bench'/'finetune.py'), '--worker', 'peft', '--model-dir', a.model, '--batch', str(a.ft_batch),
           '--seq', str(a.ft_seq), '--steps', str(a.ft_steps), '--warmup', '1', '--lora-r', '16']
    from metamath_nb.models import resolve_model
    cmd[cmd.index('--model-dir') + 1] = str(resolve_model(a.model))
    p = subprocess.run(cmd, capture_output=True, text=True)
    res = [l for l in p.stdout.splitlines() if l.startswith('RESULT ')]
    if p.returncode or not res: return {'error': (p.stderr.strip().splitlines() or [f'exit {p.returncode}'])[-1]}
    return json.loads(res[-1][7:])

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--model', default='smollm2'); ap.add_argument('--rows', type=int, default=128)
    ap.add_argument('--batch', type=int, default=16); ap.add_argument('--max-length', type=int, default=512)
    ap.add_argument('--ft-batch', type=int, default=2); ap.add_argument('--ft-seq', type=int, default=256); ap.add_argument('--ft-steps', type=int, default=3)
    ap.add_argument('--json')
    a = ap.parse_args()
    ppl = perplexity_rate(a)
    print(f"perplexity: {ppl['rows']} rows, {ppl['tokens_read']:,} tokens read in {ppl['wall_s']} s: {ppl['tokens_per_s']:,.0f} tokens/s "
          f"(batch {a.batch}, {os.cpu_count()} cores; median perplexity {ppl['median_ppl']})", flush=True)
    ft = finetune_rate(a)
    if 'error' in ft: print(f"fine-tune (peft LoRA): FAILED: {ft['error']}"); sys.exit(1)
    print(f"fine-tune (peft LoRA r=16, batch {a.ft_batch} x {a.ft_seq} tokens, {a.ft_steps} steps): {ft['tokens_per_s']:,.0f} tokens/s")
    print(f"ratio: the perplexity pass reads {ppl['tokens_per_s'] / ft['tokens_per_s']:.1f}x the tokens per second of the fine-tune")
    if a.json: Path(a.json).write_text(json.dumps({'perplexity': ppl, 'finetune': ft, 'cores': os.cpu_count()}, indent=2))
