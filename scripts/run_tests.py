"""Run every test of metamath-nb and end with one line: `N passed, N failed, N skipped`.

1. `nbdev-export` and `nbdev-clean` must leave the tracked files unchanged (notebooks are the source), and README.md
   must be what `python -m metamath_nb.site` makes from nbs/index.ipynb.
2. Each notebook in nbs/ runs top to bottom in a fresh kernel (`nbdev-test nbs/X.ipynb`; one test per notebook; cells
   flagged `slow`/`gpu` are skipped unless TEST_FLAGS names them, e.g. TEST_FLAGS=slow), and each file of tests/ runs
   in its own pytest (one test per pytest item). Notebooks and test files are one queue, run TEST_JOBS at a time
   (default: one more than the cores, at most 6; 3 on the CI machine; NB_WORKERS is the older name), the longest
   first: the times of the last run (.pytest_cache/test_times.json), else scripts/test_times.json. The order only
   changes how long the run takes; every notebook and every test runs, and nothing stops early.
3. The end: the slowest notebooks, test files and tests, then the counts.
"""
import json, os, subprocess, sys, tempfile, threading, time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

root = Path(__file__).resolve().parents[1]
os.chdir(root)
bindir = Path(sys.executable).parent
env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'HF_DATASETS_OFFLINE': '1', 'TRANSFORMERS_OFFLINE': '1',
       'TOKENIZERS_PARALLELISM': 'false', 'PYTHONUNBUFFERED': '1'}
# OpenMP threads (torch's) that wait for work sleep rather than spin: with two jobs on two cores, each job's spinning
# threads took the cores from the other (a tiny-model synthesis: 31 s alone, 199 s beside another, 7 s with PASSIVE;
# a vLLM-against-transformers test 86 s -> 53 s). The number of threads is unchanged.
env.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
passed, failed, skipped = 0, 0, 0
lock = threading.Lock()

def say(*a):
    with lock: print(*a, flush=True)

def run(cmd, **kw):
    say('$', ' '.join(map(str, cmd)))
    return subprocess.run(cmd, env=env, **kw)

def tree_state():
    "What git sees as changed, with the content of each change"
    diff = subprocess.run(['git', 'diff', 'HEAD', '--', 'nbs', 'metamath_nb', 'README.md'], capture_output=True, text=True).stdout
    untracked = subprocess.run(['git', 'ls-files', '--others', '--exclude-standard', 'nbs', 'metamath_nb'], capture_output=True, text=True).stdout
    return diff, untracked

t0 = time.time()
before = tree_state()
ok = run([bindir/'nbdev-export']).returncode == 0 and run([bindir/'nbdev-clean']).returncode == 0
after = tree_state()
if ok and before == after: passed += 1; say('PASS nbdev-export and nbdev-clean leave the tree unchanged')
else:
    failed += 1
    say('FAIL nbdev-export/nbdev-clean changed files (or failed): run `make export` and commit the result')
    subprocess.run(['git', 'status', '--short', 'nbs', 'metamath_nb'])

