"""Issue 15 (items 3 and 4): no grading call hangs or crashes, whatever the input. Every call runs in a child process
under a hard wall-clock bound, so a call that overruns makes the test fail instead of hanging it (the child is killed).
The generator and the runner are in bench/grading_fuzz.py; the bigger run there prints calls / hangs / crashes /
slowest call."""
import sys
from pathlib import Path
import pytest
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'bench'))
from grading_fuzz import Isolated, fuzz_calls, run_fuzz
from metamath_nb.grading import ITEM_TIMEOUT_S

BOUND_S = 10.0  # per call; a normal call takes milliseconds

# the inputs named in issue 15, and what each must give now
ISSUE_CASES = [
    (dict(fn='output', a='The answer is: 1e99999999', gold='1', kind='gsm8k', mode='robust'), 'too_large'),
    (dict(fn='output', a='The answer is: 1e99999999', gold='1', kind='math', mode='robust'), 'too_large'),
    (dict(fn='compare', a='1E999999', gold='1', kind='math', mode='robust'), 'too_large'),
    (dict(fn='compare', a=r'\frac{1e9999999}{2}', gold='18', kind='math', mode='robust'), 'too_large'),
    (dict(fn='output', a='The answer is: 1/00', gold='1', kind='gsm8k', mode='metamath'), 'undefined'),
    (dict(fn='output', a='The answer is: ' + '9' * 400 + '/7', gold='1', kind='gsm8k', mode='metamath'), 'too_large'),
    (dict(fn='output', a='The answer is: ' + '1' * 5000 + '/3', gold='1', kind='gsm8k', mode='metamath'), 'too_large'),
    (dict(fn='output', a='The answer is: -' + '9' * 400, gold='1', kind='gsm8k', mode='metamath'), 'too_large'),
    (dict(fn='compare', a='18', gold='eighteen', kind='gsm8k', mode='metamath'), 'bad_gold'),
]

@pytest.fixture(scope='module')
def child():
    iso = Isolated(sympy=False)
    yield iso
    iso.kill()

@pytest.mark.parametrize('call,status', ISSUE_CASES, ids=[f'{c["mode"]}-{c["a"][:24]}' for c, _ in ISSUE_CASES])
def test_issue_inputs_are_graded_not_hung_or_raised(child, call, status):
    reply, wall = child.call(call, BOUND_S)
    assert reply is not None, f'no answer within {BOUND_S} s (hang)'
    assert reply['ok'], f"raised {reply.get('error')}: {reply.get('where')}"
    assert (reply['correct'], reply['status']) == (False, status)

def test_fuzz_no_hang_no_crash():
    calls = fuzz_calls(4000, seed=0, full=False, sizes=(50, 400), lengths=(999, 1001, 5000))
    r = run_fuzz(calls, BOUND_S, max_failures=5)
    assert r['calls'] == len(calls) and r['hangs'] == 0 and r['crashes'] == 0, \
        {k: r[k] for k in ('calls', 'hangs', 'crashes', 'hang_examples', 'crash_examples')}
    assert r['slowest'] < ITEM_TIMEOUT_S + 2, r['slowest_call']  # within the item budget, with slack for a busy machine

def test_fuzz_with_the_real_sympy_worker():
    "A few hostile answers that reach sympy: cut at the item budget (plus a worker restart), never hung"
    calls = [c for c in fuzz_calls(0, seed=3, full=False, sizes=(50,), lengths=(999,)) if c['mode'] == 'robust'][::40][:12]
    r = run_fuzz(calls, 3.0 + 60.0, sympy=True, timeout=3.0, max_failures=3)
    assert r['hangs'] == 0 and r['crashes'] == 0, r
