"""The vLLM backend on CUDA: skipped where vLLM or a GPU is missing."""
import os
import pytest

vllm = pytest.importorskip('vllm')
torch = pytest.importorskip('torch')
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason='vLLM needs CUDA')

from metamath_nb.config import TeacherConfig
from metamath_nb.models import smollm2_path
from metamath_nb.teacher import GenRequest, VLLMBackend, make_teacher, vllm_generate

def test_vllm_teacher_generates_and_caches(tmp_path):
    cfg = TeacherConfig(backend='vllm', model=str(smollm2_path()), cache_path=str(tmp_path/'c.sqlite'))
    llm = vllm.LLM(model=cfg.model, seed=0, gpu_memory_utilization=0.3)
    t = make_teacher(cfg, backend=VLLMBackend(cfg, llm), progress=False)
    reqs = [GenRequest(messages=[{'role': 'user', 'content': f'What is {i} + {i}?'}], n=2, temperature=0.7, max_tokens=24, seed=i) for i in range(4)]
    res = t.generate(reqs)
    assert all(r.ok and len(r.texts) == 2 and r.prompt_tokens > 0 for r in res)
    assert t.stats.done == 8
    again = t.generate(reqs)
    assert t.stats.requests == 0 and [r.texts for r in again] == [r.texts for r in res]
    greedy = vllm_generate(llm, ['1, 2, 3,'], max_new_tokens=8, stop=['\n'])[0]
    assert greedy.finish_reasons[0] in ('stop', 'length') and '\n' not in greedy.texts[0]
