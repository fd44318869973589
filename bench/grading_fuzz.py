"""Grader fuzz: hostile strings through both grading modes, each call under a hard wall-clock bound.

Every call runs in a child process; the parent waits at most `--bound` seconds for its answer, and a call that overruns
is counted as a hang (the child is killed and replaced), one that raises is counted as a crash. The strings: exponent
bombs, digit-count bombs, factorials and towers, deep nesting, long inputs, regex-hostile runs of spaces and words,
random LaTeX fragments, unicode, each as a bare answer, as a gold answer and inside a model output.

By default the sympy worker is replaced by one that answers "undecided" at once, so the run measures the grading
process itself (the worker is bounded by construction: it is killed at the item's deadline); `--sympy N` also sends
N strings through the real worker. tests/test_grading_fuzz.py runs a small version of this.
Usage: python bench/grading_fuzz.py [--n 16000] [--bound 10] [--sympy 40] [--seed 0] [--small]
"""
import argparse, json, os, random, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------- the strings
EXPONENT_BOMBS = ['1e99999999', '1E999999', '-1e-99999999', '2.5e+9999999', '1e99999999/3', '9e9999', '1e4300',
                  r'\frac{1e9999999}{2}', '10^{99999999}', '10^{10^{10}}', '2^{2^{2^{2^{2^{2}}}}}', '9^{9^{9}}',
                  '(10^{100})^{100}', 'x^{99999999}', r'1.5 \times 10^{99999999}', 'e^{e^{e^{99}}}', '10^{-99999999}',
                  '0^{-1}', '(-8)^{1/3}', r'1^{\infty}', '10^{10^{10^{10}}}', '2^{-2^{40}}', '(1+10^{-30})^{10^{30}}',
                  r'\sqrt[99999999]{2}', r'\sqrt{10^{99999999}}', '3^{3^{3^{3}}}', '7^{7^{7}}-7^{7^{7}}',
                  '1e99999999 dollars', '$1e99999999$', '0.5e-999999', r'10^{100000}+1', '2^{65536}', '1E+0999999']
DIGIT_BOMBS = ['9' * 300, '9' * 400, '-' + '9' * 400, '9' * 1000, '1' * 4300, '1' * 4301, '1' * 5000, '7' * 20000,
               '9' * 400 + '/7', '-' + '9' * 400 + '/7', '1' * 5000 + '/3', '1/' + '0' * 50, '1/00', '0/0', '1/0',
               '00/00', '1,' * 2000 + '1', '0.' + '9' * 5000, '.' + '3' * 3000, '1' * 500 + '.' + '1' * 500,
               r'\frac{' + '9' * 900 + '}{7}', '1' * 400 + 'e5', '1/' + '9' * 400, '9' * 400 + '/' + '0' * 3,
               '-' + '9' * 5000, '+' + '1' * 4400 + '/2', '1,000,' * 300 + '000']
FACTORIALS = ['1000!', '99999!', '(10!)!', r'\frac{1}{2004!}', '10!!', r'\binom{100000}{50000}', r'\binom{10^{9}}{3}',
              '9999999999!', '((3!)!)!', '(-1)!', '2.5!', r'\binom{-1}{2}', '5000!-5000!', '100!/98!']
REPEATS = [r'0.\overline{' + '3' * 500 + '}', '0.(' + '9' * 800 + ')', r'0.\dot{3}' * 50, '0.' + '3' * 900 + r'\ldots',
           '0.' + '142857' * 150 + '...', r'0.\overline{}', '0.()', r'\overline{' * 100, '0.' + '(' * 300]

def nested(n):
    return ['{' * n + '1' + '}' * n, '(' * n + '1' + ')' * n, r'\frac{' * n + '1' + '}{2}' * n, r'\sqrt{' * n + '2' + '}' * n,
            '-' * n + '1', '(1,' * n + '1' + ')' * n, r'\{' * n + '1' + r'\}' * n, 'x^{' * n + 'x' + '}' * n,
            r'\left(' * n + '1' + r'\right)' * n, '[' * n + ']' * n, '{' * n, ')' * n, '2^' * n + '2', r'\boxed{' * n + '5' + '}' * n,
            '((1,2),' * n + '3' + ')' * n, r'\text{' * n + 'a' + '}' * n, '1+(' * n + '1' + ')' * n, '\\' * n]

