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
import html, importlib, inspect, re, shutil, subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit, unquote

import pytest

from metamath_nb.escape import live_markup
from metamath_nb.site import build_site
from metamath_nb.run_records import write_fixture_run
from metamath_nb.reproduce import run_report

root = Path(__file__).resolve().parents[1]
chromium = shutil.which('chromium') or shutil.which('chromium-browser')
needs_chromium = pytest.mark.skipif(chromium is None, reason='chromium is not installed (apt-get install chromium; scripts/install.sh tries)')
flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync']


# the markup of issue 20, which ran in Chromium when params labels were written into the report unescaped
PAYLOADS = {'table': 'table2', 'row': '<script src="data:text/javascript,alert(1)"></script>', 'svg': '<svg onload=alert(2)>',
            'details': '<details open ontoggle=alert(3)>x</details>', 'iframe': '<iframe srcdoc="<script>alert(4)</script>"></iframe>',
            'link': '[x](javascript:alert(5))', 'a': '<a href="javascript:alert(6)">y</a>', 'ansi': '\x1b[31mred\x1b[0m \x07'}


def fixture_outputs(outs: Path) -> Path:
    "A smoke run in the outputs/ layout, every stage done, a run labelled with markup, and the report executed over it"
    bl = [{'bucket': b, 'n': 4, 'accuracy_metamath': m, 'accuracy_robust': r} for b, m, r in [('1: 5-20 words', .5, .75), ('2: 21-40 words', .25, .25), ('3: 41-90 words', 0, .25)]]
    write_fixture_run(outs, 'smoke', 'smoke-1a2b3c4d', status={'synthesize': 'done', 'finetune': 'done', 'evaluate': 'done'},
        funnel={'GSM_AnsAug': [12, 12, 11, 6, 5, 5, 5], 'GSM_FOBAR': [12, 12, 9, 2, 2, 2, 2], 'MATH_AnsAug': [6, 6, 6, 2, 2, 2, 2]},
        composition={('GSM8K', 'AnsAug'): 5, ('GSM8K', 'FOBAR'): 2, ('MATH', 'AnsAug'): 2},
        summary={'mini_heldout': {'n': 12, 'accuracy': {'metamath': .25, 'robust': 5 / 12}, 'by_length': bl}})
    write_fixture_run(outs, 'smoke', 'labelled', labels=PAYLOADS, status={'evaluate': 'done'},   # labels that try to run in the report
        summary={'gsm8k': {'n': 4, 'accuracy': {'metamath': .5, 'robust': .5}, 'by_length': bl[:1]}})
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


def test_params_labels_are_text_in_every_html(site):
    "The payloads of issue 20 as run labels: shown as text in the HTML report and on the docs' report page, nothing live"
    report = (site.outputs/'report'/'90_report.html').read_text()
    page = next(p for p in site.pages if p.nb.name == '90_report.ipynb')
    docs = (site.out/page.html).read_text()
    for html_text in (report, docs):
        shown = html.unescape(re.sub(r'<[^>]+>', '', html_text))
        assert '<svg onload=alert(2)>' in shown and '[x](javascript:alert(5))' in shown and '\\x1b[31mred' in shown
    assert live_markup(report) == [], live_markup(report)
    assert live_markup(docs) == live_markup((site.out/'config.html').read_text())   # only the theme's own scripts and search form


@pytest.fixture
def served(site):
    "The site served over http on a free local port (a page opened from file:// may not read the site's other pages)"
    import functools, http.server, threading
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site.out))
    handler.log_message = lambda *a: None
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{srv.server_address[1]}'
    srv.shutdown(); srv.server_close()


PROBE = """<!doctype html><html><body><iframe id="f" src="%s" style="width:1280px;height:1400px"></iframe><script>
document.getElementById('f').onload = () => { const d = document.getElementById('f').contentDocument;
  const tables = [...d.querySelectorAll('article table')].map(t => [t.scrollWidth, t.parentElement.clientWidth]);
  const imgs = [...d.querySelectorAll('.cell_output img')].map(i => [i.naturalWidth, i.clientWidth]);
  document.body.setAttribute('data-probe', JSON.stringify({tables, imgs})); };
</script></body></html>"""


@needs_chromium
def test_report_page_tables_and_figures_fit(site, served, tmp_path):
    "In a 1280-pixel window every table of the report page fits its column (Table 1 was clipped at run_id) and no figure is shrunk below 80% of its size"
    import json
    page = next(p for p in site.pages if p.nb.name == '90_report.ipynb')
    (site.out/'_probe.html').write_text(PROBE % page.html)
    try: dom = browse(f'{served}/_probe.html', '--dump-dom', '--window-size=1400,1500', tmp=tmp_path/'profile')
    finally: (site.out/'_probe.html').unlink()
    m = re.search(r'data-probe="([^"]+)"', dom)
    assert m, 'the probe did not run'
    probe = json.loads(html.unescape(m.group(1)))
    assert len(probe['tables']) >= 4 and len(probe['imgs']) >= 4, probe
    assert all(w <= col for w, col in probe['tables']), f"tables wider than their column: {probe['tables']}"
    assert all(shown >= .8 * natural for natural, shown in probe['imgs'] if natural <= 1400), f"figures shrunk: {probe['imgs']}"


@needs_chromium
def test_search_results_have_snippets(site, served, tmp_path):
    "Each page the search finds comes with a snippet of its text, on the site served over http and opened as files (site.offline_search)"
    for url in (f'{served}/search.html?q=wilson', (site.out/'search.html').as_uri() + '?q=wilson'):
        dom = browse(url, '--dump-dom', tmp=tmp_path/'profile')
        texts = re.findall(r'<li class="kind-text"><a href="([^"]+)"[^>]*>.*?</a>(.*?)</li>', dom, re.S)
        assert len(texts) >= 3 and all('<p class="context">' in rest and 'ilson' in rest for _, rest in texts), (url, texts[:5])
        assert len({href for href, _ in texts}) == len(texts), 'a page found twice'   # no jupyter_execute copies
