"""The vLLM engine of metamath_nb.evaluate on a CUDA machine; skipped where vLLM or CUDA is absent."""
import json
import pytest

from metamath_nb.evaluate import vllm_available

pytestmark = pytest.mark.skipif(not vllm_available(), reason="needs vLLM and a CUDA device")


def test_vllm_evaluates_tiny_model(tmp_path):
    from metamath_nb.config import EvalConfig
    from metamath_nb.data import mini_seeds
    from metamath_nb.evaluate import evaluate, read_predictions
    gsm = list(mini_seeds('gsm8k'))[-6:]
    cfg = EvalConfig(engine='vllm', model='tiny', max_new_tokens={'gsm8k': 16})
    res = evaluate(cfg, tmp_path, problems={'gsm8k': gsm})
    rows = read_predictions(tmp_path/'predictions_gsm8k.jsonl')
    assert len(rows) == 6 and res.metrics['benchmarks']['gsm8k']['n'] == 6
    assert all(r['completion_tokens'] <= 16 and r['finish_reason'] in ('stop', 'length') for r in rows)
    assert json.loads((tmp_path/'metrics.json').read_text())['protocol']['engine'] == 'vllm'


def test_vllm_resume_generates_nothing_twice(tmp_path):
    from metamath_nb.config import EvalConfig
    from metamath_nb.data import mini_seeds
    from metamath_nb.evaluate import evaluate
    gsm = list(mini_seeds('gsm8k'))[-4:]
    cfg = EvalConfig(engine='vllm', model='tiny', max_new_tokens={'gsm8k': 8})
    evaluate(cfg, tmp_path, problems={'gsm8k': gsm[:2]})
    res = evaluate(cfg, tmp_path, problems={'gsm8k': gsm})
    assert res.metrics['timing']['gsm8k']['reused'] == 2 and res.metrics['timing']['gsm8k']['generated'] == 2
