"""Hand-written equivalence cases for metamath_nb.grading (robust mode), including grader failures that users of
other projects have reported, and adversarial inputs that must come back within the time budget."""
import time
import pytest
from metamath_nb.grading import grade, grade_output, compare_answers, extract_answer, ITEM_TIMEOUT_S
from metamath_nb.sympy_worker import sympy_worker

EQ, NE = True, False
# (prediction, gold, expected) for kind='math'
MATH_CASES = [
    # reported failures of other graders
    ('016', '16', EQ), ('4', r'4\sqrt{2}', NE), (r'4\sqrt{2}', '4', NE), ('1-1/e', '1+1/e', NE),
    ('1,-2', '1,-3', NE), (r'\left(1,2\right)', '(1,2)', EQ), ('0.5', r'\frac12', EQ), (r'50\%', '50', EQ),
    ('1,000', '1000', EQ), ('1000', '1,000', EQ),
    # integers, signs, leading zeros
    ('7', '7', EQ), ('+7', '7', EQ), ('-7', '7', NE), ('007', '7', EQ), ('70', '7', NE), ('7.0', '7', EQ),
    ('7.00', '7', EQ), ('0', '-0', EQ), ('10', '1', NE), ('1e3', '1000', EQ), ('2', '3', NE),
    # decimals and fractions (issue 13: exact values compare exactly, so a truncated decimal is not the fraction)
    ('0.25', r'\frac{1}{4}', EQ), ('1/4', r'\frac14', EQ), (r'\dfrac{1}{4}', '0.25', EQ), (r'\tfrac{3}{4}', '0.75', EQ),
    ('0.3333333', r'\frac{1}{3}', NE), ('0.33', r'\frac{1}{3}', NE), (r'\frac{2}{4}', r'\frac{1}{2}', EQ),
    (r'-\frac{1}{2}', r'\frac{-1}{2}', EQ), (r'-\frac{1}{2}', r'\frac{1}{2}', NE), ('.5', '0.5', EQ),
    (r'\frac{7}{3}', '2.333', NE), ('3/2', '1.5', EQ), (r'\frac{10}{4}', r'\frac{5}{2}', EQ), (r'6\frac{3}{4}', r'\frac{27}{4}', EQ),
    (r'6 \frac{3}{4}', '6.75', EQ), (r'\frac{1}{2}', r'\frac{1}{3}', NE), ('1.5', '1.05', NE),
    # percent
    ('50', r'50\%', EQ), ('0.5', r'50\%', EQ), (r'25\%', '25', EQ), ('25%', '25', EQ), (r'30\%', '3', NE),
    (r'12.5\%', '12.5', EQ),
    # units and \text{}
    (r'162\text{ minutes}', '162', EQ), ('162', r'162\text{ minutes}', EQ), (r'5\text{ cm}', '5', EQ), ('5 cm', '5', EQ),
    (r'5\text{ cm}^2', '5', EQ), ('10 dollars', '10', EQ), (r'\$10', '10', EQ), (r'\$10.50', '10.5', EQ),
    (r'90\text{ square units}', '90', EQ), (r'6\text{ inches}', '7', NE), (r'\text{Devon}', 'Devon', EQ),
    (r'\text{odd}', 'odd', EQ), ('even', r'\text{odd}', NE), (r'\mbox{12}', '12', EQ), (r'\textbf{3}', '3', EQ),
    # degrees
    (r'45^\circ', '45', EQ), (r'45^{\circ}', '45', EQ), ('45°', '45', EQ), (r'30^\circ', '45', NE), (r'90\degree', '90', EQ),
    # \left \right and spacing
    (r'\left[ 1, 2 \right]', '[1,2]', EQ), (r'\left\{1,2\right\}', r'\{1,2\}', EQ), (r'\frac{1}{2} \,', r'\frac12', EQ),
    (r'3\!\cdot\!2', '6', EQ), (r'\left( 3, \frac{\pi}{2} \right)', r'(3,\frac{\pi}{2})', EQ), (r'2 \sqrt{3}', r'2\sqrt3', EQ),
    # x = 3
    ('x = 3', '3', EQ), ('3', 'x=3', EQ), ('y = 3', '3', EQ), ('x=4', '3', NE), (r'k = \frac{1}{2}', '0.5', EQ),
    ('y = 2x+3', '2x+3', EQ), ('y = 2x+3', '2x+4', NE), (r'x \in [1, 2]', '[1,2]', EQ), (r'\theta = 30^\circ', '30', EQ),
    ('x=1, x=-2', '1,-2', EQ), (r'x = 1 \text{ or } x = -2', '-2,1', EQ),
    # symbolic equivalence
    (r'\sqrt{8}', r'2\sqrt{2}', EQ), (r'\frac{\sqrt{2}}{2}', r'\frac{1}{\sqrt{2}}', EQ), (r'\frac{\sqrt{3}}{2}', r'\frac{\sqrt{2}}{2}', NE),
    ('(x+1)^2', 'x^2+2x+1', EQ), ('x^2+2x+1', 'x^2+2x-1', NE), ('2x+2', '2(x+1)', EQ), (r'\pi/2', r'\frac{\pi}{2}', EQ),
    (r'\frac{3\pi}{4}', r'\frac34\pi', EQ), (r'2\pi', r'\pi', NE), (r'\sqrt[3]{8}', '2', EQ), (r'\sqrt{2}+\sqrt{3}', r'\sqrt{5}', NE),
    ('2^{10}', '1024', EQ), ('2^10', '1024', EQ), (r'\frac{x}{2}', '0.5x', EQ), ('a+b', 'b+a', EQ), ('ab', 'ba', EQ),
    ('x-y', 'y-x', NE), ('x+1', 'y+1', NE), (r'\sin^2 x + \cos^2 x', '1', EQ), (r'\ln 8', r'3\ln 2', EQ),
    (r'\log_2 8', '3', EQ), (r'\binom{5}{2}', '10', EQ), (r'\dbinom{6}{3}', '20', EQ), (r'\infty', r'\infty', EQ),
    (r'-\infty', r'\infty', NE), ('3+4i', '4i+3', EQ), ('3-4i', '3+4i', NE), (r'\frac{1}{1+i}', r'\frac{1-i}{2}', EQ),
    (r'e^{i\pi}', '-1', EQ), (r'2\cos 60^\circ', '1', NE), (r'\sqrt{x^2}', '|x|', EQ), ('6p^4+5p^2-4', '6p^4 + 5p^2 - 4', EQ),
    (r'\frac{1}{x}', 'x^{-1}', EQ), ('x^3', 'x^2', NE), (r'4\sqrt{2}', r'\sqrt{32}', EQ), (r'1-\frac{1}{e}', r'\frac{e-1}{e}', EQ),
    # equations
    ('4x-5y=-50', '-4x+5y=50', EQ), ('4x-5y=-50', '4x+5y=-50', NE), ('2x+4y=6', 'x+2y=3', EQ), ('x+y=1', '1', NE),
    # tuples, lists, sets, intervals
    ('(1,2)', '(1, 2)', EQ), ('(2,1)', '(1,2)', NE), ('1,2', '(1,2)', EQ), ('(1,2,3)', '(1,2)', NE), ('-2,1', '1,-2', EQ),
    ('1,2,3', '3,2,1', EQ), ('1,1,2', '1,2,2', NE), (r'\{1,2\}', r'\{2,1\}', EQ), (r'\{1,2\}', '2,1', EQ),
    ('[1,2]', '(1,2)', NE), ('[1,2)', '[1,2]', NE), ('[1,2)', r'\left[1, 2\right)', EQ), (r'(-\infty, 3)', r'(-\infty,3)', EQ),
    (r'(-\infty, 3]', r'(-\infty, 3)', NE), (r'(-\infty,1)\cup(2,\infty)', r'(-\infty, 1) \cup (2, \infty)', EQ),
    (r'(-\infty,1)\cup(2,\infty)', r'(-\infty,1]\cup(2,\infty)', NE), (r'(\frac{1}{2}, 3)', '(0.5,3)', EQ),
    (r'(3, \frac{\pi}{2})', r'(3, \frac{\pi}{3})', NE), ('(1,000)', '(1,0)', EQ), ('1,000', '1,0', NE), ('(1,2)', '3', NE),
    (r'\frac{1}{2}, \frac{1}{3}', r'\frac13, \frac12', EQ), (r'1 \pm \sqrt{2}', r'1 \pm \sqrt{2}', EQ),
    # matrices
    (r'\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}', r'\begin{pmatrix}1&2\\3&4\end{pmatrix}', EQ),
    (r'\begin{pmatrix} 1 & 2 \\ 3 & 5 \end{pmatrix}', r'\begin{pmatrix}1&2\\3&4\end{pmatrix}', NE),
    (r'\begin{bmatrix} 0.5 \\ 2 \end{bmatrix}', r'\begin{pmatrix} \frac12 \\ 2 \end{pmatrix}', EQ),
    (r'\begin{pmatrix} 1 \\ 2 \end{pmatrix}', r'\begin{pmatrix} 1 & 2 \end{pmatrix}', NE),
    (r'\begin{pmatrix} 48/65 \\ 6/65 \end{pmatrix}', r'\begin{pmatrix} \frac{48}{65} \\ \frac{6}{65} \end{pmatrix}', EQ),
    # multiple choice
    ('(A)', 'A', EQ), ('A', r'\text{(A)}', EQ), ('(b)', '(B)', EQ), ('(C)', '(A)', NE), ('C', '3', NE), ('(E)', 'E', EQ),
    # numbers written in a base
    ('1200_7', '1200_{7}', EQ), ('1200', '1200_7', EQ), ('441', '1200_7', NE), ('101_2', '101_3', NE),
    # delimiters and boxes
    (r'$\frac{1}{2}$', '0.5', EQ), (r'\boxed{5}', '5', EQ), (r'\(5\)', '5', EQ), ('5.', '5', EQ), (r'$$x^2$$', 'x^2', EQ),
    # text
    ('sin(x)', r'\sin x', EQ), (r'\cos(2x)', r'\cos 2x', EQ), ('2sin(x)cos(x)', r'\sin 2x', EQ), ('Monday', 'monday', EQ), ('Tuesday', 'Monday', NE), (r'\text{Sunday}', 'Sunday', EQ), ('', '5', NE),
    # more not-equal traps
    ('2', '2.0001', NE), ('1000', '1,001', NE), (r'\frac{1}{2}', '2', NE), ('x^2', '2x', NE), ('(1,2]', '(1,2)', NE),
    (r'3\pi', '9.42', NE), (r'\sqrt{2}', '1.414', NE), ('12', '1,2', NE), ('A', 'B', NE), ('5i', '5', NE),
    ('2^{3}', '6', NE), (r'10\%', '1', NE),
    # seen when grading MATH gold answers against each other
    (r'5\text{ digits}', '5', EQ), (r'18\text{ ways.}', '18', EQ), (r'8\sqrt{3} \text { square inches}', r'8\sqrt{3}', EQ),
    ('4210_{7}', '4210_{5}', NE), (r'7.2\%', '7.2', EQ), (r'135\text{ square feet}', '136', NE),
]
# (prediction, gold, expected) for kind='gsm8k'
GSM8K_CASES = [
    ('18', '18', EQ), ('18.0', '18', EQ), ('17.6', '18', NE), ('$18', '18', EQ), ('18 dollars', '18', EQ),
    ('1,080', '1080', EQ), ('1,234,567', '1234567', EQ), ('-5', '5', NE), ('x = 5', '5', EQ), ('50%', '50', EQ),
    ('0.5', '50', NE), ('5/2', '2.5', EQ), ('three', '3', NE), ('The total is 18', '18', EQ), ('3 apples and 5 pears', '3', NE),
]

