"""Kill -9 probe: interrupt `metamath-nb reproduce` at points across every stage, rerun, compare with a clean run.

For each kill point a reproduce run is killed with SIGKILL (its whole process group; the stage's kernel, in a session
of its own, must notice and exit by itself), then the same command runs again. A kill in the synthesize stage starts
from an empty outputs folder; a kill in a later stage starts from a copy of the clean run with that stage and the
following ones removed (the earlier stages are skipped as done, as in a run that got that far), so that the probe does
not pay for synthesis again at every point. A resume is clean when the rerun exits 0 with every stage done; its
results are identical when the synthesis export, the candidates and ledger, the adapter weights, the predictions and
the metrics equal those of the clean run (times and paths aside). A second clean run is the control.

Kill points: `<stage>@<fraction>` (that fraction of the stage's clean wall time after it starts) and events
(`synthesize:cache` first teacher sample committed, `finetune:ckpt1` first checkpoint, `finetune:last-ckpt` the last
checkpoint before metrics.json, `evaluate:pred` first prediction written).

    python bench/kill_probe.py [--params params/tiny.yaml] [--points all|quick|P,P,...] [--keep DIR] [--no-control]
Prints one line per kill and the counts: kills / clean resumes / results identical to a clean run.
"""
import argparse, hashlib, json, os, shutil, signal, sqlite3, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent/'metamath-nb')
STAGES = ('synthesize', 'finetune', 'evaluate')
EVENTS = ('synthesize:cache', 'finetune:ckpt1', 'finetune:last-ckpt', 'evaluate:pred')
ALL = ('synthesize@0.3', 'synthesize:cache', 'finetune@0.3', 'finetune@0.6', 'finetune:last-ckpt', 'evaluate@0.3', 'evaluate:pred', 'evaluate@0.9')
QUICK = ('synthesize:cache', 'finetune:last-ckpt', 'evaluate:pred')

