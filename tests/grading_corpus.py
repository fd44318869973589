"""The hand-labelled adversarial grading corpus (tests/data/grading_corpus.txt) and the side-by-side evaluation of
three graders on it: robust, Math-Verify alone and the paper's metamath mode (used by tests/test_grading_corpus.py and
bench/grading_corpus.py)."""
from collections import Counter
from pathlib import Path

CORPUS = Path(__file__).parent / 'data' / 'grading_corpus.txt'
CATEGORIES = ['large', 'near_miss', 'sign_constant', 'interval', 'ordering', 'units_text', 'notation']

def load_corpus(path=CORPUS) -> list[dict]:
    "Rows of the corpus: id, category, kind, gold, pred, label (bool), source; a bad line raises naming file and line"
    rows = []
    for n, line in enumerate(Path(path).read_text(encoding='utf-8').splitlines(), 1):
        if not line.strip() or line.startswith('#'): continue
        f = [x.strip() for x in line.split('¦')]
        if len(f) not in (5, 6) or f[0] not in CATEGORIES or f[1] not in ('gsm8k', 'math') or f[4] not in ('T', 'F'):
            raise ValueError(f'{path}:{n}: expected category ¦ kind ¦ gold ¦ prediction ¦ T/F [¦ source], got {line!r}')
        rows.append(dict(id=n, category=f[0], kind=f[1], gold=f[2], pred=f[3], label=f[4] == 'T', source=f[5] if len(f) == 6 else ''))
    return rows

def math_verify_alone(pred: str, gold: str) -> bool:
    "Math-Verify with its defaults, as a user would call it: verify(parse(gold), parse(pred)), answers wrapped in $...$"
    from math_verify import parse, verify
    try: return bool(verify(parse('$' + gold + '$'), parse('$' + pred + '$')))
    except Exception: return False

def graders():
    "name -> function(row) -> bool, for the three graders compared"
    from metamath_nb.grading import compare_answers
    return {'robust': lambda r: compare_answers(r['pred'], r['gold'], r['kind'], 'robust')[0],
            'math-verify': lambda r: math_verify_alone(r['pred'], r['gold']),
            'metamath': lambda r: compare_answers(r['pred'], r['gold'], r['kind'], 'metamath')[0]}

def score(rows: list[dict], verdicts: list[bool]) -> dict:
    "accuracy, false positives (credited, label F), false negatives (not credited, label T), n"
    fp = sum(v and not r['label'] for r, v in zip(rows, verdicts))
    fn = sum(r['label'] and not v for r, v in zip(rows, verdicts))
    return dict(n=len(rows), accuracy=(len(rows) - fp - fn) / len(rows) if rows else 0.0, fp=fp, fn=fn)

def evaluate(rows: list[dict]) -> dict:
    "verdicts[name] = list of bools, one per row"
    return {name: [bool(fn(r)) for r in rows] for name, fn in graders().items()}

def table(rows: list[dict], verdicts: dict) -> str:
    "The side-by-side table: accuracy, FP, FN per grader, overall and per category"
    names = list(verdicts)
    head = f"{'category':14s} {'n':>4s} " + ' '.join(f'{n + " acc":>16s} {"FP":>3s} {"FN":>3s}' for n in names)
    lines = [head, '-' * len(head)]
    for cat in CATEGORIES + ['all']:
        idx = [i for i, r in enumerate(rows) if cat == 'all' or r['category'] == cat]
        sub = [rows[i] for i in idx]
        cells = []
        for n in names:
            s = score(sub, [verdicts[n][i] for i in idx])
            cells.append(f"{s['accuracy']:16.3f} {s['fp']:3d} {s['fn']:3d}")
        lines.append(f'{cat:14s} {len(sub):4d} ' + ' '.join(cells))
    labels = Counter(r['label'] for r in rows)
    lines.append(f"{len(rows)} pairs: {labels[True]} labelled equal, {labels[False]} not equal; "
                 f"{sum(bool(r['source']) for r in rows)} from reported grader failures")
    return '\n'.join(lines)
