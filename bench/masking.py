"""Masking coverage on the 7473 GSM8K train questions: the backward (FOBAR/SV) questions that MetaMath's released masking
rule and our quantity rule make, side by side, with the reason for every difference; then why our rule excludes the
numbers it does not mask. Needs the benchmark files (../shared/data or $METAMATH_DATA); skips cleanly without them."""
import json, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from metamath_nb.masking import compare_masking, masking_coverage
from metamath_nb.data import load_benchmark, DataUnavailable

try: train = load_benchmark('gsm8k', split='train')
except DataUnavailable as e:
    print(f'SKIP masking coverage: {e}'); sys.exit(0)
qs = [p.question for p in train]
t0 = time.perf_counter()
cmp = compare_masking(qs)
dt = time.perf_counter() - t0
print(f"GSM8K train, {len(qs)} questions ({dt:.1f} s)\n")
print(f"{'':34}{'released (default)':>20}{'quantities (ours)':>20}")
for k, label in (('with_mask', 'questions with a masked number'), ('backward_questions', 'backward questions')):
    print(f"{label:34}{cmp['released'][k]:>20,}{cmp['quantities'][k]:>20,}")
print(f"{'identical backward questions':34}{cmp['identical']:>20,}{cmp['identical']:>20,}\n")
d = cmp['differences']
for side, name in (('released', 'released only'), ('quantities', 'ours only')):
    part = d[d.only_in == side]
    print(f"{name}: {int(part.backward_questions.sum()):,} backward questions")
    for r in part.itertuples(): print(f"  {r.backward_questions:>6,}  {r.reason}")
def group(reason: str) -> str:
    "A coarse class for a 'written differently' reason (the token's shape tells it)"
    if not reason.startswith('both mask it'): return reason
    tok = reason.split(': ', 1)[1].split(' -> ')[0]
    if tok.startswith(('$.', '.')): return 'written differently: a leading decimal point (released masks the whole number, ours the digits after it)'
    if tok.startswith('$'): return "written differently: '$' dropped before a final mark by the released rule ($9. -> x.)"
    return "written differently: a currency sign other than a leading '$' dropped by the released rule (€9 -> x, 9$ -> x)"
print('\ngrouped:')
for side, name in (('released', 'released only'), ('quantities', 'ours only')):
    part = d[d.only_in == side].assign(group=lambda x: x.reason.map(group)).groupby('group').backward_questions.sum().sort_values(ascending=False)
    print(f"{name}: {int(part.sum()):,}"); [print(f"  {n:>6,}  {g}") for g, n in part.items()]
cov = masking_coverage(qs)
print('\nour rule: numbers excluded, by reason:', json.dumps(cov['excluded']))