# The models that notebooks and tests share, made once here (beside the README check) rather than by two jobs at once:
# on a new machine SmolLM2's conversion from its GGUF takes a minute. A failure here shows again in the jobs.
warm = subprocess.Popen([sys.executable, '-c', 'from metamath_nb.models import smollm2_path, tiny_llama; smollm2_path(); tiny_llama()'],
                        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
if run([sys.executable, '-m', 'metamath_nb.site', '--check-readme']).returncode == 0:
    passed += 1; say('PASS README.md matches nbs/index.ipynb')
else: failed += 1; say('FAIL README.md is stale or missing: run `make docs` and commit README.md')

warm.wait()

# ---------------------------------------------------------------- the queue: notebooks and test files
flags = os.environ.get('TEST_FLAGS', '')
# One job more than the cores: a job spends part of its time waiting (a kernel or a vLLM server starting, a subprocess,
# a poll), and a third job fills those gaps. Measured on the 2-core CI machine (every test, slow cells included): 2 at
# a time 785 s, then 3 at a time 644 s (with two tests made cheaper in between, about 45 s of the difference at 2).
# At most 6: a job may hold a vLLM server or a model in memory (peak 10 GiB with 3-4 jobs here).
slots = int(os.environ.get('TEST_JOBS') or os.environ.get('NB_WORKERS') or min((os.cpu_count() or 2) + 1, 6))
nbs = sorted(p for p in (root/'nbs').glob('*.ipynb') if not p.name.startswith('_'))
test_files = sorted({*(root/'tests').rglob('test_*.py'), *(root/'tests').rglob('*_test.py')})
tmp = Path(tempfile.mkdtemp(prefix='mmt'))    # short: kernels' IPC sockets live under pytest's tmp_path
times_file, times_seen = root/'.pytest_cache'/'test_times.json', {}
for f in (root/'scripts'/'test_times.json', times_file):   # the last run's times win
    try: times_seen.update(json.loads(f.read_text()))
    except (OSError, ValueError): pass

def expected(name):
    "Seconds the job took last time; an unknown job is taken as long, so that it starts early"
    return times_seen.get(name, 120)

results = {}   # name -> (seconds, ok, junit testcases)

def nb_job(nb):
    name = f'nbs/{nb.name}'
    cmd = [bindir/'nbdev-test', nb] + (['--flags', flags] if flags else [])
    t = time.time(); r = subprocess.run(cmd, env=env, capture_output=True, text=True); dt = time.time() - t
    ok = r.returncode == 0
    with lock:
        print(f"{'PASS' if ok else 'FAIL'} {name} ({dt:.0f}s)", flush=True)
        if not ok: print(f'$ {" ".join(map(str, cmd))}\n{r.stdout[-20000:]}\n{r.stderr[-20000:]}', flush=True)
    results[name] = (dt, ok, [])

def pytest_job(f):
    name = str(f.relative_to(root))
    xml, base = tmp/(f.stem + '.xml'), tmp/f.stem
    cmd = [sys.executable, '-m', 'pytest', name, '-q', '-rs', '-p', 'no:cacheprovider', f'--junitxml={xml}', f'--basetemp={base}']
    t = time.time(); r = subprocess.run(cmd, env=env, capture_output=True, text=True); dt = time.time() - t
    cases = []
    if xml.exists():
        for c in ET.parse(xml).getroot().iter('testcase'):
            st = 'failed' if c.find('failure') is not None or c.find('error') is not None else 'skipped' if c.find('skipped') is not None else 'passed'
            cases.append((f"{c.get('classname')}::{c.get('name')}", float(c.get('time') or 0), st))
    elif r.returncode not in (0, 5): cases.append((name, dt, 'failed'))     # pytest itself failed (collection, crash)
    ok = r.returncode in (0, 5) and not any(st == 'failed' for _, _, st in cases)
    with lock:
        n = {k: sum(st == k for _, _, st in cases) for k in ('passed', 'failed', 'skipped')}
        print(f"{'PASS' if ok else 'FAIL'} {name} ({dt:.0f}s: {n['passed']} passed, {n['failed']} failed, {n['skipped']} skipped)", flush=True)
        if not ok or n['skipped']: print(f'$ {" ".join(map(str, cmd))}\n{r.stdout[-20000:]}\n{r.stderr[-5000:]}', flush=True)
    results[name] = (dt, ok, cases)

jobs = [(f'nbs/{nb.name}', nb_job, nb) for nb in nbs] + [(str(f.relative_to(root)), pytest_job, f) for f in test_files]
jobs.sort(key=lambda j: -expected(j[0]))
say(f'$ {len(nbs)} notebooks{" (flags: " + flags + ")" if flags else ""} and {len(test_files)} test files, {slots} at a time, the longest first')
with ThreadPoolExecutor(slots) as ex:
    for fut in [ex.submit(fn, arg) for _, fn, arg in jobs]: fut.result()

for name, (dt, ok, cases) in results.items():
    if name.startswith('nbs/'): passed += ok; failed += not ok
    else:
        for _, _, st in cases: passed += st == 'passed'; failed += st == 'failed'; skipped += st == 'skipped'
try:
    times_file.parent.mkdir(exist_ok=True)
    times_file.write_text(json.dumps({k: round(v[0]) for k, v in sorted(results.items())}, indent=1) + '\n')
except OSError: pass

print('\nslowest notebooks and test files:')
for name, (dt, ok, _) in sorted(results.items(), key=lambda kv: -kv[1][0])[:15]: print(f'  {dt:6.0f}s  {name}')
print('slowest tests:')
for name, dt, _ in sorted((c for v in results.values() for c in v[2]), key=lambda c: -c[1])[:15]: print(f'  {dt:6.0f}s  {name}')
print(f'\nall tests took {time.time() - t0:.0f}s ({slots} at a time)')
print(f'{passed} passed, {failed} failed, {skipped} skipped')
sys.exit(1 if failed else 0)
