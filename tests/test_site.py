"""The docs site of this repository, built offline and opened in headless Chromium (Debian's `chromium`).

Checks that every notebook tracked by git has a page, that each library notebook's page documents every name in its
module's `__all__` (read from the DOM Chromium renders), and saves a screenshot to outputs/docs-screenshot.png.
Only notebooks in git count: another notebook may be mid-edit in the working tree. Skips, with the reason, where
chromium is not installed.
"""
import importlib, json, os, re, shutil, subprocess, tempfile
from pathlib import Path

import pytest

from metamath_nb.site import build_site, page_name

root = Path(__file__).resolve().parents[1]
chromium = shutil.which('chromium') or shutil.which('chromium-browser')
flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync']


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    return build_site(root, out=tmp_path_factory.mktemp('site')/'_site')


def tracked_notebooks():
    "Notebooks committed to git (others may be mid-edit and untracked)"
    out = subprocess.run(['git', 'ls-files', 'nbs/*.ipynb'], cwd=root, capture_output=True, text=True, check=True).stdout
    return [root/p for p in out.split() if not Path(p).name.startswith('_') and (root/p).exists()]


def browse(url, *extra, tmp):
    "Run headless Chromium on `url`; return (stdout, stderr)"
    r = subprocess.run([chromium, *flags, f'--user-data-dir={tmp}', *extra, url], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f'chromium failed on {url}: {r.stderr[-2000:]}'
    return r.stdout


def dom_text(dom):
    "Visible text of a dumped DOM, tags removed"
    dom = re.sub(r'<(script|style)\b.*?</\1>', '', dom, flags=re.S)
    return re.sub(r'\s+', ' ', re.sub(r'<[^>]+>', ' ', dom)).replace('&lt;', '<').replace('&gt;', '>').replace('&amp;', '&')


def test_site_builds_every_tracked_notebook(site):
    pages = {p.nb.name: p for p in site.pages}
    missing = [nb.name for nb in tracked_notebooks() if nb.name not in pages or not (site.out/pages[nb.name].html).exists()]
    assert not missing, f'notebooks without a page: {missing}'
    print(f'{len(site.pages)} pages built in {site.seconds:.1f}s into {site.out}')


@pytest.mark.skipif(chromium is None, reason='chromium is not installed (apt-get install chromium; scripts/install.sh tries)')
def test_pages_in_chromium_document_the_api(site, tmp_path):
    pages = {p.nb.name: p for p in site.pages}
    problems = []
    for nb in tracked_notebooks():
        page = pages[nb.name]
        dom = browse((site.out/page.html).as_uri(), '--dump-dom', tmp=tmp_path/'profile')
        text = dom_text(dom)
        if page.title not in text: problems.append(f'{page.html}: title {page.title!r} not shown')
        if not all(f'href="{p.html}"' in dom for p in site.pages): problems.append(f'{page.html}: sidebar does not list every page')
        if page.module is None: continue
        mod = importlib.import_module(f'metamath_nb.{page.module}')
        undocumented = [n for n in getattr(mod, '__all__', []) if not re.search(rf'(?<![\w.]){re.escape(n)}(?!\w)', text)]
        if undocumented: problems.append(f'{page.html} ({nb.name}): exported names missing from the page: {undocumented}')
        # each exported name has its own section: h3 from nbdev's show_doc (defs, classes), h4 for constants
        heads = set(re.findall(r'<h[34] id="[^"]*">([^<]+)</h[34]>', dom))
        no_doc = [n for n in getattr(mod, '__all__', []) if n not in heads]
        if no_doc: problems.append(f'{page.html}: exported names without a documentation section: {no_doc}')
    tracked = {nb.name for nb in tracked_notebooks()}
    problems += [f'{p.nb.name}: {e}' for p in site.pages if p.nb.name in tracked for e in p.errors]
    assert not problems, '\n'.join(problems)


@pytest.mark.skipif(chromium is None, reason='chromium is not installed (apt-get install chromium; scripts/install.sh tries)')
def test_screenshot(site, tmp_path):
    shot_dir = root/'outputs' if os.access(root/'outputs', os.W_OK) else tmp_path
    shot = shot_dir/'docs-screenshot.png'
    page = next((p for p in site.pages if p.html == 'config.html'), site.pages[0])
    browse((site.out/page.html).as_uri(), f'--screenshot={shot}', '--window-size=1280,900', tmp=tmp_path/'profile')
    assert shot.exists() and shot.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and shot.stat().st_size > 20_000, 'screenshot missing or blank'
    print(f'screenshot of {page.html}: {shot}')