@pytest.mark.parametrize('pred,gold,expected', MATH_CASES)
def test_math_case(pred, gold, expected):
    ok, status = compare_answers(pred, gold, 'math', 'robust', timeout=10.0)  # a budget that holds on a busy machine
    assert ok == expected, f'{pred!r} vs {gold!r}: expected {expected}, got {ok} ({status})'

@pytest.mark.parametrize('pred,gold,expected', GSM8K_CASES)
def test_gsm8k_case(pred, gold, expected):
    assert grade(pred, gold, 'gsm8k', 'robust') == expected

def test_case_count():
    assert len(MATH_CASES) + len(GSM8K_CASES) >= 150
    assert sum(not e for *_, e in MATH_CASES + GSM8K_CASES) >= 50  # enough not-equal cases

# metamath mode keeps the paper's quirks
METAMATH_CASES = [
    ('The answer is: 18', '18', 'gsm8k', True), ('The answer is 18', '18', 'gsm8k', False),
    ('The answer is: 17.6', '18', 'gsm8k', True), ('The answer is: 1,234,567', '1234567', 'gsm8k', False),
    (r'The answer is: \boxed{18}', '18', 'gsm8k', True), ('#### 18', '18', 'gsm8k', False),
    ('The answer is: 0.5', r'\frac{1}{2}', 'math', True), ('The answer is: 0.25', r'\frac14', 'math', False),
    ('The answer is: 1,000', '1000', 'math', False), (r'The answer is: \left(1,2\right)', '(1,2)', 'math', True),
    (r'The answer is: \boxed{5}', '5', 'math', False), ('The answer is: x=3', '3', 'math', True),
]

