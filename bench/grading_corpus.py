"""The side-by-side table of issue 13 on the hand-labelled adversarial corpus (tests/data/grading_corpus.txt):
robust vs Math-Verify alone vs the paper's metamath mode: accuracy, false positives (a different answer credited),
false negatives (an equal answer refused), overall and per category; then every disagreement with the labels.
Usage: python bench/grading_corpus.py [--quiet]"""
import argparse, logging, os, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'tests'))
from grading_corpus import load_corpus, evaluate, table

def main():
    ap = argparse.ArgumentParser(); ap.add_argument('--quiet', action='store_true'); a = ap.parse_args()
    logging.disable(logging.WARNING)  # Math-Verify logs its own timeouts
    rows = load_corpus()
    print(f'load average before: {os.getloadavg()}')
    t = time.time()
    verdicts = evaluate(rows)
    print(f'{len(rows)} pairs graded three ways in {time.time() - t:.0f} s (load average {os.getloadavg()[0]:.1f})\n')
    print(table(rows, verdicts))
    if a.quiet: return
    for name, v in verdicts.items():
        wrong = [(r, x) for r, x in zip(rows, v) if x != r['label']]
        print(f'\n{name}: {len(wrong)} disagreements with the labels')
        for r, x in wrong:
            print(f"  {'FP' if x else 'FN'} line {r['id']:3d} {r['category']:13s} gold {r['gold']!r:40s} pred {r['pred']!r}")

if __name__ == '__main__': main()
