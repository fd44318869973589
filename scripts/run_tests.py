"""Run every test of metamath-nb and end with one line: `N passed, N failed, N skipped`.

1. `nbdev-export` and `nbdev-clean` must leave the tracked files unchanged (notebooks are the source), and README.md
   must be what `python -m metamath_nb.site` makes from nbs/index.ipynb.
2. `nbdev-test` runs each notebook in nbs/ top to bottom in a fresh kernel (one test per notebook; cells flagged
   `slow`/`gpu` are skipped unless TEST_FLAGS names them, e.g. TEST_FLAGS=slow).
3. `pytest tests/` (one test per pytest item).
"""
import os, re, subprocess, sys, time
import xml.etree.ElementTree as ET
from pathlib import Path

root = Path(__file__).resolve().parents[1]
os.chdir(root)
bindir = Path(sys.executable).parent
env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'HF_DATASETS_OFFLINE': '1', 'TRANSFORMERS_OFFLINE': '1',
       'TOKENIZERS_PARALLELISM': 'false', 'PYTHONUNBUFFERED': '1'}
passed, failed, skipped = 0, 0, 0

def run(cmd, **kw):
    print('$', ' '.join(map(str, cmd)), flush=True)
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
if ok and before == after: passed += 1; print('PASS nbdev-export and nbdev-clean leave the tree unchanged')
else:
    failed += 1
    print('FAIL nbdev-export/nbdev-clean changed files (or failed): run `make export` and commit the result')
    subprocess.run(['git', 'status', '--short', 'nbs', 'metamath_nb'])

if run([sys.executable, '-m', 'metamath_nb.site', '--check-readme']).returncode == 0:
    passed += 1; print('PASS README.md matches nbs/index.ipynb')
else: failed += 1; print('FAIL README.md is stale or missing: run `make docs` and commit README.md')

nbs = sorted(p for p in (root/'nbs').glob('*.ipynb') if not p.name.startswith('_'))
flags = os.environ.get('TEST_FLAGS', '')
r = run([bindir/'nbdev-test', '--n-workers', os.environ.get('NB_WORKERS', '2'), '--timing', '--do-print'] + (['--flags', flags] if flags else []),
        capture_output=True, text=True)
print(r.stdout[-20000:]); print(r.stderr[-20000:], file=sys.stderr)
m = re.search(r'Failed On The Following Notebooks:\n=+\n(.*)', r.stderr, re.S)
bad = set(re.findall(r'^\t(\S+\.ipynb)', m.group(1), re.M)) if m else set()
if r.returncode != 0 and not bad: bad = {'<nbdev-test crashed>'}
for nb in nbs: print(('FAIL ' if nb.name in bad else 'PASS ') + f'nbs/{nb.name}')
failed += len(bad); passed += len(nbs) - len([b for b in bad if b.endswith('.ipynb')])

if any((root/'tests').glob('test_*.py')):
    xml = root/'.pytest_cache'/'junit.xml'
    r = run([sys.executable, '-m', 'pytest', 'tests', '-q', '-rs', f'--junitxml={xml}'])
    if xml.exists():
        s = ET.parse(xml).getroot()
        s = s if s.tag == 'testsuite' else s.find('testsuite')
        tot, fl, er, sk = (int(s.get(k, 0)) for k in ('tests', 'failures', 'errors', 'skipped'))
        passed += tot - fl - er - sk; failed += fl + er; skipped += sk
    elif r.returncode not in (0, 5): failed += 1

print(f'\nall tests took {time.time() - t0:.0f}s')
print(f'{passed} passed, {failed} failed, {skipped} skipped')
sys.exit(1 if failed else 0)