def long_inputs(n):
    return ['x' * n, '1,' * (n // 2) + '1', '1+' * (n // 2) + '1', ' ' * n + '1', '1' + ' ' * n + 'x', 'a ' * (n // 2),
            r'1\text{' + ' ' * n, r'5\text{ ' + 'a ' * (n // 2) + '}', '=' * n, 'x=' * (n // 2) + '1', r'\in' * (n // 3),
            '%' * n, '.' * n, r'\cup' * (n // 4), r'\begin{pmatrix}' + '&' * n + r'\end{pmatrix}', '1 ' * (n // 2),
            r'1\text{ cm}' * (n // 10), '1 cm ' * (n // 5), r'\\' * (n // 2), '$' * n, 'or ' * (n // 3), '1, and ' * (n // 7),
            r'\pm' * (n // 3), '<' * n, 'x<' * (n // 2) + '1', '1.' * (n // 2), ',' * n, '-' * n, '^' * n, '_' * n, 'e' * n,
            '(1,2)' + r'\cup(1,2)' * (n // 10), '1' + r'\!' * (n // 2), '9' + r'\,000' * (n // 5), '**' * (n // 2) + '1']

SPACED = ['x', 'or y', 'and', r'\text{a', r'\text{ a}', '.', 'cm', 'sq ft', '^2', '**', '=', r'\le', ',', '%', r'\$', '...',
          '1/2', r'\frac{1}{2}', r'\ldots', 'e5', '(', ')', r'\cup', r'\pm']

def spaced(n):
    "A token after a run of spaces, the whole just under the answer length limit: regexes with adjacent `\\s*` blow up here"
    return [p + ' ' * n + w for w in SPACED for p in ('1', '**1', r'1\text{ cm', 'x =')] + [('1' + ' ' * (n // 50)) * 50]

LATEX_TOKENS = ['0', '1', '2', '9', '10', '.', '+', '-', '*', '/', '^', '_', '{', '}', '(', ')', '[', ']', r'\{', r'\}',
                r'\frac', r'\dfrac', r'\sqrt', r'\pi', r'\infty', r'\cup', r'\pm', 'x', 'y', 'e', 'i', ',', '=', r'\text{',
                r'\boxed{', '$', '%', r'\%', '!', r'\overline{', r'\dot{', '...', r'\ldots', '|', '&', r'\\', r'\begin{pmatrix}',
                r'\end{pmatrix}', ':', r'\le', r'\ge', '<', '>', r'\cdot', r'\times', r'\div', r'\binom', r'\sin', r'\log',
                r'\ln', r'\left(', r'\right)', ' ', r'\,', r'\!', '~', r'^\circ', 'cm', 'and', 'or', 'x=', r'\in', 'e5', 'E9',
                '1e99', r'\sqrt[3]', '0.', '(3)', '**', r'\mathrm{', r'\mbox{', "'", '"', '#', '####', r'\approx', '\t', '\n']
UNICODE = ['\x00', '\uffff', '\ud800', '\u2212' + '5', '\u00bd', '\u221e', '\u221a2', '\u03c0', '\u00d7', '\u00f7', '\u00b2',
           '\u2070\u00b9\u00b2', '\uff11\uff12\uff13', '\u0661\u0662', '\u200b1\u200b', '\u00a01\u00a0', '\u202e123',
           '1\u0301', '\U0001d7d9', '\u2153', '\u2264', '\u2026', 'e\u0301', '\u3007', '\u216b', '\u00b3\u221a8', '\ufeff7']

def random_fragment(rng: random.Random) -> str:
    "A random sequence of LaTeX-ish tokens, sometimes long"
    k = rng.choice([1, 2, 3, 5, 8, 13, 30, 100, 400])
    pool = LATEX_TOKENS + UNICODE
    return ''.join(rng.choice(pool) for _ in range(k))

BOMB_WRAPPERS = ['({}, 2)', '{}, 1', r'{}\%', 'x = {}', r'\frac{{{}}}{{2}}', r'{} \text{{ cm}}', '-{}', r'\$ {}', '{}^{{2}}']

def fixed_strings(sizes=(50, 400, 2000), lengths=(300, 999, 1001, 5000, 100_000)) -> list[str]:
    "Every hostile family once: bombs (also inside tuples, lists, percents, equations, units), nesting, long inputs, unicode"
    short = [b for b in EXPONENT_BOMBS + DIGIT_BOMBS + FACTORIALS if len(b) <= 500]
    out = EXPONENT_BOMBS + DIGIT_BOMBS + FACTORIALS + REPEATS + UNICODE
    out += [w.format(b) for b in short for w in BOMB_WRAPPERS]
    for m in sizes: out += nested(m)
    for m in lengths: out += long_inputs(m)
    return out + spaced(980) + spaced(300)

def fuzz_strings(n: int, seed: int = 0, **kw) -> list[str]:
    "The fixed families, then random LaTeX fragments and unicode up to `n` strings"
    rng = random.Random(seed)
    out = fixed_strings(**kw)
    while len(out) < n: out.append(random_fragment(rng))
    return out

GOLDS = ['18', '1', '0', r'\frac{1}{2}', r'2\sqrt{2}', '(1,2)', r'\pi', 'x^2+1', '1000000', r'(-\infty, 3]']
GSM8K_GOLDS = ['18', '1000000', '0', '7']
COMBOS = [(mode, kind, role) for mode in ('metamath', 'robust') for kind in ('gsm8k', 'math') for role in ('output', 'pred', 'gold')]

def _call(s, mode, kind, role, rng):
    g = rng.choice(GOLDS if kind == 'math' else GSM8K_GOLDS)
    if role == 'output':
        w = rng.choice(['The answer is: {}', r'so the answer is $\boxed{{{}}}$.', '#### {}', '{}'])
        return dict(fn='output', a=w.format(s), gold=g, kind=kind, mode=mode)
    if role == 'pred': return dict(fn='compare', a=s, gold=g, kind=kind, mode=mode)
    return dict(fn='compare', a=rng.choice(GOLDS if kind == 'math' else GSM8K_GOLDS), gold=s, kind=kind, mode=mode)

def fuzz_calls(n: int, seed: int = 0, full=True, **kw) -> list[dict]:
    "Grading calls: each fixed string in every (mode, kind, role) combination (`full=False`: every (mode, kind), the role"
    "rotating); random fragments in one combination each, up to `n` calls"
    rng = random.Random(seed + 1)
    fixed = fixed_strings(**kw)
    if full: calls = [_call(s, *c, rng) for s in fixed for c in COMBOS]
    else: calls = [_call(s, m, k, ('output', 'pred', 'gold')[i % 3], rng) for i, s in enumerate(fixed) for m in ('metamath', 'robust')
                   for k in ('gsm8k', 'math')]
    k = 0
    while len(calls) < n:
        calls.append(_call(random_fragment(rng), *COMBOS[k % len(COMBOS)], rng)); k += 1
    return calls

# ---------------------------------------------------------------- the isolated runner
CHILD = r'''
import json, sys, time, traceback
sys.path.insert(0, sys.argv[1])
import metamath_nb.grading as G, metamath_nb.sympy_worker as W
if sys.argv[2] == 'nosympy': W.SympyWorker.equal = lambda self, p, g, timeout: None
timeout = float(sys.argv[3])
sys.stdout.write('ready\n'); sys.stdout.flush()
for line in sys.stdin:
    c = json.loads(line)
    t = time.perf_counter()
    try:
        if c['fn'] == 'output': r = G.grade_output(c['a'], c['gold'], c['kind'], c['mode'], timeout)
        else: r = dict(zip(('correct', 'status'), G.compare_answers(c['a'], c['gold'], c['kind'], c['mode'], timeout)))
        out = dict(ok=True, status=r['status'], correct=r['correct'])
    except BaseException as e:
        out = dict(ok=False, error=type(e).__name__, where=traceback.format_exc().strip().splitlines()[-3][:200])
    out['dt'] = time.perf_counter() - t
    sys.stdout.write(json.dumps(out) + '\n'); sys.stdout.flush()
'''

class Isolated:
    "A child process grading one call at a time; `call` returns its reply, or None when it overran `bound` seconds"
    def __init__(self, sympy=False, timeout=3.0):
        self.args, self.proc, self.starts = [str(ROOT), 'sympy' if sympy else 'nosympy', str(timeout)], None, 0

    def start(self):
        import queue, threading
        self.proc = subprocess.Popen([sys.executable, '-c', CHILD, *self.args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self.q = queue.Queue()
        def pump(stream, q):
            for line in stream: q.put(line)
            q.put(None)
        threading.Thread(target=pump, args=(self.proc.stdout, self.q), daemon=True).start()
        self.starts += 1
        if self.q.get(timeout=120) is None: raise RuntimeError('the fuzz child did not start')

    def kill(self):
        if self.proc is not None:
            self.proc.kill(); self.proc.wait(); self.proc = None

    def call(self, c: dict, bound: float):
        import queue
        if self.proc is None or self.proc.poll() is not None: self.start()
        t = time.perf_counter()
        self.proc.stdin.write(json.dumps(c) + '\n'); self.proc.stdin.flush()
        try: line = self.q.get(timeout=bound)
        except queue.Empty: line = None
        wall = time.perf_counter() - t
        if line is None: self.kill(); return None, wall
        return json.loads(line), wall

def run_fuzz(calls: list[dict], bound: float, sympy=False, timeout=3.0, progress=False, max_failures=None) -> dict:
    "Counts over `calls`: calls, hangs (no reply within `bound` s), crashes (an exception or status 'error'), slowest"
    "reply, examples; stops early once `max_failures` hangs and crashes have been seen"
    iso = Isolated(sympy, timeout)
    res = dict(calls=0, hangs=0, crashes=0, slowest=0.0, slowest_call='', hang_examples=[], crash_examples=[], statuses={},
               hangs_by_mode={}, crashes_by_kind={})
    it = calls
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(calls, mininterval=5)
    try:
        for c in it:
            r, wall = iso.call(c, bound)
            res['calls'] += 1
            short = {k: (v[:60] + f'...({len(v)} chars)' if isinstance(v, str) and len(v) > 60 else v) for k, v in c.items()}
            if r is None:
                res['hangs'] += 1; res['hang_examples'].append(short)
                res['hangs_by_mode'][c['mode']] = res['hangs_by_mode'].get(c['mode'], 0) + 1
                if max_failures and res['hangs'] + res['crashes'] >= max_failures: break
                continue
            if wall > res['slowest']: res['slowest'], res['slowest_call'] = wall, short
            if not r['ok'] or r['status'] == 'error':
                res['crashes'] += 1
                key = f"{c['mode']} {r.get('error', 'status error')}"
                res['crashes_by_kind'][key] = res['crashes_by_kind'].get(key, 0) + 1
                res['crash_examples'].append({**short, 'error': r.get('error', "status 'error'"), 'where': r.get('where', '')})
            else: res['statuses'][r['status']] = res['statuses'].get(r['status'], 0) + 1
            if max_failures and res['hangs'] + res['crashes'] >= max_failures: break
    finally: iso.kill()
    return res

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--n', type=int, default=16000); ap.add_argument('--bound', type=float, default=10.0)
    ap.add_argument('--sympy', type=int, default=40); ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--timeout', type=float, default=3.0)
    ap.add_argument('--small', action='store_true', help='the set tests/test_grading_fuzz.py runs (4000 calls)')
    a = ap.parse_args()
    print(f'load average: {os.getloadavg()}')
    calls = fuzz_calls(4000, a.seed, full=False, sizes=(50, 400), lengths=(999, 1001, 5000)) if a.small else fuzz_calls(a.n, a.seed)
    t = time.time()
    r = run_fuzz(calls, a.bound, sympy=False, timeout=a.timeout, progress=True)
    print(f'\n== {r["calls"]} calls (sympy worker stubbed), bound {a.bound:.0f} s per call, {time.time() - t:.0f} s in all')
    print(f'hangs {r["hangs"]}  crashes {r["crashes"]}  slowest call {r["slowest"]:.3f} s  {r["slowest_call"]}')
    print('statuses:', r['statuses'])
    print('hangs by mode:', r['hangs_by_mode'], ' crashes by mode and exception:', r['crashes_by_kind'])
    for e in r['hang_examples'][:15]: print('  HANG ', e)
    for e in r['crash_examples'][:15]: print('  CRASH', e)
    if a.sympy:
        rng = random.Random(a.seed + 2)
        sub = [c for c in calls if c['mode'] == 'robust']
        sub = rng.sample(sub, min(a.sympy, len(sub)))
        t = time.time()
        s = run_fuzz(sub, a.bound + a.timeout + 120, sympy=True, timeout=a.timeout)  # a worker (re)start is outside the item budget
        print(f'\n== {s["calls"]} robust calls with the real sympy worker ({time.time() - t:.0f} s): hangs {s["hangs"]}  '
              f'crashes {s["crashes"]}  slowest {s["slowest"]:.2f} s  statuses {s["statuses"]}')
        for e in s['hang_examples'][:5] + s['crash_examples'][:5]: print('  ', e)
    print(f'load average: {os.getloadavg()}')

if __name__ == '__main__': main()
