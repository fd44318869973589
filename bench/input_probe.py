"""Bad-input probe: bad params, bad command lines and bad data files through `metamath-nb reproduce`, classified.

Each case is a params file (and maybe data files, `--set` items or options) that must not run. Outcome classes:
clear (exit != 0, no traceback, and the message names where: file:line, `--set KEY` or the option), unclear (exit
!= 0 without a traceback but without the expected words), traceback, silent (exit 0), slow (ran a stage before
failing: a run folder with a stage in it). Lenient data cases must run past the bad rows and count them (checked
through the loaders, in process).

    python bench/input_probe.py          # prints one line per case, then the counts
"""
import json, os, subprocess, sys, tempfile, textwrap, warnings
from pathlib import Path

CLI = str(Path(sys.executable).parent/'metamath-nb')
BASE = "study: probe\nstages: [evaluate]\ndata: {seeds: [{name: mini_gsm8k, limit: 1}]}\nevaluate: {model: tiny, benchmarks: [mini_heldout], limit: 1}\n"
GOOD_ROW = '{"question": "Q?", "answer": "x\\n#### 1"}\n'

def cases(d: Path):
    "(name, params text, extra args, files {name: bytes}, expected words)"
    S = lambda name, text, want, args=(), files=None: (name, text, list(args), files or {}, want)
    seeds = lambda f, extra='': BASE.replace('{name: mini_gsm8k, limit: 1}', f'{{name: mini_gsm8k, path: {d/f}}}') + extra
    return [
        S('typo key', BASE + "teacher: {modle: tiny}\n", ":5: field 'teacher.modle'"),
        S('wrong type', BASE + "finetune: {epochs: three}\n", ":5: field 'finetune.epochs'"),
        S('bad YAML', "study: probe\nseed: [1\n", ':3: not valid YAML'),
        S('empty file', "", ':1: expected a mapping'),
        S('top-level list', "- study\n", ':1: expected a mapping'),
        S('non-UTF-8 params', None, ':2: not UTF-8', files={'p.yaml': b'study: probe\nlabels: {a: caf\xe9}\n'}),
        S('duplicate key', BASE + "seed: 1\nseed: 2\n", ":6: field 'seed': duplicate key (first at line 5)"),
        S('unknown section', BASE + "evalaute: {limit: 1}\n", "field 'evalaute'"),
        S('unknown stage in file', BASE.replace('[evaluate]', '[evalute]'), ":2: field 'stages.0'"),
        S('--set into a value', BASE, "--set study.name", ['--set', 'study.name=x']),
        S('--set list index out of range', BASE, "--set data.seeds.4.limit", ['--set', 'data.seeds.4.limit=1']),
        S('--set bad YAML value', BASE, "--set evaluate.limit=[1", ['--set', 'evaluate.limit=[1']),
        S('--set wrong type', BASE, "--set evaluate.limit: field 'evaluate.limit'", ['--set', 'evaluate.limit=x']),
        S('--set without =', BASE, "--set evaluate.limit", ['--set', 'evaluate.limit']),
        S('--set unknown section', BASE, "--set evalute.limit: field 'evalute'", ['--set', 'evalute.limit=1']),
        S('--stages typo', BASE, "unknown stage 'evalute'", ['--stages', 'evalute']),
        S('--stages not in params', BASE, "--stages finetune: not among the stages", ['--stages', 'finetune']),
        S('limit 0', BASE.replace('limit: 1}\n', 'limit: 0}\n'), ":4: field 'evaluate.limit'"),
        S('limit negative', BASE.replace('limit: 1}\n', 'limit: -5}\n'), ":4: field 'evaluate.limit'"),
        S('seed limit 0', BASE.replace('limit: 1}]', 'limit: 0}]'), ":3: field 'data.seeds.0.limit'"),
        S('benchmark typo', BASE.replace('[mini_heldout]', '[gsm9k]'), ":4: field 'evaluate.benchmarks.0': unknown benchmark 'gsm9k'"),
        S('model path missing', BASE.replace('model: tiny', 'model: ./no/such/model'), ":4: field 'evaluate.model'"),
        S('model id malformed', BASE.replace('model: tiny', 'model: a/b/c'), ":4: field 'evaluate.model'"),
        S('hub model offline', BASE.replace('model: tiny', 'model: someone/uncached-model'), ":4: field 'evaluate.model'"),
        S('adapter missing', BASE.replace('limit: 1}\n', 'limit: 1, adapter: /no/adapter}\n'), ":4: field 'evaluate.adapter'"),
        S('eval prompt without {instruction}', BASE.replace('limit: 1}\n', "limit: 1, prompt: 'Q: {question}'}\n"), ":4: field 'evaluate.prompt'"),
        S('max_new_tokens 0', BASE.replace('limit: 1}\n', 'limit: 1, max_new_tokens: {mini_heldout: 0}}\n'), ":4: field 'evaluate.max_new_tokens"),
        S('vLLM environment missing', BASE.replace('limit: 1}\n', 'limit: 1, engine: vllm, vllm: {python: /no/python}}\n'), ":4: field 'evaluate.vllm'"),
        S('grading empty', BASE.replace('limit: 1}\n', 'limit: 1, grading: []}\n'), ":4: field 'evaluate.grading'"),
        S('data_dir missing', BASE.replace('limit: 1}]}', 'limit: 1}], data_dir: /nonexistent}'), ":3: field 'data.data_dir'"),
        S('seed file missing', seeds('missing.jsonl'), ":3: field 'data.seeds.0.path'"),
        S('seeds from a test split', BASE.replace('{name: mini_gsm8k, limit: 1}', '{name: gsm8k, split: test, limit: 1}'), ":3: field 'data.seeds.0.split'"),
        S('seeds from math500', BASE.replace('{name: mini_gsm8k, limit: 1}', '{name: math500}'), ":3: field 'data.seeds.0.name'"),
        S('teacher key variable unset', BASE.replace('[evaluate]', '[synthesize]') + "teacher: {backend: openai, model: m, api_key_env: PROBE_UNSET_KEY}\n", ":5: field 'teacher.api_key_env'"),
        S('budget without price', BASE.replace('[evaluate]', '[synthesize]') + "teacher: {backend: openai, model: m, budget_usd: 1}\n", ":5: field 'teacher.budget_usd'"),
        S('teacher model missing', BASE.replace('[evaluate]', '[synthesize]') + "teacher: {model: ./nowhere}\n", ":5: field 'teacher.model'"),
        S('prompt override unknown id', BASE.replace('[evaluate]', '[synthesize]') + "teacher: {model: tiny}\naugment: {prompts: {gsm8k_cott: x.yaml}}\n", ":6: field 'augment.prompts.gsm8k_cott'"),
        S('prompt override file missing', BASE.replace('[evaluate]', '[synthesize]') + "teacher: {model: tiny}\naugment: {prompts: {gsm8k_cot: /no/p.yaml}}\n", ":6: field 'augment.prompts.gsm8k_cot'"),
        S('target type typo', BASE.replace('[evaluate]', '[synthesize]') + "teacher: {model: tiny}\naugment: {targets: {GSM_AnsAugg: 5}}\n", ":6: field 'augment.targets.GSM_AnsAugg'"),
        S('decontamination set typo', BASE.replace('[evaluate]', '[synthesize]') + "teacher: {model: tiny}\ncurate: {decontaminate_against: [gsm9k]}\n", ":6: field 'curate.decontaminate_against.0'"),
        S('finetune base model missing', BASE.replace('[evaluate]', '[finetune]') + "finetune: {base_model: ./nowhere, data: seeds}\n", ":5: field 'finetune.base_model'"),
        S('finetune data file missing', BASE.replace('[evaluate]', '[finetune]') + "finetune: {base_model: tiny, data: /no/rows.jsonl}\n", ":5: field 'finetune.data'"),
        S('finetune synthesis without the stage', BASE.replace('[evaluate]', '[finetune]') + "finetune: {base_model: tiny}\n", "field 'finetune.data'"),
        S('finetune type typo', BASE.replace('[evaluate]', '[finetune]') + "finetune: {base_model: tiny, data: seeds, types: [GSM_Ansaug]}\n", ":5: field 'finetune.types'"),
        S('params file missing', None, 'params file not found', files={'p.yaml': None}),
        # data files (read before the first stage)
        S('seed file not UTF-8', seeds('s.jsonl'), "s.jsonl:2: not UTF-8", files={'s.jsonl': (GOOD_ROW + '{"question": "caf\xe9", "answer": "#### 2"}\n').encode('latin-1')}),
        S('seed row without question', seeds('s.jsonl'), "s.jsonl:2: field 'question': missing", files={'s.jsonl': (GOOD_ROW + '{"answer": "#### 2"}\n').encode()}),
        S('seed row not JSON', seeds('s.jsonl'), "s.jsonl:2: not valid JSON", files={'s.jsonl': (GOOD_ROW + '{"question": \n').encode()}),
        S('seed answer without ####', seeds('s.jsonl'), "s.jsonl:1: field 'answer': no final answer", files={'s.jsonl': b'{"question": "Q", "answer": "42"}\n'}),
        S('seed question of 1.25 MB', seeds('s.jsonl'), "s.jsonl:1: field 'question': 1,250,000 characters",
          files={'s.jsonl': json.dumps({'question': 'How many? ' * 125000, 'answer': '#### 1'}).encode() + b'\n'}),
        S('MATH seed without solution', BASE.replace('{name: mini_gsm8k, limit: 1}', f"{{name: mini_math, path: {d/'m.jsonl'}}}"), "m.jsonl:1: field 'solution': missing", files={'m.jsonl': b'{"problem": "P"}\n'}),
        S('benchmark file malformed', BASE.replace('[mini_heldout]', '[gsm8k]').replace('limit: 1}]}', f"limit: 1}}], data_dir: {d/'data'}}}"),
          "gsm8k/test.jsonl:2: field 'answer'", files={'data/gsm8k/test.jsonl': (GOOD_ROW + '{"question": "Q2", "answer": "#### two"}\n').encode()}),
    ]

