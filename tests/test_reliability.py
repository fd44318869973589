"""Reliability (issue 15 items 2, 5-8; issue 14 item 4): failed stages are not done, one writer per run, every params
and data error before the first stage and without a traceback, a conventional command line.

Written against the public behaviour (the CLI, load_params, the data loaders, RunDir), so that the same file also runs
against older code: see the issue note for which of these failed there."""
import json, os, signal, subprocess, sys, textwrap, time
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI = [str(Path(sys.executable).parent/'metamath-nb')]

def cli(*args, timeout=600, **kw):
    "Run the installed `metamath-nb` command; (exit code, stdout, stderr)"
    r = subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, timeout=timeout, **kw)
    return r.returncode, r.stdout, r.stderr

def write(p, text):
    p = Path(p); p.parent.mkdir(parents=True, exist_ok=True); p.write_text(textwrap.dedent(text)); return p

TINY_EVAL = """\
    study: rel
    seed: 0
    stages: [evaluate]
    data: {seeds: [{name: mini_gsm8k, limit: 1}]}
    evaluate: {model: tiny, benchmarks: [mini_heldout], limit: 2, max_new_tokens: {mini_heldout: 4}, batch_size: 2}
    """

# ---------------------------------------------------------------- item 2: a synthesis whose teacher calls failed is not done

def test_failed_teacher_calls_fail_the_stage_and_a_rerun_retries_them(tmp_path, monkeypatch, capsys):
    from metamath_nb.reproduce import main
    from metamath_nb.testserver import OpenAITestServer
    key = 'sk-reliability-test-0123456789'
    with OpenAITestServer(api_key=key) as srv:
        p = write(tmp_path/'syn.yaml', f"""\
            study: syn
            stages: [synthesize]
            data: {{seeds: [{{name: mini_gsm8k, limit: 1}}]}}
            teacher: {{backend: openai, model: scripted, base_url: '{srv.base_url}', api_key_env: REL_TEST_KEY, max_retries: 0, timeout_s: 10}}
            augment: {{types: [AnsAug, Rephrasing], samples_per_seed: 1, n_shots: 1}}
            curate: {{decontaminate_against: []}}
            """)
        monkeypatch.setenv('REL_TEST_KEY', 'sk-wrong-key-000000000')       # every call: 401
        assert main(['reproduce', str(p), '--outputs', str(tmp_path/'out')]) == 1
        err = capsys.readouterr().err
        run = next((tmp_path/'out'/'syn').iterdir())
        st = json.loads((run/'synthesize'/'stage.json').read_text())
        assert st['status'] == 'failed' and 'TeacherCallsFailed' in st['error'] and 'HTTP 401' in st['error'], st
        assert 'teacher samples failed' in err
        assert srv.stats()['served'] == 0
        monkeypatch.setenv('REL_TEST_KEY', key)                           # the fix: the rerun asks again
        assert main(['reproduce', str(p), '--outputs', str(tmp_path/'out')]) == 0
        assert json.loads((run/'synthesize'/'stage.json').read_text())['status'] == 'done'
        assert srv.stats()['served'] > 0
        assert key not in ''.join(f.read_text(errors='ignore') for f in run.rglob('*') if f.is_file())

# ---------------------------------------------------------------- item 5: one writer per run

MANIFEST_WRITER = """
import sys
from pathlib import Path
from metamath_nb.config import RunConfig
from metamath_nb.rundir import RunDir
run, tag, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
files = Path(sys.argv[4])
r = RunDir(run, RunConfig(study='m'))
for i in range(n): r.record_data(files/f'{tag}{i}.txt')
"""

