"""Verification rules on the GSM8K train seeds: a scripted teacher (a local OpenAI-compatible test server) answers every
question the four augmentations ask about the 7473 GSM8K training questions, in varied but realistic answer formats
('$1,000', '1000.00', '1,000 dollars', '2000/2', '#### 1000', a boxed answer, prose without a stated answer, second
thoughts...), correct or wrong. Synthesis runs once with each verification rule (the second run is served from the call
cache); the script prints, per type and per answer format, how many candidates each rule keeps and how many they
disagree on in both directions. Needs ../shared/data (or $METAMATH_DATA); skips cleanly without it.

    python bench/verification.py [--limit N] [--samples K]      # N seeds (default: all 7473), K samples per item"""
import argparse, hashlib, sys, tempfile, time
from collections import Counter, defaultdict
from fractions import Fraction
from decimal import Decimal
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import pandas as pd
from metamath_nb.augment import synthesize
from metamath_nb.scripted_teacher import scripted_solver
from metamath_nb.config import RunConfig, AugmentConfig, TeacherConfig
from metamath_nb.data import load_benchmark, DataUnavailable
from metamath_nb.teacher import make_teacher
from metamath_nb.testserver import OpenAITestServer

def _num(v: str):
    try: return Decimal(v)
    except Exception: return None

def _commas(d: Decimal) -> str: return f'{d:,f}'

def _half(d: Decimal) -> str:
    f = Fraction(d)
    return f'{2 * f.numerator}/2' if f.denominator == 1 else f'{f.numerator}/{f.denominator}'

# name -> (correct?, final text given the value v and its Decimal d); each ends the way a chain of thought might
FORMATS = {
    'plain':          (True,  lambda v, d: f'The answer is: {v}'),
    'period':         (True,  lambda v, d: f'The answer is {v}.'),
    'dollar_commas':  (True,  lambda v, d: f'The answer is: ${_commas(d)}'),
    'two_decimals':   (True,  lambda v, d: f'The answer is: {d:.2f}'),
    'commas_unit':    (True,  lambda v, d: f'The answer is: {_commas(d)} dollars'),
    'fraction':       (True,  lambda v, d: f'The answer is: {_half(d)}'),
    'percent':        (True,  lambda v, d: f'The answer is: {v}%'),
    'hash':           (True,  lambda v, d: f'#### {v}'),
    'boxed':          (True,  lambda v, d: f'So the final result is $\\boxed{{{v}}}$.'),
    'prose':          (True,  lambda v, d: f'So the result is {v} in total.'),
    'check_after':    (True,  lambda v, d: f'The answer is: {v}, since {d - 1} + 1 = {v}'),
    'off_by_one':     (False, lambda v, d: f'The answer is: {d + 1}'),
    'dollar_wrong':   (False, lambda v, d: f'The answer is: ${_commas(d + 1)}'),
    'times_ten':      (False, lambda v, d: f'The answer is: {d * 10}'),
    'second_thought': (False, lambda v, d: f'The answer is: {v}\nWait, I forgot one step: the total is {d + 2}.\nThe answer is {d + 2}'),
    'european':       (False, lambda v, d: f'The answer is: {str(d)[:-3]}.{str(d)[-3:]}' if d == d.to_integral() and d >= 1000 else f'The answer is: {d + 1}'),
}
WEIGHTS = {'plain': 30, 'period': 8, 'dollar_commas': 8, 'two_decimals': 6, 'commas_unit': 5, 'fraction': 3, 'percent': 2, 'hash': 3,
           'boxed': 3, 'prose': 4, 'check_after': 3, 'off_by_one': 10, 'dollar_wrong': 4, 'times_ten': 4, 'second_thought': 4, 'european': 3}
_BAG = [k for k, w in WEIGHTS.items() for _ in range(w)]

def pick(kind: str, query: str) -> str:
    "The answer format of one question (fixed per question, spread by a hash)"
    return _BAG[int(hashlib.sha256(f'{kind}|{query}'.encode()).hexdigest(), 16) % len(_BAG)]

def make_answer(used: dict):
    "The scripted teacher's solution text in the question's format; `used` records the format of every question"
    def answer(kind, value, query):
        d = _num(value)
        name = pick(kind, query) if d is not None else 'plain'
        used[query] = name
        final = FORMATS[name][1](value, d)
        steps = 'We work through the numbers of the question one step at a time.'
        if kind == 'cot': return f'{steps}\n{final}'
        return f'{steps}\nThe value of x is {value}.\n{final}'
    return answer

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--limit', type=int, default=None); ap.add_argument('--samples', type=int, default=1)
    a = ap.parse_args(argv)
    try: seeds = list(load_benchmark('gsm8k', 'train', limit=a.limit, seed=0))
    except DataUnavailable as e: print(f'SKIP verification bench: {e}'); return
    used, tmp = {}, Path(tempfile.mkdtemp())
    res = {}
    with OpenAITestServer(responder=scripted_solver(seeds, answer=make_answer(used))) as srv:
        tcfg = TeacherConfig(backend='openai', model='scripted', base_url=srv.base_url, cache_path=str(tmp/'cache.sqlite'), max_in_flight=32, timeout_s=60)
        for verify in ('released', 'robust'):
            cfg = RunConfig(study='bench', augment=AugmentConfig(samples_per_seed=a.samples, verify=verify))
            t0 = time.perf_counter()
            res[verify] = synthesize(cfg, seeds, make_teacher(tcfg, progress=False))
            print(f'verify={verify}: {len(res[verify].candidates):,} candidates in {time.perf_counter() - t0:.0f} s '
                  f'({srv.stats()["served"]:,} teacher calls served so far)', flush=True)
    rel, rob = res['released'], res['robust']
    rows = []
    for t, f in rel.funnel.items():
        rows.append(dict(type=t, candidates=f['requested'], judged=f['generated'], verified_released=f['verified'],
                         verified_robust=rob.funnel[t]['verified'], released_only=f['released_only'], robust_only=f['robust_only']))
    table = pd.DataFrame(rows).set_index('type')
    table.loc['all'] = table.sum()
    print(f'\n{len(seeds)} GSM8K train seeds, {a.samples} sample(s) per item; both verdicts recorded on every candidate\n')
    print(table.to_string())
    assert (table.verified_released - table.released_only + table.robust_only == table.verified_robust).all()
    by = defaultdict(Counter)
    for c in rel.candidates:
        if c.released_ok is None: continue
        fmt = used.get(c.query.removeprefix('Question: '), 'plain')
        by[fmt]['judged'] += 1; by[fmt]['released'] += c.released_ok; by[fmt]['robust'] += c.robust_ok
        by[fmt]['released_only'] += c.released_ok and not c.robust_ok; by[fmt]['robust_only'] += c.robust_ok and not c.released_ok
    fm = pd.DataFrame(by).T.fillna(0).astype(int)[['judged', 'released', 'robust', 'released_only', 'robust_only']]
    fm.insert(0, 'correct_value', [FORMATS[k][0] for k in fm.index])
    print('\nby answer format (all types):\n'); print(fm.sort_values(['correct_value', 'judged'], ascending=False).to_string())

if __name__ == '__main__': main()
