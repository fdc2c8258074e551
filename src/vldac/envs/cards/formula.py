"""Exact arithmetic on formulas written one symbol at a time, and the Points24 solver.

A formula is a list of tokens: numbers ("1".."10", each a whole token, so "2" then "4"
is two numbers side by side, a malformed formula, never 24), "+", "-", "*", "/", "(" and
")". `evaluate` parses it with a small recursive-descent parser over this grammar and
computes with `fractions.Fraction`, so 8/(3-8/3) is exactly 24:

    expression := term (("+" | "-") term)*
    term       := factor (("*" | "/") factor)*
    factor     := number | "(" expression ")"

No unary minus. Malformed formulas and division by zero have no value (None). Nothing
is ever passed to Python's eval.
"""

from __future__ import annotations

import functools
from fractions import Fraction

OPERATORS = "+-*/"
PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}

# A solution tree: a card value (leaf) or (operator, left, right).
Node = int | tuple[str, "Node", "Node"]


def evaluate(tokens: list[str]) -> Fraction | None:
    """The exact value of `tokens`, or None when the formula is malformed or divides by zero."""
    parser = _Parser(tokens)
    try:
        value = parser.expression()
    except _NoValue:
        return None
    return value if parser.position == len(tokens) else None


class _NoValue(Exception):
    """The formula is malformed or divides by zero."""


class _Parser:
    def __init__(self, tokens: list[str]):
        self.tokens = tokens
        self.position = 0

    def _peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def expression(self) -> Fraction:
        value = self.term()
        while self._peek() in ("+", "-"):
            operator = self.tokens[self.position]
            self.position += 1
            right = self.term()
            value = value + right if operator == "+" else value - right
        return value

    def term(self) -> Fraction:
        value = self.factor()
        while self._peek() in ("*", "/"):
            operator = self.tokens[self.position]
            self.position += 1
            right = self.factor()
            if operator == "*":
                value *= right
            elif right == 0:
                raise _NoValue
            else:
                value /= right
        return value

    def factor(self) -> Fraction:
        token = self._peek()
        if token is None:
            raise _NoValue
        self.position += 1
        if token.isdecimal():
            return Fraction(int(token))
        if token == "(":
            value = self.expression()
            if self._peek() != ")":
                raise _NoValue
            self.position += 1
            return value
        raise _NoValue


@functools.lru_cache(maxsize=4096)
def _solve_sorted(values: tuple[int, ...], target: int) -> tuple[str, ...] | None:
    items = tuple((Fraction(v), v) for v in values)
    tree = _search(items, Fraction(target))
    return None if tree is None else tuple(to_tokens(tree))


def solve(values: list[int], target: int = 24) -> list[str] | None:
    """The first formula (tokens, brackets only where needed) that uses every value exactly
    once with + - * / and any bracketing and equals `target` exactly, or None if there is none.

    Deterministic and cached by the sorted values: it searches the sorted values, combining
    pairs (i, j) in index order with "+", "-", "*", "/" in that order."""
    solution = _solve_sorted(tuple(sorted(values)), target)
    return None if solution is None else list(solution)


def solvable(values: list[int], target: int = 24) -> bool:
    """Whether some formula over all `values` equals `target` (see `solve`)."""
    return _solve_sorted(tuple(sorted(values)), target) is not None


def _search(items: tuple[tuple[Fraction, Node], ...], target: Fraction) -> Node | None:
    """Depth-first: replace two items by their combination until one is left."""
    if len(items) == 1:
        value, tree = items[0]
        return tree if value == target else None
    for i, (a, tree_a) in enumerate(items):
        for j, (b, tree_b) in enumerate(items):
            if i == j:
                continue
            rest = tuple(item for k, item in enumerate(items) if k not in (i, j))
            for operator in OPERATORS:
                if operator in "+*" and i > j:
                    continue  # commutative: (i, j) already tried
                if operator == "/" and b == 0:
                    continue
                found = _search((*rest, (_apply(operator, a, b), (operator, tree_a, tree_b))), target)
                if found is not None:
                    return found
    return None


def _apply(operator: str, a: Fraction, b: Fraction) -> Fraction:
    if operator == "+":
        return a + b
    if operator == "-":
        return a - b
    return a * b if operator == "*" else a / b


def to_tokens(tree: Node) -> list[str]:
    """A solution tree as formula tokens, bracketing a child only where precedence (or the
    left-to-right reading of "-" and "/") requires it."""
    if isinstance(tree, int):
        return [str(tree)]
    operator, left, right = tree
    left_tokens, right_tokens = to_tokens(left), to_tokens(right)
    if not isinstance(left, int) and PRECEDENCE[left[0]] < PRECEDENCE[operator]:
        left_tokens = ["(", *left_tokens, ")"]
    if not isinstance(right, int) and (
        PRECEDENCE[right[0]] < PRECEDENCE[operator]
        or (PRECEDENCE[right[0]] == PRECEDENCE[operator] and operator in "-/")
    ):
        right_tokens = ["(", *right_tokens, ")"]
    return [*left_tokens, operator, *right_tokens]
