"""teacher.mode batch end to end (metamath_nb.batch_mode), against the local test server's Files and Batches endpoints:

- a synthesis stage in batch mode, through injected faults (a 500 on upload, a batch that expires, items that error,
  a slow status), exports the same MetaMathQA rows as the same stage online. The teacher is the scripted one
  (`metamath_nb.scripted_teacher`): the tiny random Llama verifies no answer, so its kept rows would be equal because
  empty, and the test could not fail;
- a batch job killed with SIGKILL while it waits, then run again, waits for the same batch: one upload, one batch,
  and the same answers as online.
"""
import json, os, signal, subprocess, sys, time
from pathlib import Path

from metamath_nb.config import AugmentConfig, RunConfig, TeacherConfig
from metamath_nb.data import mini_seeds
from metamath_nb.gen_types import GenRequest
from metamath_nb.rundir import start_run
from metamath_nb.scripted_teacher import scripted_solver
from metamath_nb.synthesis_stage import synthesis_stage
from metamath_nb.teacher import make_teacher
from metamath_nb.testserver import OpenAITestServer

ROOT = Path(__file__).resolve().parents[1]


SEEDS = list(mini_seeds('gsm8k'))[:2] + list(mini_seeds('math'))[:1]


def _stage(srv, d, name, **teacher):
    cfg = RunConfig(study=name, augment=AugmentConfig(samples_per_seed=2))
    t = make_teacher(TeacherConfig(backend='openai', model='scripted', base_url=srv.base_url, cache_path=str(d/f'{name}.sqlite'),
                                   timeout_s=0.5, **teacher), progress=False)
    run = start_run(cfg, root=d/name)
    st = synthesis_stage(cfg, run, teacher=t, seeds=SEEDS, test_sets=[])
    rows = [json.loads(l) for l in (Path(run.path)/'synthesize'/'metamathqa.jsonl').read_text().splitlines()]
    return rows, st, t


def test_synthesis_in_batch_mode_keeps_the_rows_of_online(tmp_path):
    with OpenAITestServer(responder=scripted_solver(SEEDS), batch_latency=0.001, slow_status_s=1.0) as srv:
        online, _, _ = _stage(srv, tmp_path, 'online')
        srv.batch_faults.update(upload_500=1, expire=1, item_error=3, slow_status=1)
        batch, st, t = _stage(srv, tmp_path, 'batch', mode='batch', batch={'max_requests': 8, 'poll_s': 0.02})
        s = srv.stats()
    assert len(online) >= 8 and batch == online
    assert {k: s[k] for k in ('upload_500', 'expire', 'item_error', 'slow_status')} == {'upload_500': 1, 'expire': 1, 'item_error': 3, 'slow_status': 1}
    recs = [json.loads(Path(p).read_text()) for _, _, p, _ in t.cache.batch_records()]
    assert {r['state'] for r in recs} == {'collected'} and any(r['attempt'] > 0 for r in recs)   # retries went out, and came back
    assert t.cache.stats()['failures'] == 0


JOB = """
import json, sys
from metamath_nb.config import TeacherConfig
from metamath_nb.gen_types import GenRequest
from metamath_nb.teacher import make_teacher
url, cache, mode = sys.argv[1], sys.argv[2], sys.argv[3]
cfg = TeacherConfig(backend='openai', model='kill-model', base_url=url, cache_path=cache, mode=mode, batch={'poll_s': 0.05})
t = make_teacher(cfg, progress=False)
res = t.generate([GenRequest(messages=[{'role': 'user', 'content': f'item {i}'}], seed=i, temperature=0.7, max_tokens=16) for i in range(40)])
print(json.dumps({'texts': [r.texts[0] for r in res], 'done': t.stats.done, 'failed': t.stats.failed}), flush=True)
"""


def test_killed_while_waiting_resumes_the_same_batch(tmp_path):
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'HF_HUB_OFFLINE': '1'}
    run = lambda srv, cache, mode: subprocess.run([sys.executable, '-c', JOB, srv.base_url, str(cache), mode], env=env,
                                                  capture_output=True, text=True, timeout=120)
    with OpenAITestServer(batch_latency=0.05) as srv:   # 40 items: 2 s in progress
        ref = run(srv, tmp_path/'online.sqlite', 'online')
        assert ref.returncode == 0, ref.stderr[-3000:]
        p = subprocess.Popen([sys.executable, '-c', JOB, srv.base_url, str(tmp_path/'batch.sqlite'), 'batch'], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t0 = time.time()
        def submitted():
            recs = [json.loads(f.read_text()) for f in (tmp_path/'batches').glob('*.json')] if (tmp_path/'batches').exists() else []
            return any(r.get('batch_id') and r['state'] == 'submitted' for r in recs)
        while not submitted() and p.poll() is None and time.time() - t0 < 60: time.sleep(0.01)
        assert p.poll() is None, f"the job ended before the kill: {p.communicate()}"
        b = next(iter(srv.batches.values()))
        assert b['status'] in ('validating', 'in_progress') and b['request_counts']['completed'] < 40   # killed while waiting
        os.kill(p.pid, signal.SIGKILL); p.wait()
        again = run(srv, tmp_path/'batch.sqlite', 'batch')
        assert again.returncode == 0, again.stderr[-3000:]
        s = srv.stats()
        rerun = run(srv, tmp_path/'batch.sqlite', 'batch')
    out, ref = json.loads(again.stdout.strip().splitlines()[-1]), json.loads(ref.stdout.strip().splitlines()[-1])
    assert (s['uploads'], s['batches']) == (1, 1)                  # the rerun waited for the batch the killed job made
    assert (out['done'], out['failed']) == (40, 0) and out['texts'] == ref['texts']
    assert json.loads(rerun.stdout.strip().splitlines()[-1])['texts'] == ref['texts'] and srv.stats()['batches'] == 1
