"""teacher.mode batch: what it saves, and what it costs in time.

1. plan: for the paper's Table 1 params (params/paper/table1_gsm8k_synthesis.yaml, table1_math_synthesis.yaml), the
   teacher calls of the first round of every augmentation, with their tokens and cost, online and in batch mode
   (`Teacher.estimate`: prompt tokens ~ bytes/4, completions at max_tokens). The requests are the ones the synthesize
   stage makes: `synthesize` runs with a stand-in teacher that records them and answers as a teacher who knows the
   seeds' answers (`scripted_teacher`), so SV's second calls (solving the rewritten question) are asked too. Later
   rounds (until the targets) repeat the round for the seeds still short, so the totals scale with the rounds run.
   (`metamath-nb plan`, `metamath_nb.plan.teacher_estimate`, prices a whole synthesis to its targets in the params'
   mode; this bench records the first round once and prices it in both modes.)
   MATH train is not in ../shared/data: its plan uses the 5,000 MATH test problems as stand-ins for their prompt sizes
   (nothing is sent anywhere), then scales the calls, tokens and cost by 7,500/5,000.
2. vllm: the same N teacher calls (GSM8K train questions, greedy, chat) through the vLLM server online and through
   vLLM's offline runner (teacher.mode batch, backend vllm), on this machine's CPU with SmolLM2: wall time (start
   included), the time without the start (the server: after it is ready; the runner: its own 'Running batch' time),
   completion tokens per second, and whether the texts agree.
Run: .venv/bin/python bench/teacher_batch.py plan|vllm [--n 400] [--max-tokens 48]
"""
import argparse, json, os, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault('HF_HUB_OFFLINE', '1')

from metamath_nb.call_cache import TeacherCache
from metamath_nb.config import load_params
from metamath_nb.gen_types import GenRequest, GenResult
from metamath_nb.teacher import Teacher, make_teacher

ROOT = Path(__file__).resolve().parents[1]


class PlanTeacher:
    "Records the requests of a synthesis and answers them as a teacher who knows the seeds"
    def __init__(self, seeds):
        import functools
        from metamath_nb import prompts
        from metamath_nb.scripted_teacher import scripted_solver
        if not hasattr(prompts.load_prompt, 'cache_info'):   # the scripted teacher reads every prompt file per answer: read each once
            read = prompts.load_prompt; once = functools.lru_cache(None)(lambda pid: read(pid))
            prompts.load_prompt = lambda pid, overrides=None: read(pid, overrides) if overrides else once(pid)
        self.reqs, self.respond = [], scripted_solver(seeds)
    def generate(self, reqs, desc=''):
        self.reqs += reqs
        return [GenResult([self.respond({'messages': r.messages, 'seed': r.seed}, i) for i in range(r.n)], ['stop'] * r.n, 0, [0] * r.n) for r in reqs]


def plan(params_file):
    "Rows (mode, calls, prompt tokens, completion tokens, cost) for the first round of a Table 1 params file"
    from metamath_nb.augment import synthesize
    from metamath_nb.data import load_benchmark, load_seeds
    cfg = load_params(params_file)
    cfg = cfg.model_copy(update={'augment': cfg.augment.model_copy(update={'targets': {}})})   # one round of each type
    scale, note = 1.0, ''
    try: seeds = load_seeds(cfg.data, cfg.seed)
    except Exception as e:   # MATH train: not in ../shared/data (DataUnavailable)
        seeds = list(load_benchmark('math', 'test')); scale, note = 7500 / len(seeds), f'(MATH test x {7500 / len(seeds):.2f} as stand-in: {str(e)[:60]})'
    pt = PlanTeacher(seeds); t0 = time.time()
    synthesize(cfg, seeds, pt)
    rows = []
    for mode in ('online', 'batch'):
        tc = cfg.teacher.model_copy(update={'mode': mode})
        with tempfile.TemporaryDirectory() as d:
            est = Teacher(tc, cache=TeacherCache(Path(d)/'c.sqlite'), progress=False).estimate(pt.reqs)
        rows.append({'params': Path(params_file).name, 'mode': mode, 'seeds': len(seeds), 'calls': round(est['calls_to_make'] * scale),
                     'prompt_tokens_est': round(est['prompt_tokens_est'] * scale), 'completion_tokens_max': round(est['completion_tokens_max'] * scale),
                     'cost_est_usd': round(est['cost_est_usd'] * scale, 2), 'cost_worst_usd': round(est['cost_worst_usd'] * scale, 2),
                     'budget_usd': cfg.teacher.budget_usd, 'note': note})
    print(f"  ({len(pt.reqs)} requests recorded in {time.time() - t0:.0f} s)", file=sys.stderr)
    return rows


