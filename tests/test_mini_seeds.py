"The mini seed sets are our own problems: every GSM8K calculator annotation and final answer, and every MATH answer, is checked."
import ast, itertools, json, re
from fractions import Fraction
from math import comb, gcd
from pathlib import Path
import pytest
import sympy as sp

DATA = Path(__file__).resolve().parents[1]/'metamath_nb'/'data'
_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b}

def arith(expr: str) -> Fraction:
    "Exact value of an expression of numbers, + - * / and parentheses (nothing else is evaluated)"
    if not re.fullmatch(r'[0-9.+\-*/() ]+', expr): raise ValueError(f'not plain arithmetic: {expr!r}')
    def ev(n):
        if isinstance(n, ast.Constant) and type(n.value) in (int, float): return Fraction(str(n.value))
        if isinstance(n, ast.BinOp) and type(n.op) in _OPS: return _OPS[type(n.op)](ev(n.left), ev(n.right))
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub): return -ev(n.operand)
        raise ValueError(f'not plain arithmetic: {expr!r}')
    return ev(ast.parse(expr, mode='eval').body)

_ANN = re.compile(r'<<([^<>=]+)=([^<>]+)>>([0-9.]*)')

def gsm8k_problems(text):
    "Errors of one GSM8K-format answer: wrong annotations, a result written differently, a final answer not last computed"
    lines, errs, last = text.split('\n'), [], None
    m = re.fullmatch(r'#### (-?\d+)', lines[-1])
    if not m: return [f'last line is not "#### N": {lines[-1]!r}']
    for ln in lines[:-1]:
        for expr, val, after in _ANN.findall(ln):
            v = arith(expr)
            if v != Fraction(val) or (after and Fraction(after.rstrip('.')) != v): errs.append(f'{expr}={val} -> {after}, but it is {v}')
            last = v
    if last != Fraction(m.group(1)): errs.append(f'#### {m.group(1)} is not the last computed value {last}')
    return errs

def test_checker_catches_errors():
    assert gsm8k_problems('He has 3*4=<<3*4=12>>12.\n#### 12') == []
    assert gsm8k_problems('He has 3*4=<<3*4=13>>13.\n#### 13')
    assert gsm8k_problems('He has 3*4=<<3*4=12>>12.\n#### 11')
    with pytest.raises(ValueError): arith('__import__("os")')

def test_mini_gsm8k():
    rows = [json.loads(l) for l in (DATA/'mini_gsm8k.jsonl').read_text().splitlines()]
    assert len(rows) >= 40
    for i, r in enumerate(rows, 1):
        assert set(r) == {'question', 'answer'}, i
        steps = r['answer'].split('\n')[:-1]
        assert 2 <= len(steps) <= 6 and all(_ANN.search(s) for s in steps), i
        assert gsm8k_problems(r['answer']) == [], (i, gsm8k_problems(r['answer']))

def boxed(s):
    i = s.rindex('\\boxed{') + 7; d, j = 1, i
    while d: d += {'{': 1, '}': -1}.get(s[j], 0); j += 1
    return s[i:j - 1]

x, y, k = sp.symbols('x y k')
# Each MATH seed's answer, computed independently of its written solution (same order as the file)
MATH_ANSWERS = [
    sp.solve(3*x + 7 - 25, x)[0], sp.Rational(9 - (-1), 6 - 2),
    (lambda s: sp.Tuple(s[x], s[y]))(sp.solve([2*x + 3*y - 12, x - y - 1], [x, y])),
    sp.solveset(sp.Abs(2*x - 5) <= 7, x, sp.S.Reals),
    sp.calculus.util.continuous_domain(sp.sqrt(x - 2)/(x**2 - 9), x, sp.S.Reals),
    comb(8, 3), sp.Rational(sum(a + b == 8 for a in range(1, 7) for b in range(1, 7)), 36),
    len(set(itertools.permutations('LEVEL'))),
    sp.Rational(sum(c.count('R') == 2 for c in itertools.combinations('RRRRBBBBBB', 3)), comb(10, 3)),
    9*(15 - 9), 4*sp.solve(9*k - 180, k)[0], sp.Rational(5*12, 13), sp.pi*(sp.sqrt(3)*6/2/3)**2,
    (lambda r: sp.expand(r[0]**2 + r[1]**2))(sp.solve(x**2 - 5*x + 3, x)),
    [r for r in sp.solve(x**2 - 4*x - 4, x) if r > 0][0], sum(sp.Rational(1, n*(n + 1)) for n in range(1, 21)),
    gcd(84, 126), pow(7, 100, 5), sp.divisor_count(360),
    next(n for n in range(1, 200) if n % 3 == 2 and n % 5 == 3 and n % 7 == 2),
    sp.Rational(3, 4) + sp.Rational(5, 6), 5*12 - (10 + 14 + 9 + 15),
    sp.Tuple(sp.sqrt(1 + 3), sp.atan2(sp.sqrt(3), 1)), 1 - 2*sp.Rational(1, 3)**2,
]

def test_mini_math():
    from math_verify import parse, verify
    rows = [json.loads(l) for l in (DATA/'mini_math.jsonl').read_text().splitlines()]
    assert len(rows) == len(MATH_ANSWERS)
    types = {'Algebra', 'Counting & Probability', 'Geometry', 'Intermediate Algebra', 'Number Theory', 'Prealgebra', 'Precalculus'}
    assert {r['type'] for r in rows} == types and {r['level'] for r in rows} == {f'Level {i}' for i in range(1, 6)}
    for i, (r, want) in enumerate(zip(rows, MATH_ANSWERS), 1):
        got = parse('$' + boxed(r['solution']) + '$')
        assert verify(got, parse('$' + sp.latex(sp.sympify(want)) + '$')), (i, boxed(r['solution']), want)
    assert not verify(parse('$\\frac{20}{21}$'), parse('$\\frac{19}{21}$')) # the comparison can fail
