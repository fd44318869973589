"""Masking coverage: how many GSM8K train questions (7473) have a number that FOBAR/SV may mask, and why the other
numbers are excluded. Needs the benchmark files (../shared/data or $METAMATH_DATA); skips cleanly without them."""
import json, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from metamath_nb.augment import masking_coverage
from metamath_nb.data import load_benchmark, DataUnavailable

try: train = load_benchmark('gsm8k', split='train')
except DataUnavailable as e:
    print(f'SKIP masking coverage: {e}'); sys.exit(0)
t0 = time.perf_counter()
cov = masking_coverage([p.question for p in train])
dt = time.perf_counter() - t0
print(f"GSM8K train: {cov['with_maskable']}/{cov['questions']} questions ({cov['with_maskable']/cov['questions']:.1%}) have a maskable number; "
      f"{cov['maskable']}/{cov['numbers']} numbers ({cov['maskable']/cov['numbers']:.1%}) are maskable; "
      f"{cov['mean_maskable_per_question']:.2f} per question; {dt:.2f} s")
print('excluded:', json.dumps(cov['excluded']))