def test_concurrent_manifest_updates_lose_nothing(tmp_path):
    from metamath_nb.config import RunConfig
    from metamath_nb.rundir import start_run
    n = 300   # per writer: each rewrites the whole manifest under the lock, so the two interleave hundreds of times
    run = start_run(RunConfig(study='m'), root=tmp_path/'out')
    files = tmp_path/'files'; files.mkdir()
    for tag in 'ab':
        for i in range(n): (files/f'{tag}{i}.txt').write_text(f'{tag}{i}')
    procs = [subprocess.Popen([sys.executable, '-c', MANIFEST_WRITER, str(run.path), tag, str(n), str(files)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for tag in 'ab']
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-2000:] for _, e in outs]
    m = json.loads((run.path/'manifest.json').read_text())
    assert len(m['data_files']) == 2 * n
    assert m['status'] == 'running' and m['study'] == 'm'       # the fields the parent wrote are kept
    assert not [p.name for p in run.path.iterdir() if p.name.endswith('.tmp')]

def test_two_reproduce_processes_on_one_params_file(tmp_path):
    p = write(tmp_path/'tiny_eval.yaml', TINY_EVAL)
    out = tmp_path/'out'
    a = subprocess.Popen(CLI + ['reproduce', str(p), '--outputs', str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not list(out.glob('rel/*/evaluate/stage.json')):                  # the first run is in its stage
        assert a.poll() is None and time.time() - t0 < 120, a.communicate()
        time.sleep(0.1)
    # a is held in its stage (stopped) until c waits for it: a stage this short could otherwise end before b or c
    # starts (seen when the tests ran two at a time), and c would find the run free
    os.kill(a.pid, signal.SIGSTOP); waited = []
    try:
        assert a.poll() is None, a.communicate()
        run = next(out.glob('rel/*'))
        c = subprocess.Popen(CLI + ['reproduce', str(p), '--outputs', str(out), '--wait'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        rc, _, err = cli('reproduce', p, '--outputs', out)                      # refuses at once, clearly
        assert rc == 75 and 'another process is writing this run (pid' in err and 'Traceback' not in err, err
        while not any('waiting for' in line for line in waited):            # c blocks on a's lock
            waited.append(c.stderr.readline())
            assert waited[-1], (waited, c.communicate(timeout=600))
    finally: os.kill(a.pid, signal.SIGCONT)
    oa, ea = a.communicate(timeout=600); oc, ec = c.communicate(timeout=600); ec = ''.join(waited) + ec
    assert a.returncode == 0, ea[-3000:]
    assert c.returncode == 0 and 'waiting for' in ec and 'evaluate: skipped' in oc, (oc, ec[-3000:])
    assert 'Traceback' not in ea + ec
    assert json.loads((run/'evaluate'/'stage.json').read_text())['status'] == 'done'
    m = json.loads((run/'manifest.json').read_text())
    assert m['status'] == 'done' and json.loads((run/'evaluate'/'metrics.json').read_text())['benchmarks']['mini_heldout']['n'] == 2
    assert not list(run.rglob('*.tmp'))

# ---------------------------------------------------------------- item 6 + 8: params errors, all before the first stage

BAD_PARAMS = [  # (params text or None for tiny_eval, --set items, expected text in the error)
    (None, ['study.name=x'], "--set study.name: 'study' is a value ('rel'), not a section with fields"),
    (None, ['evaluate.limit=[1'], "--set evaluate.limit=[1: the value is not valid YAML"),
    (None, ['evaluate.limit=x'], "--set evaluate.limit: field 'evaluate.limit'"),
    (None, ['evaluate.limit=0'], "--set evaluate.limit: field 'evaluate.limit': must be at least 1"),
    (None, ['evaluate.limit=-2'], "--set evaluate.limit: field 'evaluate.limit': must be at least 1"),
    (None, ['data.seeds.3.limit=1'], "--set data.seeds.3.limit: 'data.seeds' is a list of 1 items"),
    (None, ['data.seeds.0.limit=0'], "--set data.seeds.0.limit: field 'data.seeds.0.limit'"),
    (None, ['evaluate.benchmarks=[gsm9k]'], "unknown benchmark 'gsm9k' (did you mean 'gsm8k'?)"),
    (None, ['evaluate.model=./no/such/model'], "field 'evaluate.model': ./no/such/model: no such folder"),
    (None, ['evaluate.model=a/b/c'], "field 'evaluate.model': a/b/c: no such folder, and not a hub id"),
    (None, ['evaluate.prompt=Question {question}'], "the template must contain {instruction}"),
    (None, ['data.data_dir=/nonexistent'], "field 'data.data_dir': /nonexistent: no such folder"),
    (TINY_EVAL.replace('stages: [evaluate]', 'stages: [evaluate]\n    seed: 3'), [], "p.yaml:4: field 'seed': duplicate key (first at line 2)"),
    ("study: x\nstages: [synthesize]\nteacher: {backend: openai, model: m, api_key_env: REL_SURELY_UNSET_VAR}\n", [],
     "field 'teacher.api_key_env': the environment variable REL_SURELY_UNSET_VAR is not set"),
    ("study: x\nstages: [finetune]\nfinetune: {base_model: ./nowhere, data: seeds}\n", [], "field 'finetune.base_model': ./nowhere: no such folder"),
    ("study: x\nstages: [synthesize]\nteacher: {model: tiny}\naugment: {prompts: {gsm8k_cot: /no/prompt.yaml}}\n", [], "/no/prompt.yaml: prompt file not found"),
]

@pytest.mark.parametrize('text,sets,want', BAD_PARAMS)
def test_bad_params_stop_before_the_first_stage(tmp_path, capsys, text, sets, want):
    from metamath_nb.reproduce import main
    p = write(tmp_path/'p.yaml', text or TINY_EVAL)
    rc = main(['reproduce', str(p), '--outputs', str(tmp_path/'out')] + [x for s in sets for x in ('--set', s)])
    err = capsys.readouterr().err
    assert rc == 1 and want in err, err
    assert not (tmp_path/'out').exists()                 # nothing written

def test_non_utf8_params_file(tmp_path):
    p = tmp_path/'latin1.yaml'; p.write_bytes(b'study: rel\nlabels: {note: caf\xe9}\n')
    rc, _, err = cli('reproduce', p, '--outputs', tmp_path/'out')
    assert rc == 1 and f'{p}:2: not UTF-8: byte 0xe9' in err and 'Traceback' not in err, err

def test_empty_params_folder_is_an_error(tmp_path):
    (tmp_path/'empty').mkdir()
    rc, _, err = cli('reproduce', tmp_path/'empty')
    assert rc != 0 and 'no params files' in err and 'Traceback' not in err, err

def test_override_into_a_list_item(tmp_path):
    from metamath_nb.config import load_params
    p = write(tmp_path/'p.yaml', TINY_EVAL)
    assert load_params(p, **{'data.seeds.0.limit': 1}).data.seeds[0].limit == 1
    assert load_params(p, **{'finetune.lora_r': 4}).finetune.lora_r == 4     # a section the file leaves out

# ---------------------------------------------------------------- items 7 + 8: bad data files

def test_non_utf8_data_names_file_and_line_and_lenient_skips_it(tmp_path):
    import warnings
    from metamath_nb.data import load_benchmark, DataError
    f = tmp_path/'gsm.jsonl'
    f.write_bytes(b'{"question": "Q1", "answer": "#### 1"}\n{"question": "caf\xe9?", "answer": "#### 2"}\n{"question": "Q3", "answer": "#### 3"}\n')
    with pytest.raises(DataError) as e: load_benchmark('gsm8k', path=f)
    assert f'{f}:2: not UTF-8' in str(e.value)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        ps = load_benchmark('gsm8k', path=f, lenient=True)
    assert [p.answer for p in ps] == ['1', '3'] and len(ps.skipped) == 1 and f'{f}:2:' in ps.skipped[0]

def test_gsm8k_row_without_question_names_question(tmp_path):
    from metamath_nb.data import load_benchmark, DataError
    f = tmp_path/'gsm.jsonl'; f.write_text('{"answer": "#### 2"}\n')
    with pytest.raises(DataError) as e: load_benchmark('gsm8k', path=f)
    assert f"{f}:1: field 'question': missing" in str(e.value)

def test_mini_seed_file_given_a_path_honours_lenient(tmp_path):
    import warnings
    from metamath_nb.data import load_seeds
    from metamath_nb.config import DataConfig
    f = tmp_path/'seeds.jsonl'
    f.write_text('{"question": "Q1", "answer": "x\\n#### 1"}\n{"question": "Q2"}\n')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        seeds = load_seeds(DataConfig(seeds=[{'name': 'mini_gsm8k', 'path': str(f)}], lenient=True))
    assert [s.answer for s in seeds] == ['1']

def test_oversized_question_is_rejected_before_any_tokenizer(tmp_path):
    from metamath_nb.data import load_benchmark, DataError
    f = tmp_path/'big.jsonl'
    f.write_text(json.dumps({'question': 'How many? ' * 125_000, 'answer': '#### 1'}) + '\n')   # 1.25 MB
    t = time.time()
    with pytest.raises(DataError) as e: load_benchmark('gsm8k', path=f)
    assert f"{f}:1: field 'question': 1,250,000 characters, over the limit" in str(e.value) and time.time() - t < 5

def test_missing_data_dir_is_an_error_not_a_fallback(tmp_path):
    from metamath_nb.data import load_benchmark
    with pytest.raises(FileNotFoundError) as e: load_benchmark('gsm8k', data_dir='/nonexistent')
    assert '/nonexistent: no such folder' in str(e.value)

# ---------------------------------------------------------------- issue 14 item 4: the command line

def test_options_before_the_params_file(tmp_path, capsys):
    from metamath_nb.reproduce import main
    p = write(tmp_path/'p.yaml', TINY_EVAL)
    # --stages and --set before the file: parsed (this run stops in preflight, at the --set value, before writing)
    rc = main(['reproduce', '--stages', 'evaluate', '--set', 'evaluate.limit=0', str(p), '--outputs', str(tmp_path/'out')])
    assert rc == 1 and "--set evaluate.limit: field 'evaluate.limit'" in capsys.readouterr().err

def test_unknown_stage_is_refused_with_a_suggestion(tmp_path):
    p = write(tmp_path/'p.yaml', TINY_EVAL)
    rc, out, err = cli('reproduce', '--stages', 'evalute', p, '--outputs', tmp_path/'out')
    assert rc == 2 and "unknown stage 'evalute' (did you mean 'evaluate'?)" in err, err
    assert not (tmp_path/'out').exists()

def test_every_argument_has_help_and_there_is_a_version():
    import argparse
    rc, out, _ = cli('--version')
    assert rc == 0 and out.startswith('metamath-nb ')
    from metamath_nb.reproduce import build_parser
    ap = build_parser()
    subs = [a for a in ap._actions if isinstance(a, argparse._SubParsersAction)][0]
    for name, sp in [('', ap)] + list(subs.choices.items()):
        for act in sp._actions:
            if isinstance(act, argparse._SubParsersAction): continue
            assert act.help, (name, act.dest)

def test_cache_help_and_default_path(tmp_path):
    rc, out, _ = cli('cache', '--help')
    assert rc == 0 and out.startswith('usage: metamath-nb cache') and 'outputs/cache/teacher.sqlite' in out
    from metamath_nb.call_cache import TeacherCache
    TeacherCache(tmp_path/'outputs'/'cache'/'teacher.sqlite').close()
    rc, out, err = cli('cache', 'stats', cwd=tmp_path)
    assert rc == 0 and json.loads(out)['samples'] == 0, err

def test_testserver_module_help():
    r = subprocess.run([sys.executable, '-m', 'metamath_nb.testserver', '--help'], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and 'usage:' in r.stdout and '--latency' in r.stdout

# ---------------------------------------------------------------- kill -9 and resume (bench/kill_probe.py does this across all stages)

def _eval_result(run):
    m = json.loads((run/'evaluate'/'metrics.json').read_text()); m.pop('timing', None)
    preds = (run/'evaluate'/'predictions_mini_heldout.jsonl').read_text()
    return m['benchmarks'], preds

def test_kill_during_evaluate_resumes_to_the_clean_result(tmp_path):
    import signal
    p = write(tmp_path/'tiny_eval.yaml', TINY_EVAL.replace('limit: 2', 'limit: 3').replace('batch_size: 2', 'batch_size: 1'))
    assert cli('reproduce', p, '--outputs', tmp_path/'clean')[0] == 0
    out = tmp_path/'killed'
    a = subprocess.Popen(CLI + ['reproduce', str(p), '--outputs', str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    t0 = time.time()
    while not [f for f in out.glob('rel/*/evaluate/predictions_*.jsonl') if f.stat().st_size]:   # the first prediction is written
        assert a.poll() is None and time.time() - t0 < 300, a.communicate()
        time.sleep(0.02)
    os.killpg(a.pid, signal.SIGKILL); a.wait()
    run = next(out.glob('rel/*'))
    assert json.loads((run/'evaluate'/'stage.json').read_text())['status'] == 'running'   # killed mid-stage
    rc, o, e = cli('reproduce', p, '--outputs', out)
    assert rc == 0 and 'evaluate: done' in o and 'Traceback' not in e, e[-3000:]
    assert _eval_result(run) == _eval_result(next((tmp_path/'clean').glob('rel/*')))

# ---------------------------------------------------------------- issue 20: a full disk leaves nothing half-written

FULL_DISK = """\
import errno, json, os, sys
from pathlib import Path
from metamath_nb.data import Problem
from metamath_nb.config import EvalConfig
from metamath_nb.evaluate import evaluate
from metamath_nb.mmqa_export import export_metamathqa
out = Path(sys.argv[1])
class Engine:   # a scripted model: each predictions row is about 470 bytes, so the third chunk of two passes the 2,000-byte limit
    chunk_size, model_id, name = 2, 'scripted', 'scripted'
    def __call__(self, prompts, budget, stop): return ['x' * 10 + ' The answer is: 1'] * len(prompts)
probs = [Problem(f'p{i}', 'gsm8k', 'test', f'What is {i}?', '', '1') for i in range(8)]
for what, go in (('evaluate', lambda: evaluate(EvalConfig(benchmarks=['gsm8k']), out/'evaluate', model=Engine(), problems={'gsm8k': probs})),
                 ('export', lambda: export_metamathqa([{'query': 'q' * 300, 'response': 'r' * 300, 'type': 'GSM_AnsAug'}] * 8, out/'export'))):
    try: go(); print(what, 'no error')
    except OSError as e: print(what, errno.errorcode.get(e.errno), e.filename)
"""

def test_a_full_disk_leaves_no_half_written_file(tmp_path):
    "A real short write: the child may write files of at most 2,000 bytes (RLIMIT_FSIZE; EFBIG as on a full disk, ENOSPC)"
    import resource
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN); resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))
    r = subprocess.run([sys.executable, '-c', FULL_DISK, str(tmp_path)], capture_output=True, text=True, timeout=300, preexec_fn=limit)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.split('\n')
    assert any(l.startswith('evaluate EFBIG') and l.endswith('predictions_gsm8k.jsonl') for l in lines), r.stdout
    assert any(l.startswith('export EFBIG') for l in lines), r.stdout
    pred = tmp_path/'evaluate'/'predictions_gsm8k.jsonl'
    rows = pred.read_text().splitlines()
    assert len(rows) == 4 and all(json.loads(l)['id'] for l in rows)   # the two chunks that fitted, whole; no part of the third
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob('*') if p.is_file())
    assert not [f for f in left if f.endswith('.tmp') or (tmp_path/f).stat().st_size == 0], left
    assert not (tmp_path/'export'/'metamathqa.jsonl').exists(), left
