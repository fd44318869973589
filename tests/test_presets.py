"""The presets of issue 21 (params/table4, table8, table9, table10, fig2, fig5) are what scripts/make_presets.py writes,
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
