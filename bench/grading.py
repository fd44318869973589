"""Grading benchmarks on the MATH test set (5000 items): self-consistency and speed.

Self-consistency: each gold answer graded against (a) its own reference solution (answer extracted from the full
solution text) and (b) a re-formatted variant of itself (spacing, \\dfrac for \\frac, \\left( \\right)), in both modes.
Speed: 5000 predictions (even items: the re-formatted variant of the gold, odd items: the next item's gold, mostly a
wrong answer) graded by robust mode, by Math-Verify alone (parse + verify, in-process) and by metamath mode.
Usage: python bench/grading.py [--limit N]. Skips with a message when the MATH test file is absent.
The hand-labelled adversarial corpus (issue 13: robust vs Math-Verify alone vs metamath) is bench/grading_corpus.py;
the fuzz of both modes under a hard per-call bound (issue 15) is bench/grading_fuzz.py.
"""
import argparse, os, re, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('HF_DATASETS_OFFLINE', '1')
from tqdm.auto import tqdm
from metamath_nb.data import data_dir, load_benchmark, last_boxed
from metamath_nb.grading import grade, grade_output, compare_answers
from metamath_nb.sympy_worker import sympy_worker
from metamath_nb.normalize import normalize_answer
from metamath_nb.equivalence import parse_number

def reformat(ans: str) -> str:
    "A variant a model might write: spaces around operators and commas, \\dfrac for \\frac, \\left( \\right)"
    s = re.sub(r'\\frac', r'\\dfrac', ans)
    s = re.sub(r'\s*([=+])\s*', r' \1 ', s).strip()
    s = re.sub(r'(?<!\\)(?<!\{),(?!\\!)(?!\d{3})\s*', ', ', s)  # a space after list commas, not thousands ones
    s = re.sub(r'(?<!\\left)(?<!\\)\(', r'\\left(', s)
    s = re.sub(r'(?<!\\right)(?<!\\)\)', r'\\right)', s)
    return s

def value_rewrite(ans: str):
    "An equivalent answer in another form a model might write, or None: a decimal for a terminating fraction, thousands commas added or removed"
    norm = normalize_answer(ans)[0]
    v = parse_number(norm)
    if v is None: return None
    if v.denominator != 1:
        d = v.denominator
        while d % 2 == 0: d //= 2
        while d % 5 == 0: d //= 5
        return str(float(v)) if d == 1 else None
    if abs(v) >= 1000: return str(v) if ',' in ans else f'{int(v):,}'
    return None

def timed(fn, items, desc):
    "Run fn over items, return (results, total seconds, slowest seconds, index of slowest)"
    res, slow, slow_i, t0 = [], 0.0, -1, time.perf_counter()
    for k, it in enumerate(tqdm(items, desc=desc, mininterval=2)):
        t = time.perf_counter(); res.append(fn(*it)); dt = time.perf_counter() - t
        if dt > slow: slow, slow_i = dt, k
    return res, time.perf_counter() - t0, slow, slow_i

def main():
    ap = argparse.ArgumentParser(); ap.add_argument('--limit', type=int, default=None); args = ap.parse_args()
    if data_dir() is None: print('SKIP: no benchmark data (set METAMATH_DATA or put it in ../shared/data)'); return
    probs = load_benchmark('math', 'test', limit=args.limit)
    n = len(probs); golds = [p.answer for p in probs]
    variants = [reformat(g) for g in golds]
    print(f'MATH test items: {n}; variants differing from the gold string: {sum(v != g for v, g in zip(variants, golds))}')
    sympy_worker().equal('1', '1', 120)  # start the worker before timing (its start-up is a one-off cost)

    print('\n== Self-consistency')
    for mode in ('robust', 'metamath'):
        own = [grade_output(p.solution, p.answer, 'math', mode)['correct'] for p in probs]
        mm_wrapped = [grade_output(p.solution + '\nThe answer is: ' + last_boxed(p.solution), p.answer, 'math', mode)['correct'] for p in probs]
        boxed = [grade(last_boxed(p.solution), p.answer, 'math', mode) for p in probs]
        var = [grade(v, g, 'math', mode) for v, g in zip(variants, golds)]
        print(f'{mode:9s} gold vs own solution text: {sum(own)}/{n}; own solution + "The answer is: <boxed>": '
              f'{sum(mm_wrapped)}/{n}; gold vs boxed answer: {sum(boxed)}/{n}; gold vs re-formatted variant: {sum(var)}/{n}')
        if mode == 'robust':
            for v, g, ok in zip(variants, golds, var):
                if not ok: print('   robust miss:', repr(g), 'vs', repr(v))
    rewrites = [(value_rewrite(g), g) for g in golds]
    rewrites = [(r, g) for r, g in rewrites if r is not None and r != g.strip() and not re.fullmatch(r'-?\d*\.\d+', g.strip())]
    for mode in ('robust', 'metamath'):
        print(f'{mode:9s} gold vs an equivalent value rewrite (decimal for a terminating fraction, thousands commas '
              f'added/removed): {sum(grade(r, g, "math", mode) for r, g in rewrites)}/{len(rewrites)}')
    print('   examples:', rewrites[:4])

    print('\n== Speed (5000 predictions: even = re-formatted gold, odd = next item\'s gold)')
    preds = [variants[i] if i % 2 == 0 else golds[(i + 1) % n] for i in range(n)]
    items = list(zip(preds, golds))
    from math_verify import parse, verify
    def mv(p, g): return verify(parse('$' + g + '$'), parse('$' + p + '$'))
    w = sympy_worker(); calls0, touts0 = w.calls, w.timeouts
    r_res, r_t, r_slow, r_i = timed(lambda p, g: compare_answers(p, g, 'math', 'robust'), items, 'robust')
    r_calls, r_touts = w.calls - calls0, w.timeouts - touts0
    m_res, m_t, m_slow, m_i = timed(mv, items, 'math-verify')
    h_res, h_t, h_slow, h_i = timed(lambda p, g: grade(p, g, 'math', 'metamath'), items, 'metamath')
    ok_r = sum(r[0] for r in r_res)
    for name, res, t, slow, si in (('robust', [r[0] for r in r_res], r_t, r_slow, r_i), ('math-verify alone', m_res, m_t, m_slow, m_i),
                                   ('metamath', h_res, h_t, h_slow, h_i)):
        print(f'{name:18s} {n / t:9.1f} items/s  total {t:7.2f} s  slowest {slow:.3f} s (item {si}: {golds[si]!r})  '
              f'correct {sum(map(bool, res))}/{n}  (even half {sum(map(bool, res[0::2]))}/{len(res[0::2])}, odd half {sum(map(bool, res[1::2]))}/{len(res[1::2])})')
    print(f'robust: {r_calls} of {n} items needed the sympy worker, {r_touts} timed out; speed-up over math-verify alone: {m_t / r_t:.1f}x')
    dis = [(i, golds[i], preds[i], r_res[i][0], m_res[i]) for i in range(n) if bool(r_res[i][0]) != bool(m_res[i])]
    print(f'robust vs math-verify disagree on {len(dis)} items' + (':' if dis else ''))
    for d in dis[:25]: print('  ', d)

if __name__ == '__main__': main()
