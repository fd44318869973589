"""The docs site of this repository, built as `make docs` builds it (Sphinx, myst-nb, Furo) and opened in headless
Chromium (Debian's `chromium`).

What this build shows, and what it does not: it is built from the committed notebooks *without* executing the
library notebooks (executing all of them takes minutes on CI's 2 cores; `make docs` does it, with a cache, and
nbs/40b_nbexec.ipynb tests that execution on a fixture project). The study and report pages are filled from a fixture
outputs folder in the smoke-run layout (`metamath_nb.run_records.write_fixture_run`, synthetic numbers) over which the real
report notebook, nbs/90_report.ipynb, is executed with papermill exactly as `metamath-nb report` does: the report page
shows real figures drawn from fixture data, not a study's numbers. After `make smoke`, `make docs` shows the smoke
run's.

Checks: every notebook tracked by git has a page; each library page documents every name in its module's `__all__`;
the report page shows its figures, and the HTML report beside the executed notebook embeds them; Chromium's search
page finds a function by its name; every local link of the site resolves (file and anchor); pages have previous/next
links and a contents list. Screenshots go to outputs/ (git-ignored). Chromium checks skip, with the reason, where
chromium is not installed.
"""
import importlib, inspect, re, shutil, subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit, unquote

import pytest

from metamath_nb.site import build_site
from metamath_nb.run_records import write_fixture_run
from metamath_nb.reproduce import run_report

root = Path(__file__).resolve().parents[1]
chromium = shutil.which('chromium') or shutil.which('chromium-browser')
needs_chromium = pytest.mark.skipif(chromium is None, reason='chromium is not installed (apt-get install chromium; scripts/install.sh tries)')
flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync']


def fixture_outputs(outs: Path) -> Path:
    "A smoke run in the outputs/ layout, every stage done, and the report executed over it"
    bl = [{'bucket': b, 'n': 4, 'accuracy_metamath': m, 'accuracy_robust': r} for b, m, r in [('1: 5-20 words', .5, .75), ('2: 21-40 words', .25, .25), ('3: 41-90 words', 0, .25)]]
    write_fixture_run(outs, 'smoke', 'smoke-1a2b3c4d', status={'synthesize': 'done', 'finetune': 'done', 'evaluate': 'done'},
        funnel={'GSM_AnsAug': [12, 12, 11, 6, 5, 5, 5], 'GSM_FOBAR': [12, 12, 9, 2, 2, 2, 2], 'MATH_AnsAug': [6, 6, 6, 2, 2, 2, 2]},
        composition={('GSM8K', 'AnsAug'): 5, ('GSM8K', 'FOBAR'): 2, ('MATH', 'AnsAug'): 2},
        summary={'mini_heldout': {'n': 12, 'accuracy': {'metamath': .25, 'robust': 5 / 12}, 'by_length': bl}})
    run_report(outs)
    return outs


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('docs')
    outs = fixture_outputs(tmp/'outputs')
    s = build_site(root, out=tmp/'_site', outputs=outs, execute=False, proc=tmp/'_proc')
    s.outputs = outs
    print(f'{len(s.pages)} pages built in {s.seconds:.1f}s into {s.out}; {len(s.warnings)} Sphinx warnings')
    return s


def tracked_notebooks():
    "Notebooks committed to git (others may be mid-edit and untracked)"
    out = subprocess.run(['git', 'ls-files', 'nbs/*.ipynb'], cwd=root, capture_output=True, text=True, check=True).stdout
    return [root/p for p in out.split() if not Path(p).name.startswith('_') and (root/p).exists()]


