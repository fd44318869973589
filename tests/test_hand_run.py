"""A study notebook run by hand (papermill without `metamath-nb reproduce`, as the README shows, or JupyterLab) records
its stage as reproduce does, says that its default params give 0 rows, and the report then shows the stage done.

Before this change such a run left no `stage.json`: the report listed it as `running | pending | pending | pending`.
"""
import json, os
from pathlib import Path

import papermill as pm

from metamath_nb.config import load_params
from metamath_nb.rundir import start_run
from metamath_nb.console import ipc_kernel_config
from metamath_nb.run_records import collect_runs
from metamath_nb.stages import read_stage, stage_hash

root = Path(__file__).resolve().parents[1]


def test_synthesize_run_by_hand_records_its_stage(tmp_path, monkeypatch):
    monkeypatch.delenv('METAMATH_STAGE', raising=False)
    params = root/'params'/'tiny.yaml'
    cfg = load_params(params)
    run = start_run(cfg, root=tmp_path/'outputs')
    out = tmp_path/'50_synthesize.ipynb'
    pm.execute_notebook(str(root/'nbs'/'50_synthesize.ipynb'), str(out), cwd=str(root/'nbs'), progress_bar=False,
                        parameters={'params_file': str(params), 'run_dir': str(run.path)}, config=ipc_kernel_config(tmp_path))
    st = read_stage(run.path, 'synthesize')
    assert (st['status'], st['runner'], st['params_hash']) == ('done', 'by hand', stage_hash(cfg, 'synthesize'))
    assert st['started'] and st['ended'] and st['error'] is None
    shown = json.dumps(json.loads(out.read_text())['cells'])
    assert '0 rows, as expected with these params' in shown   # the tiny random teacher: said, not left to guess
    r = collect_runs(tmp_path/'outputs').iloc[0]
    assert (r.synthesize, r.finetune, r.evaluate, r.status) == ('done', 'pending', 'pending', 'running')