def run_case(d: Path, name, text, args, files, want) -> dict:
    p = d/'p.yaml'
    if text is not None: p.write_text(text)
    for f, b in files.items():
        if b is None: (d/f).unlink(missing_ok=True); continue
        (d/f).parent.mkdir(parents=True, exist_ok=True); (d/f).write_bytes(b)
    out = d/'out'
    r = subprocess.run([CLI, 'reproduce', str(p), '--outputs', str(out)] + args, capture_output=True, text=True, timeout=600,
                       env={**os.environ, 'HF_HUB_OFFLINE': '1', 'HF_DATASETS_OFFLINE': '1', 'TRANSFORMERS_OFFLINE': '1'})
    msg = r.stderr + r.stdout
    ran_stage = any(out.glob('*/*/*/stage.json'))
    kind = ('silent' if r.returncode == 0 else 'traceback' if 'Traceback' in msg else
            'clear' if want in msg else 'unclear')
    if ran_stage and kind != 'silent': kind += ' (after a stage ran)'
    return {'case': name, 'outcome': kind, 'rc': r.returncode, 'message': (r.stderr.strip().splitlines() or [''])[-1][:200]}

def lenient_cases(d: Path) -> list:
    "Lenient loading: bad rows skipped and counted, good rows kept"
    from metamath_nb.data import load_benchmark, mini_seeds
    out = []
    f = d/'len.jsonl'
    for name, body in [('lenient: not UTF-8', (GOOD_ROW + '{"question": "caf\xe9", "answer": "#### 2"}\n').encode('latin-1')),
                       ('lenient: missing field', (GOOD_ROW + '{"answer": "#### 2"}\n').encode()),
                       ('lenient: oversized question', GOOD_ROW.encode() + json.dumps({'question': 'x' * 1_250_000, 'answer': '#### 1'}).encode() + b'\n')]:
        f.write_bytes(body)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            for loader, lname in [(lambda: load_benchmark('gsm8k', path=f, lenient=True), 'benchmark'), (lambda: mini_seeds('gsm8k', f, lenient=True), 'mini seeds')]:
                try:
                    ps = loader()
                    ok = len(ps) == 1 and len(ps.skipped) == 1 and str(f) in ps.skipped[0]
                    out.append({'case': f'{name} ({lname})', 'outcome': 'clear' if ok else 'unclear', 'message': ps.skipped[0][:200] if ps.skipped else ''})
                except Exception as e:
                    out.append({'case': f'{name} ({lname})', 'outcome': 'traceback', 'message': f'{type(e).__name__}: {e}'[:200]})
    return out

def main():
    d = Path(tempfile.mkdtemp(prefix='input-probe-'))
    rows = []
    for c in cases(d):
        rows.append(run_case(d, *c)); print(json.dumps(rows[-1]), flush=True)
        for f in list(d.iterdir()):
            if f.is_dir(): __import__('shutil').rmtree(f)
            else: f.unlink()
    rows += lenient_cases(d)
    for r in rows[-6:]: print(json.dumps(r))
    kinds = [r['outcome'] for r in rows]
    print(f"\ninputs tried {len(rows)} / clear errors {kinds.count('clear')} / unclear {sum(k.startswith('unclear') for k in kinds)} / "
          f"tracebacks {sum(k.startswith('traceback') for k in kinds)} / silent {kinds.count('silent')} / "
          f"after a stage ran {sum('after a stage' in k for k in kinds)}")

if __name__ == '__main__': main()
