"""A teacher job killed with SIGKILL at random points and restarted finishes with every call done exactly once.

"Exactly once" here means: every call is completed and cached exactly once, and no call whose result was already
committed to the cache is ever requested again. A request that was *in flight* when the process died (sent, answer not
yet committed) is legitimately sent again after the restart; the test proves that every re-sent call was in flight at
one of the kills, and reports how many there were.
"""
import json, os, random, signal, sqlite3, subprocess, sys, time
from collections import Counter
from pathlib import Path

import pytest

from metamath_nb.call_cache import TeacherCache, call_key, request_json
from metamath_nb.gen_types import GenRequest
from metamath_nb.testserver import OpenAITestServer, echo_responder

ROOT = Path(__file__).resolve().parents[1]
N, IN_FLIGHT, KILLS, MODEL = 400, 8, 4, 'crash-model'

JOB = """
import json, sys
from metamath_nb.config import TeacherConfig
from metamath_nb.gen_types import GenRequest
from metamath_nb.teacher import make_teacher
url, cache, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
cfg = TeacherConfig(backend='openai', model='crash-model', base_url=url, cache_path=cache, max_in_flight=%d, timeout_s=10)
t = make_teacher(cfg, progress=False)
res = t.generate([GenRequest(prompt=f'item {i}', seed=i, temperature=0.7, max_tokens=32) for i in range(n)])
print(json.dumps({'ok': sum(r.ok for r in res), **t.stats.__dict__}), flush=True)
""" % IN_FLIGHT

def key_of(body):
    "The cache key of the call this request body belongs to (the job samples, so every body carries a seed; sample 0's is the request's)"
    req = GenRequest(prompt=body['prompt'], seed=body['seed'], max_tokens=body['max_tokens'],
                     temperature=body['temperature'], top_p=body['top_p'], stop=body.get('stop'))
    return call_key(request_json('openai', MODEL, req), 0)

def cached_keys(path):
    con = sqlite3.connect(path, timeout=30)
    try: return {r[0] for r in con.execute('SELECT key FROM samples')}
    except sqlite3.OperationalError: return set()
    finally: con.close()

def settle(received, quiet=0.3, limit=10):
    "Wait until the server has seen no new request for `quiet` seconds"
    n, t = len(received), time.time()
    while time.time() - t < limit:
        time.sleep(quiet)
        if len(received) == n: return
        n = len(received)

def test_sigkill_and_resume(tmp_path):
    cache = str(tmp_path/'teacher.sqlite')
    received, violations = [], []
    def on_request(body):
        k = key_of(body); received.append(k)
        if Path(cache).exists() and k in cached_keys(cache): violations.append(k) # a finished call asked again
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'HF_HUB_OFFLINE': '1'}
    cmd = [sys.executable, '-c', JOB, None, cache, str(N)]
    rng, in_flight_at_kill, kills = random.Random(1234), set(), 0
    with OpenAITestServer(latency=0.02, on_request=on_request) as srv:
        cmd[3] = srv.base_url
        for _ in range(KILLS):
            before, target = srv.stats()['served'], rng.randint(5, N // (KILLS + 1))
            p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            t0 = time.time()
            while srv.stats()['served'] - before < target and p.poll() is None and time.time() - t0 < 60: time.sleep(0.002)
            assert p.poll() is None, f"job ended before the kill: {p.communicate()}"
            os.kill(p.pid, signal.SIGKILL); p.wait(); kills += 1
            settle(received)  # requests the dead process had already written may still be read by the server
            in_flight_at_kill |= set(received) - cached_keys(cache)  # sent, but not committed when the process died
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-3000:]
        final = json.loads(r.stdout.strip().splitlines()[-1])
        served_before_rerun = srv.stats()['served']
        r2 = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        rerun = json.loads(r2.stdout.strip().splitlines()[-1])
        served_after_rerun = srv.stats()['served']

    c = TeacherCache(cache)
    assert c.integrity_check() == 'ok'
    rows = c.con.execute('SELECT s.key, s.text, r.request FROM samples s JOIN requests r USING (rkey)').fetchall()
    assert len(rows) == N == len({k for k, _, _ in rows})             # every call cached, once
    for k, text, rj in rows:                                          # and with its own answer
        req = json.loads(rj)
        assert text == echo_responder({'prompt': req['prompt'], 'seed': req['seed']}, 0)
    assert final['ok'] == N and final['cached'] + final['done'] == N
    assert violations == []                                           # no committed call was ever requested again
    counts = Counter(received)
    resent = {k for k, v in counts.items() if v > 1}
    assert resent <= in_flight_at_kill                                # only calls in flight at a kill were re-sent
    assert len(resent) <= kills * 2 * IN_FLIGHT  # per kill: requests in flight + answers waiting for the group commit
    assert (rerun['requests'], served_after_rerun - served_before_rerun, rerun['cached']) == (0, 0, N)
    print(f"\n{kills} kills; {N} calls cached once each; {len(resent)} in-flight calls re-sent after a kill; "
          f"{len(received)} requests in all; integrity ok")
