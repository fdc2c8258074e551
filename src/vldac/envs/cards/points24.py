"""Points24 (Gym-Cards): four cards; write a formula worth 24 that uses all four values once.

Deal: four ranks drawn uniformly from 1..13 (A counts 1; J, Q, K count 10) with random
suits. Actions: "1".."10", "+", "-", "*", "/", "(", ")", "=" (17). Rules: see
`formula_game` (length limit: an action taken once the formula holds more than 20
symbols ends the episode with -1; truncated after `max_steps` steps). Fixed reference
bugs: numbers are tokens, so "2" then "4" is not 24 but a malformed formula, and
arithmetic is exact, so 8/(3-8/3) is accepted. info also holds solvable (bool): whether
any formula over the four values equals 24 (`formula.solvable`). The frame shows the
cards in a 2x2 grid under the formula.
"""

from __future__ import annotations

from typing import Any

from vldac.envs.cards.formula import solvable, solve
from vldac.envs.cards.formula_game import NUMBERS, FormulaCardsEnv

TARGET = 24
OPERATORS = ("+", "-", "*", "/", "(", ")")
ACTION_NAMES = [*NUMBERS, *OPERATORS, "="]


class Points24Env(FormulaCardsEnv):
    """Four cards, target 24; info as `FormulaCardsEnv` plus solvable."""

    operators = OPERATORS
    target = TARGET
    max_formula_length = 20
    formula_centre, formula_size = 0.10, 0.15
    card_boxes = (
        (0.07, 0.20, 0.47, 0.56),
        (0.53, 0.20, 0.93, 0.56),
        (0.07, 0.59, 0.47, 0.94),
        (0.53, 0.59, 0.93, 0.94),
    )

    def __init__(self, frame_size: int = 300, max_steps: int = 30, render_mode: str | None = None):
        super().__init__(frame_size, max_steps, render_mode)

    def _deal(self) -> tuple[list[int], list[int]]:
        ranks = self.np_random.integers(1, 14, size=4)
        suits = self.np_random.integers(0, 4, size=4)
        return [int(r) for r in ranks], [int(s) for s in suits]

    def _info(self) -> dict[str, Any]:
        return {**super()._info(), "solvable": solvable(self.values, TARGET)}


def expert_action(info: dict[str, Any]) -> int:
    """The next symbol of the solver's formula (`formula.solve`, deterministic) after the
    formula written so far, then "="; "=" at once when the deal has no solution."""
    plan = [*(solve(info["values"], TARGET) or []), "="]
    return ACTION_NAMES.index(plan[min(len(info["formula"]), len(plan) - 1)])