def vllm(n, max_tokens):
    "Online server vs offline runner on the same n greedy calls"
    from metamath_nb.config import TeacherConfig, VLLMConfig
    from metamath_nb.data import load_benchmark
    qs = [p.question for p in load_benchmark('gsm8k', 'train', limit=n, seed=0)]
    reqs = [GenRequest(messages=[{'role': 'user', 'content': q}], max_tokens=max_tokens) for q in qs]
    out, texts, gen = [], {}, None
    with tempfile.TemporaryDirectory() as d:
        for mode in ('online', 'batch'):
            cfg = TeacherConfig(backend='vllm', model='smollm2', mode=mode, cache_path=f'{d}/{mode}.sqlite', batch={'poll_s': 1.0},
                                vllm=VLLMConfig(max_model_len=1024))
            t0 = time.time()
            with make_teacher(cfg, progress=False, log_dir=f'{d}/{mode}-logs') as t:
                if mode == 'online': t.backend.prepare()
                t1 = time.time()
                res = t.generate(reqs)
                t2 = time.time()
            ct = sum(sum(r.completion_tokens) for r in res)
            if mode == 'batch':   # the runner's own time on the batch, from its progress line (its start excluded)
                import re
                log = b''.join(p.read_bytes() for p in Path(d, 'batches', 'vllm').glob('*.log'))
                m = re.findall(rb'Running batch: 100% Completed \| \d+/\d+ \[(?:(\d+):)?(\d+):(\d+)<', log)
                gen = sum(int(x or 0) * f for x, f in zip(m[-1], (3600, 60, 1))) if m else None
            texts[mode] = [r.texts[0] for r in res]
            out.append({'engine': 'vLLM server (online)' if mode == 'online' else "vLLM offline runner (teacher.mode batch)",
                        'calls': len(reqs), 'ok': sum(r.ok for r in res), 'completion_tokens': ct, 'wall_s': round(t2 - t0, 1),
                        'tok_per_s': round(ct / (t2 - t0), 1), 'start_s': round(t1 - t0, 1) if mode == 'online' else None,
                        'generate_only_s': round(t2 - t1, 1) if mode == 'online' else gen,
                        'tok_per_s_after_start': round(ct / (t2 - t1), 1) if mode == 'online' else (round(ct / gen, 1) if gen else None)})
    same = sum(a == b for a, b in zip(texts['online'], texts['batch']))
    return out, same


if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('what', choices=['plan', 'vllm'])
    ap.add_argument('--n', type=int, default=400); ap.add_argument('--max-tokens', type=int, default=48)
    a = ap.parse_args()
    if a.what == 'plan':
        for k, f in enumerate(('table1_gsm8k_synthesis.yaml', 'table1_math_synthesis.yaml')):
            rows = plan(ROOT/'params'/'paper'/f); cols = list(rows[0])
            if k == 0: print('| ' + ' | '.join(cols) + ' |\n|' + '---|' * len(cols))
            for r in rows: print('| ' + ' | '.join(f'{r[c]:,}' if isinstance(r[c], (int, float)) and not isinstance(r[c], bool) else str(r[c]) for c in cols) + ' |', flush=True)
    else:
        rows, same = vllm(a.n, a.max_tokens)
        print(json.dumps(rows, indent=1)); print(f"texts equal (greedy): {same} of {a.n}")
        cols = list(rows[0])
        print('| ' + ' | '.join(cols) + ' |\n|' + '---|' * len(cols))
        for r in rows: print('| ' + ' | '.join(str(r[c]) for c in cols) + ' |')
