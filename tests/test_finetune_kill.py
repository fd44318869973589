"""A fine-tune killed (SIGKILL) after its last checkpoint but before `finetune/metrics.json` resumes without
training past `max_steps`, and ends with the adapter and the token count of an uninterrupted run.

The shape is the one that over-trained before: 5 rows in batches of 2 (three batches per epoch), `max_steps` 2, a
checkpoint every 2 steps, a constant learning rate. transformers 5.17 resumes such a checkpoint mid-epoch and took a
third step (`global_step` 3); `tokens_trained` then counted only the tokens after the resume.

The uninterrupted run that the rerun is compared with trains in the test's process while the child trains and is
killed, so the child's start-up (importing torch, transformers, trl, peft) is not waited for on its own.
"""
import json, subprocess, sys
from pathlib import Path

import torch
from safetensors.torch import load_file

JOB = r'''
import os, signal, sys
from transformers import TrainerCallback
from metamath_nb.config import FinetuneConfig
from metamath_nb.finetune import finetune
from metamath_nb.sft_data import load_sft_rows

class KillAfterLastCheckpoint(TrainerCallback):
    "SIGKILL this process once the checkpoint at max_steps is on disk (on_save runs after it is written)"
    def on_save(self, args, state, control, **kw):
        if state.global_step >= state.max_steps: os.kill(os.getpid(), signal.SIGKILL)

cfg = FinetuneConfig(trainer='peft', base_model='tiny', load_in_4bit=False, max_steps=2, batch_size=2, save_steps=2,
                     learning_rate=1e-2, warmup_ratio=0.0, scheduler='constant', lora_dropout=0.0, max_length=256, dtype='float32')
kill = sys.argv[2] == 'kill'
finetune(cfg, load_sft_rows('sft:mini_gsm8k')[:5], sys.argv[1], seed=3, callbacks=[KillAfterLastCheckpoint()] if kill else [])
'''


def start(out, log):
    "The job in a child process that kills itself after its last checkpoint (started, not awaited; its output in `log`)"
    with open(log, 'w') as f: return subprocess.Popen([sys.executable, '-c', JOB, str(out), 'kill'], stdout=f, stderr=subprocess.STDOUT)


def test_kill_between_last_checkpoint_and_metrics(tmp_path):
    child = start(tmp_path/'killed', tmp_path/'child.log')
    ns = {}; exec(JOB.split('kill = ')[0], ns)  # the uninterrupted run and the rerun, here in the test's process
    run = lambda out: ns['finetune'](ns['cfg'], ns['load_sft_rows']('sft:mini_gsm8k')[:5], out, seed=3)
    try:
        run(tmp_path/'straight')                # while the child trains and is killed
        code = child.wait(timeout=900)
    finally:
        if child.poll() is None: child.kill()
    assert code == -9, (tmp_path/'child.log').read_text()[-2000:]
    assert (tmp_path/'killed'/'checkpoints'/'checkpoint-2'/'trainer_state.json').exists()
    assert not (tmp_path/'killed'/'metrics.json').exists()
    run(tmp_path/'killed')
    resumed, straight = (json.loads((tmp_path/k/'metrics.json').read_text()) for k in ('killed', 'straight'))
    print({k: (resumed.get(k), straight.get(k)) for k in ('global_step', 'resumed_from', 'tokens_trained', 'tokens_this_session', 'train_loss')})
    assert resumed['data']['examples'] == 5  # three batches per epoch: the checkpoint at max_steps is mid-epoch
    assert (resumed['global_step'], resumed.get('max_steps'), resumed['resumed_from']) == (2, 2, 'checkpoint-2')
    assert [s for s, _ in resumed['train_loss']] == [1, 2] and resumed['train_loss'] == straight['train_loss']
    assert resumed['tokens_trained'] == straight['tokens_trained'] > 0 and resumed['tokens_this_session'] == 0
    assert not (tmp_path/'killed'/'checkpoints'/'checkpoint-3').exists()
    a, b = (load_file(str(tmp_path/k/'adapter'/'adapter_model.safetensors')) for k in ('killed', 'straight'))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