@pytest.mark.parametrize('output,gold,kind,expected', METAMATH_CASES)
def test_metamath_mode(output, gold, kind, expected):
    assert grade_output(output, gold, kind, 'metamath')['correct'] == expected

# adversarial inputs: each must return (not raise) within the item budget plus slack
ADVERSARIAL = [
    ('{' * 400 + '1' + '}' * 400, '1'), ('{' * 5000 + '1', '1'), ('10^{10^{10}}', '1'), ('2^{2^{2^{2^{2^{2}}}}}', '3'),
    ('9' * 5000, '9'), ('x' * (1 << 20), '1'), (r'\frac{' * 200 + '1', '1'), (r'\sqrt{' * 300 + '2' + '}' * 300, '2'),
    ('(' * 500 + ')' * 500, '0'), ('1,' * 400 + '1', '1'), (r'\begin{pmatrix}' + '1&' * 300 + r'1\end{pmatrix}', '1'),
    ('10!' * 50, '1'), (r'x^{x^{x^{x^{x}}}}', 'x'), ('\x00\uffff', '1'),
]

@pytest.mark.parametrize('pred,gold', ADVERSARIAL)
def test_adversarial_returns_within_budget(pred, gold):
    sympy_worker().equal('1', '1', 120)  # restart a worker killed by the previous case outside the timing
    t = time.monotonic()
    ok, status = compare_answers(pred, gold, 'math', 'robust', timeout=ITEM_TIMEOUT_S)
    assert isinstance(ok, bool) and status in ('ok', 'timeout', 'too_long', 'too_large')
    assert time.monotonic() - t < ITEM_TIMEOUT_S + 2.0

def test_one_megabyte_output_is_ungradable():
    out = 'The answer is: ' + '7' * (1 << 20)
    t = time.monotonic()
    r = grade_output(out, '7', 'math', 'robust')
    assert r['status'] == 'too_long' and r['correct'] is False and time.monotonic() - t < 1.0
    assert extract_answer(out).rule == 'too_long'

def test_stuck_sympy_is_cut_at_the_budget():
    sympy_worker().equal('1', '1', 120)  # a running worker: its start-up is not part of an item's budget
    t = time.monotonic()
    assert compare_answers('2^{2^{40}}', '1', 'math', 'robust', timeout=1.0) == (False, 'too_large')  # never computed
    assert compare_answers(r'\sin(2^{2^{40}})', '1', 'math', 'robust', timeout=1.0) == (False, 'timeout')  # sympy stuck
    assert time.monotonic() - t < 4.0
    assert compare_answers(r'\sqrt{8}', r'2\sqrt{2}', 'math', 'robust') == (True, 'ok')  # a fresh worker after the kill
    assert compare_answers(r'\ln 8', r'3\ln 2', 'math', 'robust') == (True, 'ok')
