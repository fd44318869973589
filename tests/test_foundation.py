"Foundation checks that must run everywhere: params errors, secrets, offline models, every params file valid."
import json, os, subprocess, sys
from pathlib import Path
import pytest
from metamath_nb.config import load_params, ParamsError
from metamath_nb.rundir import start_run
from metamath_nb.models import load_model, tiny_llama, smollm2_path

ROOT = Path(__file__).resolve().parents[1]

def test_typo_key_names_file_line_field(tmp_path):
    f = tmp_path/'typo.yaml'; f.write_text("study: t\nteacher:\n  backend: hf\n  modle: smollm2\n")
    with pytest.raises(ParamsError) as e: load_params(f)
    assert f"{f}:4: field 'teacher.modle'" in str(e.value) and "'model'?)" in str(e.value)   # 'mode' is as close: both are named

def test_wrong_type_names_file_line_field(tmp_path):
    f = tmp_path/'type.yaml'; f.write_text("study: t\nfinetune:\n  lora_r: 8\n  epochs: three\n")
    with pytest.raises(ParamsError) as e: load_params(f)
    assert f"{f}:4: field 'finetune.epochs'" in str(e.value)

def test_every_params_file_is_valid():
    files = sorted((ROOT/'params').rglob('*.yaml'))
    assert files, "params/ has no YAML files"
    for f in files: load_params(f)

def test_api_key_never_written(tmp_path, monkeypatch):
    secret = 'sk-test-SECRET-0123456789abcdef'
    monkeypatch.setenv('MY_TEACHER_API_KEY', secret)
    f = tmp_path/'p.yaml'; f.write_text("study: t\nteacher:\n  backend: openai\n  api_key_env: MY_TEACHER_API_KEY\n")
    run = start_run(load_params(f), root=tmp_path/'out')
    run.write_json('metrics.json', {'note': f'key was {secret}'})
    run.finish()
    for p in (tmp_path/'out').rglob('*'):
        if p.is_file(): assert secret not in p.read_text(errors='ignore'), p

def test_tiny_model_generates_offline(tmp_path):
    model, tok = load_model(tiny_llama(tmp_path/'tiny'))
    enc = tok(["Q: 1+1?"], return_tensors='pt')
    out = model.generate(**enc, max_new_tokens=5, do_sample=False)
    assert out.shape[1] == enc['input_ids'].shape[1] + 5 or out.shape[1] > enc['input_ids'].shape[1]

def test_smollm2_loads_offline_and_answers(monkeypatch):
    import metamath_nb.models as M
    assert os.environ.get('HF_HUB_OFFLINE') == '1'
    path = smollm2_path()  # converts once
    weights = (path/'model.safetensors').stat().st_mtime_ns
    # a cached load reads the converted folder and nothing else: it never goes back to the GGUF. How long it takes
    # (about 1 s, against a minute or more for the conversion on a busy 2-core machine) is bench/models.py's figure.
    monkeypatch.setattr(M, 'smollm2_gguf', lambda: pytest.fail('a cached load converted the GGUF again'))
    model, tok = load_model('smollm2')
    assert (path/'model.safetensors').stat().st_mtime_ns == weights
    enc = tok.apply_chat_template([{'role': 'user', 'content': 'What is 12 plus 30?'}], add_generation_prompt=True,
                                  return_tensors='pt', return_dict=True)
    out = model.generate(**enc, max_new_tokens=16, do_sample=False)
    text = tok.decode(out[0, enc['input_ids'].shape[1]:], skip_special_tokens=True)
    assert any(ch.isdigit() for ch in text), text
    assert (tok.eos_token, tok.pad_token) == ('<|im_end|>', '<|im_end|>')
