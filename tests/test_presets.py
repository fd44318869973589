"""The presets of issue 21 (params/table4, table8, table9, table10, fig2, fig4, fig5) are what scripts/make_presets.py writes,
and every planned point of the report's sweeps (metamath_nb.report_scaling.SWEEPS) has its params file."""
import runpy
from pathlib import Path

from metamath_nb.config import load_params
from metamath_nb.report_scaling import SWEEPS

ROOT = Path(__file__).resolve().parents[1]

def test_presets_are_what_the_script_writes(tmp_path):
    script = runpy.run_path(str(ROOT/'scripts'/'make_presets.py'))
    written = script['main'](tmp_path)
    assert len(written) > 50
    for p in written:
        mine = ROOT/'params'/p.relative_to(tmp_path)
        assert mine.exists() and mine.read_text() == p.read_text(), f"{mine}: differs from scripts/make_presets.py's output: rerun the script"
    for d in script['FOLDERS']:
        extra = {p.name for p in (ROOT/'params'/d).glob('*.yaml')} - {p.name for p in (tmp_path/d).glob('*.yaml')}
        assert not extra, f"params/{d}: {extra} are not written by the script"

def test_every_sweep_point_has_a_preset():
    have = set()
    for d in ('fig2', 'fig5'):
        for f in (ROOT/'params'/d).glob('*.yaml'):
            lab = load_params(f).labels
            have.add((lab['figure'], lab['model'], lab['series'], int(lab['size'])))
    for fig, points in SWEEPS.items():
        missing = [p for p in points if p not in have]
        assert not missing, f"{fig}: no params file for {missing}"

def test_figure4_has_a_preset_per_row():
    "params/fig4: the base and one run per augmentation, labelled as the report pairs them (analysis_report.accuracy_gains)"
    from metamath_nb.vocabulary import AUG_NAMES
    rows = {c.labels['row']: c for c in map(load_params, (ROOT/'params'/'fig4').glob('*.yaml'))}
    assert set(rows) == {'base', *AUG_NAMES} and all(c.labels['table'] == 'figure4' for c in rows.values())
    div = [c for c in rows.values() if 'diversity' in c.stages]
    assert len(div) == 1 and len(div[0].diversity.new) == len(AUG_NAMES)   # one diversity run measures all four: one correlation

def test_figure4_fine_tunes_add_the_rows_the_diversity_stage_measures(tmp_path):
    "A DataSource's seeded subset (the fine-tune's 20K) and the diversity stage's new_limit draw the same rows for one seed"
    import json
    from metamath_nb.analysis_data import analysis_rows
    from metamath_nb.config import DataSource
    from metamath_nb.sft_data import load_sft_rows
    f = tmp_path/'mmqa.jsonl'
    rows = [{'query': f'q{i}', 'response': f'r{i}. The answer is: {i}', 'type': t, 'original_question': f'q{i}'}
            for i, t in enumerate(['GSM_AnsAug'] * 30 + ['GSM_Rephrased', 'GSM_SV'] * 25)]
    f.write_text(''.join(json.dumps(r) + '\n' for r in rows))
    base = {(r['query'], r['response']) for r in load_sft_rows(str(f)) if r['type'] == 'GSM_AnsAug'}
    for seed in (42, 7):
        trained = load_sft_rows([DataSource(source=str(f), types=['GSM_AnsAug']), DataSource(source=str(f), types=['GSM_SV'], limit=6)], seed=seed)
        groups, _ = analysis_rows([f'{f}:GSM_SV'], limit=6, seed=seed, exclude=base)
        assert [r['query'] for r in trained[30:]] == [r['query'] for r in groups['GSM_SV']]
    assert [r['query'] for r in load_sft_rows(DataSource(source=str(f), types=['GSM_SV'], limit=6), seed=42)] != \
           [r['query'] for r in load_sft_rows(DataSource(source=str(f), types=['GSM_SV'], limit=6), seed=7)]   # the seed matters
