"""The fine-tune on several processes, for real, on this CPU machine: `accelerate launch` with 2 processes (gloo).

- DDP: 2 processes x 2 rows per step give the same loss curve and the same weights as 1 process x 2 rows x 2
  accumulation steps (global batch 4, same seed).
- FSDP: accelerate 1.15 sets up FSDP only on GPUs (on CPU it silently falls back to DDP, which `finetune` refuses:
  `test_fsdp_refused_where_accelerate_does_not_run_it`). `tests/cpu_fsdp/sitecustomize.py` lifts that one gate in the
  launched processes, so the packaged FSDP config (FSDP2 full shard, full state dict, the first process's weights sent to the others) trains and
  saves through the same code as on GPUs: the loss curve matches, and the saved model loads alone and equals the
  weights of the 1-process run.
- Placement: under `accelerate launch`, each process asks for its own GPU (`cuda:<LOCAL_RANK>`), for a 4-bit and for
  a full model (CUDA is faked: placement itself needs GPUs).

Multi-process start-up on this machine has aborted once (SIGABRT in gloo set-up, see ../shared/notes): a launch that
dies before its first training step is retried up to twice, and every retry is reported as a warning.
"""
import json, os, shutil, subprocess, sys, warnings
from pathlib import Path

import pytest
import torch

from metamath_nb.config import FinetuneConfig
from metamath_nb.sft_data import load_sft_rows
from metamath_nb.launch import LaunchFailed, run_finetune

ROOT = Path(__file__).resolve().parents[1]
TOL = 1e-5   # max |loss difference| per step between 1 and 2 processes (measured: 0 to ~1e-7 in fp32)
RETRIES = []


def rows():
    """8 rows, all within max_length: two global batches of 4 per epoch (a count that does not divide makes DDP repeat
    a row to even out the processes' batches, so the curves would differ by design)"""
    return load_sft_rows('sft:mini_gsm8k')[:8]


def cfg(**kw):
    base = dict(trainer='full', base_model='tiny', load_in_4bit=False, max_steps=3, batch_size=2, global_batch_size=4,
                learning_rate=1e-3, warmup_ratio=0.0, scheduler='constant', save_steps=3, max_length=256, dtype='float32')
    return FinetuneConfig(**(base | kw))


def launch(c, out, env=None, attempts=3):
    "run_finetune under accelerate launch, retrying a launch that died before training started"
    old = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        for i in range(attempts):
            try: return run_finetune(c, rows(), out, seed=7)
            except LaunchFailed as e:
                started = any((Path(out)/'checkpoints').glob('checkpoint-*')) or "'loss'" in str(e)
                if started or i == attempts - 1: raise
                RETRIES.append(f"{out.name}: attempt {i + 1} failed before training: {str(e).splitlines()[-1][:200]}")
                warnings.warn(f"retrying a multi-process launch: {RETRIES[-1]}")
                shutil.rmtree(out, ignore_errors=True)
    finally:
        for k, v in old.items():
            if v is None: os.environ.pop(k, None)
            else: os.environ[k] = v


def losses(res): return [l for _, l in res.metrics['train_loss']]


def weights(model_dir):
    from safetensors.torch import load_file
    return load_file(str(Path(model_dir)/'model.safetensors'))


@pytest.fixture(scope='module')
def one_process(tmp_path_factory):
    "The reference: 1 process, 2 rows per step, 2 accumulation steps"
    res = run_finetune(cfg(), rows(), tmp_path_factory.mktemp('one')/'ft', seed=7)
    assert (res.metrics['distributed'], res.metrics['batch']['grad_accum'], res.metrics['effective_batch']) == ('NO', 2, 4)
    return res


def test_ddp_matches_one_process_with_accumulation(one_process, tmp_path):
    two = launch(cfg(num_processes=2), tmp_path/'ddp')
    m = two.metrics
    assert (m['distributed'], m['batch']['processes'], m['batch']['grad_accum'], m['effective_batch']) == ('MULTI_CPU', 2, 1, 4)
    print('\nstep  1 process x 2 accumulation   2 processes (DDP)')
    for (s, a), (_, b) in zip(one_process.metrics['train_loss'], m['train_loss']): print(f'{s:4d}  {a:.8f}              {b:.8f}')
    diff = max(abs(a - b) for a, b in zip(losses(one_process), losses(two)))
    print(f'max |loss difference| {diff:.2e} (tolerance {TOL})')
    assert len(losses(two)) == 3 and diff < TOL
    w1, w2 = weights(one_process.model_dir), weights(two.model_dir)
    assert w1.keys() == w2.keys() and max((w1[k] - w2[k]).abs().max().item() for k in w1) < 1e-5
    assert m['tokens_trained'] == one_process.metrics['tokens_trained']