def browse(url, *extra, tmp):
    "Run headless Chromium on `url` (JavaScript given up to 10 s); return its stdout (the DOM with --dump-dom)"
    r = subprocess.run([chromium, *flags, f'--user-data-dir={tmp}', '--virtual-time-budget=10000', *extra, url],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, f'chromium failed on {url}: {r.stderr[-2000:]}'
    return r.stdout


def shot(site, page, name, tmp, height=1400):
    "A PNG screenshot of `page` in outputs/ (or tmp); checked to be a non-trivial PNG"
    out_dir = root/'outputs' if (root/'outputs').is_dir() else tmp
    f = out_dir/name
    browse(page if '://' in page else (site.out/page).as_uri(), f'--screenshot={f}', f'--window-size=1280,{height}', '--hide-scrollbars', tmp=tmp/'profile')
    assert f.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and f.stat().st_size > 20_000, f'screenshot {f} missing or blank'
    return f


class Links(HTMLParser):
    "ids, link targets and image sources of one HTML file"
    def __init__(self):
        super().__init__(); self.ids, self.hrefs, self.imgs = set(), [], []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if 'id' in a: self.ids.add(a['id'])
        if tag == 'a' and a.get('href'): self.hrefs.append(a['href'])
        if tag == 'img' and a.get('src'): self.imgs.append(a['src'])


def parse(f: Path) -> Links:
    p = Links(); p.feed(f.read_text()); return p


def test_site_has_a_page_for_every_tracked_notebook(site):
    pages = {p.nb.name: p for p in site.pages}
    missing = [nb.name for nb in tracked_notebooks() if nb.name not in pages or not (site.out/pages[nb.name].html).exists()]
    assert not missing, f'notebooks without a page: {missing}'
    tracked = {nb.name for nb in tracked_notebooks()}
    assert not [e for p in site.pages if p.nb.name in tracked for e in p.errors]


def test_library_pages_document_their_api(site):
    "Each exported name has its entry (Sphinx's id `metamath_nb.<module>.<name>`) and functions a [source] link"
    tracked, problems = {nb.name for nb in tracked_notebooks()}, []
    for page in site.pages:
        if page.module is None or page.nb.name not in tracked: continue
        text = (site.out/page.html).read_text()
        mod = importlib.import_module(f'metamath_nb.{page.module}')
        missing = [n for n in getattr(mod, '__all__', []) if f'id="metamath_nb.{page.module}.{n}"' not in text]
        if missing: problems.append(f'{page.html}: exported names without an entry: {missing}')
        defs = [n for n in getattr(mod, '__all__', []) if inspect.isfunction(getattr(mod, n, None)) or inspect.isclass(getattr(mod, n, None))]
        if defs and f'_modules/metamath_nb/{page.module}.html#' not in text: problems.append(f'{page.html}: no [source] link')
    assert not problems, '\n'.join(problems)


def test_every_local_link_resolves(site):
    "Every <a href> and <img src> of every page points at a file of the site, and an anchor at an id of that file"
    files = {f: parse(f) for f in site.out.rglob('*.html')}
    broken = []
    for f, p in files.items():
        for ref in p.hrefs + p.imgs:
            u = urlsplit(ref)
            if u.scheme or u.netloc or ref.startswith(('mailto:', 'javascript:')): continue
            target = (f.parent/unquote(u.path)).resolve() if u.path else f
            if not target.exists(): broken.append(f'{f.relative_to(site.out)}: {ref} (no such file)'); continue
            if u.fragment and target.suffix == '.html' and u.fragment not in files[target].ids:
                broken.append(f'{f.relative_to(site.out)}: {ref} (no such anchor)')
    assert not broken, f'{len(broken)} broken links:\n' + '\n'.join(broken[:40])


def test_pages_have_prev_next_and_contents(site):
    report = (site.out/'report.html').read_text()
    assert 'class="prev-page"' in report and 'class="next-page"' in report
    plots = (site.out/'report_plots.html').read_text()
    assert 'class="toc-tree"' in report and 'href="#metamath_nb.report_plots.plot_funnel"' in plots   # the contents list
    study = (site.out/'synthesize.html').read_text()
    assert 'class="toc-tree"' in study and 'No run under' in study   # no executed synthesis in the fixture outputs: said so


def test_report_html_beside_the_executed_notebook(site):
    "reproduce --report / metamath-nb report leave a self-contained HTML report: figures embedded, code left out"
    page = (site.outputs/'report'/'90_report.html').read_text()
    assert page.count('src="data:image/png;base64,') >= 4
    assert 'Accuracy of every evaluated run' in page and 'def ' not in page and 'import ' not in page


@needs_chromium
def test_report_page_shows_figures(site, tmp_path):
    page = next(p for p in site.pages if p.nb.name == '90_report.ipynb')
    dom = browse((site.out/page.html).as_uri(), '--dump-dom', tmp=tmp_path/'profile')
    imgs = re.findall(r'<img[^>]+src="([^"]+)"', dom)
    pngs = [site.out/unquote(s) for s in imgs if s.endswith('.png')]
    assert len(pngs) >= 4, f'{page.html}: {len(pngs)} figures: {imgs}'
    assert all(p.exists() and p.read_bytes()[:4] == b'\x89PNG' and p.stat().st_size > 5_000 for p in pngs)
    text = re.sub(r'<[^>]+>', ' ', dom)
    assert 'This page shows the report executed over' in text and 'smoke-1a2b3c4d' in text
    assert 'Not run yet' in text and 'whiskers are 95% Wilson' in text
    print('report page figures:', [p.name for p in pngs], '; screenshot', shot(site, page.html, 'docs-report.png', tmp_path, 4200))


@needs_chromium
def test_search_finds_a_function_by_name(site, tmp_path):
    url = (site.out/'search.html').as_uri() + '?q=plot_funnel'
    dom = browse(url, '--dump-dom', tmp=tmp_path/'profile')
    results = re.findall(r'<li class="kind-object"><a href="([^"]+)"', dom)
    assert 'report_plots.html#metamath_nb.report_plots.plot_funnel' in results, f'search results: {results}'
    print('search results for plot_funnel:', results, '; screenshot', shot(site, url, 'docs-search.png', tmp_path, 900))


@needs_chromium
def test_a_library_page_in_chromium(site, tmp_path):
    "A library page as Chromium renders it: title, an API entry with its signature, the sidebar with every page"
    page = next(p for p in site.pages if p.html == 'config.html')
    dom = browse((site.out/'config.html').as_uri(), '--dump-dom', tmp=tmp_path/'profile')
    assert f'<h1>{page.title}' in dom and 'id="metamath_nb.config.load_params"' in dom
    assert all(f'href="{p.html}"' in dom for p in site.pages if p.html != 'config.html'), 'the sidebar does not list every page'
    shot(site, 'config.html', 'docs-screenshot.png', tmp_path, 900)
