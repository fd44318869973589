"""The house rules of the package, checked on its source (ast, imports inside functions included):

- every module's notebook says its layer ("Layer N (...)" in its prose): 0 foundation, 1 config and data,
  2 grading and generation, 3 pipeline steps, 4 runs and report, 5 command line and tools;
- a module imports only modules of its own layer or below (never up), and no chain of imports comes back to where it
  started (no cycle, also within a layer);
- no module is longer than 400 lines, except those whose notebook says why a split would be artificial
  ("not split:" in its prose);
- `import metamath_nb` loads no module but the foundation's console;
- each notebook has a number of its own (`NNx_`): two branches that each add a notebook under the same number are
  caught here, not in the docs' order.
"""
import ast, json, re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG, NBS = ROOT/'metamath_nb', ROOT/'nbs'
MAX_LINES = 400

def _notebooks() -> dict:
    "module name -> (notebook path, its markdown text)"
    out = {}
    for nb in sorted(NBS.glob('*.ipynb')):
        cells = json.loads(nb.read_text())['cells']
        src = lambda c: ''.join(c['source']) if isinstance(c['source'], list) else c['source']
        exp = next((src(c).split()[-1] for c in cells if c['cell_type'] == 'code' and src(c).startswith('#| default_exp')), None)
        if exp: out[exp] = (nb, '\n'.join(src(c) for c in cells if c['cell_type'] == 'markdown'))
    return out

NOTEBOOKS = _notebooks()
MODULES = sorted(p.stem for p in PKG.glob('*.py') if p.stem not in ('__init__', '_modidx'))

def layer(module: str) -> int:
    m = re.search(r'\bLayer (\d) \(', NOTEBOOKS[module][1])
    assert m, f"{NOTEBOOKS[module][0].name} does not say its layer ('Layer N (...)')"
    return int(m.group(1))

def imports(module: str) -> dict:
    "package modules that `module` imports -> the first line that does (imports inside functions included)"
    tree, out = ast.parse((PKG/f'{module}.py').read_text()), {}
    for n in ast.walk(tree):
        names = []
        if isinstance(n, ast.ImportFrom):
            if n.level == 1 or n.module == 'metamath_nb':
                names = [n.module.split('.')[0]] if n.level == 1 and n.module else [a.name for a in n.names]
            elif n.module and n.module.startswith('metamath_nb.'): names = [n.module.split('.')[1]]
        elif isinstance(n, ast.Import): names = [a.name.split('.')[1] for a in n.names if a.name.startswith('metamath_nb.')]
        for x in names:
            if x in MODULES and x != module: out.setdefault(x, n.lineno)
    return out

def test_every_module_has_a_notebook_that_says_its_layer():
    assert [m for m in MODULES if m not in NOTEBOOKS] == [], 'modules without a notebook'
    for m in MODULES: layer(m)

def test_each_notebook_has_its_own_number():
    nums = {}
    for nb in sorted(NBS.glob('*.ipynb')):
        if (m := re.match(r'(\d+[a-z]?)_', nb.name)): nums.setdefault(m.group(1), []).append(nb.name)
    assert {k: v for k, v in nums.items() if len(v) > 1} == {}

def test_no_import_goes_up_a_layer():
    up = [f"metamath_nb/{m}.py:{line}: {m} (layer {layer(m)}) imports {x} (layer {layer(x)})"
          for m in MODULES for x, line in imports(m).items() if layer(x) > layer(m)]
    assert up == [], '\n'.join(up)

def test_no_import_cycle():
    graph = {m: set(imports(m)) for m in MODULES}
    state, cycles = {}, []
    def visit(m, path):
        state[m] = 'open'
        for x in sorted(graph[m]):
            if state.get(x) == 'open': cycles.append(' -> '.join(path[path.index(x):] + [x]))
            elif x not in state: visit(x, path + [x])
        state[m] = 'done'
    for m in MODULES:
        if m not in state: visit(m, [m])
    assert cycles == [], '\n'.join(cycles)

def test_modules_stay_small():
    big = [f"{m}: {n} lines" for m in MODULES if (n := len((PKG/f'{m}.py').read_text().splitlines())) > MAX_LINES
           and 'not split:' not in NOTEBOOKS[m][1]]
    assert big == [], "over 400 lines, and the notebook does not say why it is not split ('not split: ...'):\n" + '\n'.join(big)

def test_importing_the_package_loads_only_the_foundation():
    code = "import sys, metamath_nb; print(sorted(m for m in sys.modules if m.startswith('metamath_nb.')))"
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert eval(out) == ['metamath_nb.console'], out

def test_the_checks_catch_what_they_should(tmp_path, monkeypatch):
    "The checks themselves fail on a planted upward import and a planted cycle"
    global PKG
    fake = tmp_path/'metamath_nb'; fake.mkdir()
    (fake/'config.py').write_text('def f():\n    from metamath_nb.preflight import check_params\n')
    (fake/'preflight.py').write_text('from .config import f\n')
    monkeypatch.setattr(sys.modules[__name__], 'PKG', fake)
    monkeypatch.setattr(sys.modules[__name__], 'MODULES', ['config', 'preflight'])
    assert imports('config') == {'preflight': 2}
    try: test_no_import_goes_up_a_layer()
    except AssertionError as e: assert 'config (layer 1) imports preflight (layer 4)' in str(e)
    else: raise AssertionError('the upward import was not caught')
    try: test_no_import_cycle()
    except AssertionError as e: assert 'config -> preflight -> config' in str(e)
    else: raise AssertionError('the cycle was not caught')