def test_fsdp_trains_and_saves_the_full_model(one_process, tmp_path):
    res = launch(cfg(num_processes=2, accelerate_config='fsdp'), tmp_path/'fsdp',
                 env={'PYTHONPATH': os.pathsep.join([str(ROOT/'tests'/'cpu_fsdp'), os.environ.get('PYTHONPATH', '')]),
                      'METAMATH_TEST_CPU_FSDP': '1'})
    m = res.metrics
    assert (m['distributed'], m['effective_batch']) == ('FSDP', 4)
    print('\nstep  1 process x 2 accumulation   2 processes (FSDP full shard)')
    for (s, a), (_, b) in zip(one_process.metrics['train_loss'], m['train_loss']): print(f'{s:4d}  {a:.8f}              {b:.8f}')
    diff = max(abs(a - b) for a, b in zip(losses(one_process), losses(res)))
    print(f'max |loss difference| {diff:.2e} (tolerance {TOL})')
    assert diff < TOL
    # the saved model is complete: it loads alone, every weight present, and equals the 1-process model
    from transformers import AutoModelForCausalLM
    model, info = AutoModelForCausalLM.from_pretrained(res.model_dir, output_loading_info=True, dtype=torch.float32)
    assert not info['missing_keys'] and not info['unexpected_keys'], info
    ref, got = weights(one_process.model_dir), weights(res.model_dir)
    assert ref.keys() <= got.keys() and all(v.dtype == torch.float32 for v in got.values())
    assert max((ref[k] - got[k]).abs().max().item() for k in ref) < 1e-5
    # the gathered state holds tied weights twice (the tiny model ties lm_head to the embeddings): equal copies
    assert set(got) - set(ref) <= {'lm_head.weight'} and torch.equal(got.get('lm_head.weight', got['model.embed_tokens.weight']), got['model.embed_tokens.weight'])
    # the checkpoint the Trainer wrote (FULL_STATE_DICT) holds the same weights
    ck = weights(res.out_dir/'checkpoints'/'checkpoint-3')
    assert max((ck[k] - got[k]).abs().max().item() for k in got) == 0


def test_fsdp_refused_where_accelerate_does_not_run_it(monkeypatch):
    "On CPU accelerate falls back to DDP under an FSDP launch; finetune says so instead of training something else"
    from types import SimpleNamespace
    from accelerate.utils import DistributedType
    from metamath_nb.finetune import _check_distributed
    monkeypatch.setenv('ACCELERATE_USE_FSDP', 'true'); monkeypatch.setenv('WORLD_SIZE', '2')
    fake = SimpleNamespace(accelerator=SimpleNamespace(distributed_type=DistributedType.MULTI_CPU))
    with pytest.raises(RuntimeError, match='launched for fsdp, but accelerate set up MULTI_CPU'): _check_distributed(fake)
    fake.accelerator.distributed_type = DistributedType.FSDP
    _check_distributed(fake)


PLACEMENT = r'''
import json, os, sys
from unittest.mock import patch
import torch, transformers
from metamath_nb.config import FinetuneConfig
from metamath_nb import finetune as F

class Stop(Exception): pass
seen = {}
class Placed:
    def to(self, device): seen['full_to'] = str(device); raise Stop
def fake_load(*a, **kw):
    if kw.get('quantization_config') is not None: seen['4bit_device_map'] = {k: str(v) for k, v in kw['device_map'].items()}; raise Stop
    return Placed()
with patch('torch.cuda.is_available', return_value=True), patch('torch.cuda.is_bf16_supported', return_value=True), \
     patch.object(transformers.AutoModelForCausalLM, 'from_pretrained', fake_load):
    for trainer, q in (('peft', True), ('full', False)):
        try: F.load_for_training(FinetuneConfig(trainer=trainer, base_model='tiny', load_in_4bit=q, dtype='bfloat16'))
        except Stop: pass
Path = __import__('pathlib').Path
Path(sys.argv[1], f"rank{os.environ['LOCAL_RANK']}.json").write_text(json.dumps({'world': os.environ['WORLD_SIZE'], **seen}))
'''


def test_each_process_asks_for_its_own_gpu(tmp_path):
    script = tmp_path/'placement.py'; script.write_text(PLACEMENT)
    cmd = [sys.executable, '-m', 'accelerate.commands.launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1',
           '--main_process_port', '0', '--mixed_precision', 'no', '--dynamo_backend', 'no', str(script), str(tmp_path)]
    for attempt in range(3):
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if p.returncode == 0: break
        RETRIES.append(f'placement: attempt {attempt + 1} exited {p.returncode}: {p.stderr.strip().splitlines()[-1][:200]}')
        warnings.warn(f'retrying a multi-process launch: {RETRIES[-1]}')
    assert p.returncode == 0, p.stderr[-3000:]
    got = {r: json.loads((tmp_path/f'rank{r}.json').read_text()) for r in (0, 1)}
    for r in (0, 1):
        assert got[r] == {'world': '2', '4bit_device_map': {'': f'cuda:{r}'}, 'full_to': f'cuda:{r}'}, got


def test_sharded_full_model_loads_on_cpu(monkeypatch):
    "Under FSDP / DeepSpeed a full model is loaded on the CPU and the launcher places its shards; 4-bit keeps its GPU"
    import transformers
    from metamath_nb import finetune as F
    monkeypatch.setenv('ACCELERATE_USE_FSDP', 'true'); monkeypatch.setenv('LOCAL_RANK', '1')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True); monkeypatch.setattr(torch.cuda, 'is_bf16_supported', lambda: True)
    seen = {}
    class Stop(Exception): pass
    class Placed:
        def to(self, device): seen['to'] = str(device); raise Stop
    monkeypatch.setattr(transformers.AutoModelForCausalLM, 'from_pretrained', lambda *a, **kw: Placed())
    with pytest.raises(Stop): F.load_for_training(FinetuneConfig(trainer='full', base_model='tiny', load_in_4bit=False, dtype='bfloat16'))
    assert seen == {'to': 'cpu'}


def test_report_retries():
    "Not a check: prints the retries of this module's launches (also raised as warnings)"
    print(f"\nmulti-process launches retried: {len(RETRIES)}", *RETRIES, sep='\n')