def reproduce(params, out, wait=True, **kw):
    "Start `metamath-nb reproduce` in a new process group"
    return subprocess.Popen([CLI, 'reproduce', str(params), '--outputs', str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, cwd=ROOT, **kw)

def run_dir(out) -> Path:
    runs = [p for p in Path(out).glob('*/*') if (p/'manifest.json').exists()]
    return runs[0] if runs else None

def _sha(p: Path) -> str: return hashlib.sha256(p.read_bytes()).hexdigest()[:16] if p.exists() else None

def _jsonl(p: Path, drop=()) -> list:
    if not p.exists(): return None
    return [{k: v for k, v in json.loads(l).items() if k not in drop} for l in p.read_text().splitlines() if l.strip()]

def _strip(d, drop=('timing', 'wall_s', 'train_wall_s', 'tokens_per_s', 'peak_mem_mb', 'elapsed_s', 'path', 'data', 'resumed_from')):
    if isinstance(d, dict): return {k: _strip(v, drop) for k, v in d.items() if k not in drop}
    if isinstance(d, list): return [_strip(v, drop) for v in d]
    return d

def fingerprint(run: Path) -> dict:
    "What must be identical between a resumed run and a clean one"
    fp = {'export': _jsonl(run/'synthesize'/'metamathqa.jsonl'), 'candidates': _jsonl(run/'synthesize'/'candidates.jsonl'),
          'ledger': (run/'synthesize'/'ledger.csv').read_text() if (run/'synthesize'/'ledger.csv').exists() else None}
    ad = run/'finetune'/'adapter'
    fp['adapter'] = {f.name: _sha(f) for f in sorted(ad.glob('*.safetensors'))} if ad.exists() else None
    fm = run/'finetune'/'metrics.json'
    fp['finetune'] = _strip({k: v for k, v in json.loads(fm.read_text()).items() if k in ('global_step', 'train_loss', 'tokens_trained', 'status')}) if fm.exists() else None
    # the protocol fingerprint hashes the adapter's absolute path, which differs between output folders: left out
    fp['predictions'] = {f.name: _jsonl(f, drop=('fingerprint',)) for f in sorted((run/'evaluate').glob('predictions_*.jsonl'))}
    em = run/'evaluate'/'metrics.json'
    root = str(run.parents[1])
    fp['metrics'] = _strip(json.loads(em.read_text().replace(root, '<outputs>')), drop=('timing', 'data', 'fingerprint')) if em.exists() else None
    return fp

def diff(a: dict, b: dict) -> list:
    return [k for k in a if a[k] != b.get(k)]

def stage_times(run: Path) -> dict:
    "Seconds each stage took in a clean run (from its stage.json)"
    out = {}
    for s in STAGES:
        st = json.loads((run/s/'stage.json').read_text())
        t = lambda x: time.mktime(time.strptime(x[:19], '%Y-%m-%dT%H:%M:%S'))
        out[s] = max(1.0, t(st['ended']) - t(st['started']))
    return out

def _stage_running(out, stage):
    r = run_dir(out)
    if not r or not (r/stage/'stage.json').exists(): return None
    try: st = json.loads((r/stage/'stage.json').read_text())
    except ValueError: return None
    return r if st.get('status') == 'running' else None

def _event(out, ev) -> bool:
    r = run_dir(out)
    if not r: return False
    if ev == 'synthesize:cache':
        db = Path(out)/'cache'/'teacher.sqlite'
        if not db.exists() or not _stage_running(out, 'synthesize'): return False
        try:
            with sqlite3.connect(f'file:{db}?mode=ro', uri=True, timeout=1) as con: return con.execute('SELECT COUNT(*) FROM samples').fetchone()[0] > 0
        except sqlite3.Error: return False
    if ev == 'finetune:ckpt1': return any((r/'finetune').rglob('checkpoint-1')) if (r/'finetune').exists() else False
    if ev == 'finetune:last-ckpt':
        cks = sorted(int(p.name.split('-')[1]) for p in (r/'finetune').rglob('checkpoint-*') if p.name.split('-')[1].isdigit()) if (r/'finetune').exists() else []
        return bool(cks) and cks[-1] >= _max_steps(r)
    if ev == 'evaluate:pred':
        return any(f.stat().st_size > 0 for f in (r/'evaluate').glob('predictions_*.jsonl')) if (r/'evaluate').exists() else False

def _max_steps(r: Path) -> int:
    import yaml
    return int(yaml.safe_load((r/'params.yaml').read_text())['finetune']['max_steps'])

def prepare(clean: Path, out: Path, stage: str):
    "An outputs folder for a kill in `stage`: empty for synthesize, else the clean run with `stage` and later ones removed"
    if stage == 'synthesize': return
    shutil.copytree(clean, out)
    r = run_dir(out)
    for s in STAGES[STAGES.index(stage):]: shutil.rmtree(r/s, ignore_errors=True)
    for f in r.rglob('*.json'):   # absolute paths of the clean run (e.g. finetune/result.json) point into the copy
        t = f.read_text()
        if str(clean) in t: f.write_text(t.replace(str(clean.resolve()), str(out.resolve())).replace(str(clean), str(out)))

def kill_at(params, out, point, times, timeout=900) -> dict:
    "Start a run, kill it at `point`, report where it was and whether the kernel went away"
    p, t0, fired = reproduce(params, out), time.time(), None
    stage, _, frac = point.partition('@')
    while time.time() - t0 < timeout:
        if p.poll() is not None: break
        if frac:
            r = _stage_running(out, stage)
            if r:
                st = json.loads((r/stage/'stage.json').read_text())
                started = time.mktime(time.strptime(st['started'][:19], '%Y-%m-%dT%H:%M:%S'))
                if time.time() - started >= float(frac) * times[stage]: fired = 'time'
        elif _event(out, point): fired = 'event'
        if fired:
            kernels = _kernels(p.pid)
            os.killpg(p.pid, signal.SIGKILL); p.wait()
            gone = _wait_gone(kernels, 30)
            return {'killed': True, 'at': round(time.time() - t0, 1), 'kernels': len(kernels), 'kernels_gone': gone}
        time.sleep(0.05)
    if p.poll() is None: os.killpg(p.pid, signal.SIGKILL); p.wait()
    return {'killed': False, 'at': round(time.time() - t0, 1), 'rc': p.returncode}

def _kernels(pid) -> list:
    try:
        import psutil
        return [c.pid for c in psutil.Process(pid).children(recursive=True) if 'ipykernel' in ' '.join(c.cmdline())]
    except Exception: return []

def _wait_gone(pids, timeout) -> bool:
    import psutil
    end = time.time() + timeout
    while time.time() < end:
        if not any(psutil.pid_exists(k) and psutil.Process(k).status() != psutil.STATUS_ZOMBIE for k in pids): return True
        time.sleep(0.2)
    return False

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--params', default=str(ROOT/'params'/'tiny.yaml'), help='params file to run (default: params/tiny.yaml)')
    ap.add_argument('--points', default='all', help="'all' (2 times per stage + 4 events), 'quick', or a comma-separated list")
    ap.add_argument('--keep', default=None, help='keep the run folders here (default: a temporary folder, removed)')
    ap.add_argument('--no-control', action='store_true', help='skip the second clean run')
    ap.add_argument('--compare', action='store_true', help='only compare the run folders of an earlier probe kept in --keep with its clean run')
    a = ap.parse_args(argv)
    base = Path(a.keep or tempfile.mkdtemp(prefix='kill-probe-')); base.mkdir(parents=True, exist_ok=True)
    if a.compare:
        clean = fingerprint(run_dir(base/'clean'))
        for d in sorted(p for p in base.iterdir() if p.is_dir() and p.name != 'clean'): print(d.name, 'differs in:', diff(clean, fingerprint(run_dir(d))) or 'nothing')
        return 0
    r0 = run_dir(base/'clean')
    if r0 and json.loads((r0/'manifest.json').read_text()).get('status') == 'done': clean_s = 0.0   # --keep DIR of an earlier probe: reuse its clean run
    else:
        t = time.time(); p = reproduce(a.params, base/'clean'); o, e = p.communicate()
        assert p.returncode == 0, e[-3000:]
        clean_s = time.time() - t
    clean = fingerprint(run_dir(base/'clean')); times = stage_times(run_dir(base/'clean'))
    print(f"clean run {clean_s:.0f}s, stages {({k: round(v) for k, v in times.items()})}", flush=True)
    if not a.no_control:
        p = reproduce(a.params, base/'control'); p.communicate()
        control = diff(clean, fingerprint(run_dir(base/'control')))
        print(f"control (a second clean run) differs in: {control or 'nothing'}", flush=True)
    points = list(ALL) if a.points == 'all' else list(QUICK) if a.points == 'quick' else a.points.split(',')
    rows = []
    for i, pt in enumerate(points):
        out = base/f'kill{i}'
        prepare(base/'clean', out, pt.split('@')[0].split(':')[0])
        k = kill_at(a.params, out, pt, times)
        t = time.time(); p = reproduce(a.params, out); o, e = p.communicate(timeout=1800)
        r = run_dir(out)
        done = p.returncode == 0 and r is not None and all(json.loads((r/s/'stage.json').read_text()).get('status') == 'done' for s in STAGES)
        d = diff(clean, fingerprint(r)) if done else ['(not resumed)']
        rows.append(dict(point=pt, **k, resumed=done, rerun_s=round(time.time() - t), differs=d, traceback='Traceback' in e))
        print(json.dumps(rows[-1]), flush=True)
        if not done: print(e[-2000:], file=sys.stderr)
    kills = [r for r in rows if r['killed']]
    print(f"\nkills {len(kills)} / clean resumes {sum(r['resumed'] for r in kills)} / identical to a clean run "
          f"{sum(r['resumed'] and not r['differs'] for r in kills)} / kernels left running {sum(not r['kernels_gone'] for r in kills)}"
          f" (points not reached: {[r['point'] for r in rows if not r['killed']]})")
    if not a.keep: shutil.rmtree(base, ignore_errors=True)
    return 0

if __name__ == '__main__': sys.exit(main())
