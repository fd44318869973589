"""Curation benchmark: dedup + decontamination of 395,000 synthetic MetaMathQA-format rows (Table 1's mix of types),
made by perturbing seed questions, against every test set found (GSM8K test, MATH test, MATH500, GSM8K-Backward).
Prints seconds and peak memory; target: 60 s or less on a 2-core machine.

Planted: 2% exact duplicates (case and spacing changed), 3% near duplicates (one word changed) and 300 test questions
(when the test sets are present), so the removal counts can be checked against what was planted."""
import os, random, re, resource, sys, threading, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault('HF_HUB_OFFLINE', '1')
import psutil
from metamath_nb.config import CurateConfig
from metamath_nb.curate import curate
from metamath_nb.decontaminate import test_items, TestIndex
from metamath_nb.minhash import jaccard, normalise
from metamath_nb.data import load_benchmark, mini_seeds, DataUnavailable

N = int(os.environ.get('BENCH_ROWS', 395_000))
TABLE1 = {'GSM_AnsAug': 80, 'GSM_Rephrased': 80, 'GSM_SV': 40, 'GSM_FOBAR': 40, 'MATH_AnsAug': 75, 'MATH_Rephrased': 50, 'MATH_SV': 15, 'MATH_FOBAR': 15}
rng = random.Random(0)
try: gsm = load_benchmark('gsm8k', split='train')
except DataUnavailable: gsm = mini_seeds('gsm8k')
math_seeds = mini_seeds('math')
FILLER = ['Note that', 'Suppose', 'In this problem,', 'Consider the following.', 'Here', 'Recall that', 'As before,', 'Meanwhile,']
NUM = re.compile(r'\d+')

def perturb(text):
    "Random numbers, dropped words and a filler phrase: a new question that reads like the seed"
    text = NUM.sub(lambda m: str(rng.randint(2, 999)) if rng.random() < 0.8 else m.group(), text)
    words = [w for w in text.split(' ') if rng.random() > 0.06]
    k = rng.randrange(len(words) + 1)
    return ' '.join(words[:k] + [rng.choice(FILLER)] + words[k:])

def make_row(t):
    p = rng.choice(gsm if t.startswith('GSM') else math_seeds)
    q, sol = perturb(p.question), perturb(re.sub(r'<<[^>]*>>', '', p.solution).split('####')[0])
    ans = str(rng.randint(1, 9999))
    if t.endswith('FOBAR'): q += f'\nIf we know the answer to the above question is {ans}, what is the value of unknown variable x?'
    if t.endswith('SV'): q += ' What is the value of unknown variable x?'
    return {'query': q, 'response': f'{sol}\nThe answer is: {ans}', 'type': t, 'original_question': p.question}

t0 = time.perf_counter()
types = [t for t, k in TABLE1.items() for _ in range(round(N * k / 395))]
rows = [make_row(t) for t in types]
n_exact, n_near = int(0.02 * len(rows)), int(0.03 * len(rows))
pairs = []
for i in rng.sample(range(1, len(rows)), n_exact):
    j = rng.randrange(i); rows[i] = {**rows[j], 'query': rows[j]['query'].upper().replace(' ', '  ')}; pairs.append((j, i))
for i in rng.sample(range(1, len(rows)), n_near):
    j = rng.randrange(i); w = rows[j]['response'].split(' '); k = rng.randrange(len(w) - 1)
    w[k] = 'indeed'; rows[i] = {**rows[j], 'response': ' '.join(w)}; pairs.append((j, i))
try: tests = load_benchmark('gsm8k', split='test').copy() + load_benchmark('math', split='test').copy()
except DataUnavailable: tests = []
planted = rng.sample(range(len(rows)), 300 if tests else 0)
for i in planted: rows[i] = {**rows[i], 'query': rng.choice(tests).question}
print(f'made {len(rows)} rows ({sum(len(r["query"]) + len(r["response"]) for r in rows) / 1e6:.0f} MB of text) in {time.perf_counter() - t0:.1f} s; '
      f'planted {n_exact} exact and {n_near} near duplicates, {len(planted)} test questions')

proc, peak, done = psutil.Process(), [0], threading.Event()
def watch():
    while not done.is_set(): peak[0] = max(peak[0], proc.memory_info().rss); time.sleep(0.05)
threading.Thread(target=watch, daemon=True).start()
rss0 = proc.memory_info().rss
t0 = time.perf_counter()
items, missing = test_items(CurateConfig().decontaminate_against)
index = TestIndex(items)
t_index = time.perf_counter() - t0
res = curate(rows, CurateConfig(), test_sets=index)
dt = time.perf_counter() - t0
done.set(); time.sleep(0.1)
print(res.summary())
print(f'{index}; missing: {missing or "none"}')
print(f'RESULT rows={len(rows)} seconds={dt:.1f} (test index {t_index:.1f}, curate {res.seconds:.1f}) '
      f'peak_rss_during={peak[0] / 2**20:.0f} MiB (rows in memory before: {rss0 / 2**20:.0f} MiB) '
      f'process_max_rss={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MiB '
      f'kept={len(res.rows)} target_s=60 {"PASS" if dt <= 60 else "SLOW"}')

# Check against what was planted (later plants may have overwritten earlier ones, so look at the final rows)
gone = dict(zip(res.removed.row, res.removed.reason))
same = lambda a, b: normalise(rows[a]['query']) == normalise(rows[b]['query']) and normalise(rows[a]['response']) == normalise(rows[b]['response'])
ex = [(j, i) for j, i in pairs if same(j, i)]
near = [(j, i) for j, i in pairs if not same(j, i) and jaccard(rows[j]['query'] + '\n' + rows[j]['response'], rows[i]['query'] + '\n' + rows[i]['response']) >= 0.9]
caught = lambda ps: sum(1 for j, i in ps if gone.get(i, '').endswith('duplicate') or gone.get(j, '').endswith('duplicate'))
stage = dict(zip(res.removed.row, res.removed.stage))
cont = sum(1 for i in set(planted) if stage.get(i) in ('decontaminated', 'deduplicated'))
print(f'planted exact duplicates still equal: {len(ex)}, caught {caught(ex)}; planted near duplicates with Jaccard >= 0.9: '
      f'{len(near)}, caught {caught(near)}; planted test questions: {len(set(planted))}, removed {cont}')
