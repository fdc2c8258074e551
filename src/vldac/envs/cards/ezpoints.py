"""EZPoints (Gym-Cards): two cards; write a formula worth 12 that uses both values once.

Deal (as the reference): the first card's rank is drawn from 2..13 and its value is
min(rank, 10). If that value is 2, 3, 4 or 6, the second card is worth 12 / value with
probability 1/2 and 12 - value otherwise; any other value pairs with 12 - value. So the
hands are {2,6}, {2,10}, {3,4}, {3,9}, {4,8}, {5,7}, {6,6}. A card worth 10 is a 10, J, Q
or K at random (the first keeps its drawn rank); suits are random and the table order is
shuffled.

Actions: "1".."10", "+", "*", "=" (13). Rules: see `formula_game` (length limit: an action
taken once the formula holds more than 5 symbols ends the episode with -1; truncated
after `max_steps` steps). The frame shows both cards side by side under the formula.
"""

from __future__ import annotations

from typing import Any

from vldac.envs.cards.formula_game import NUMBERS, FormulaCardsEnv

TARGET = 12
OPERATORS = ("+", "*")
ACTION_NAMES = [*NUMBERS, *OPERATORS, "="]


class EZPointsEnv(FormulaCardsEnv):
    """Two cards, target 12, operators "+" and "*"; info as `FormulaCardsEnv`."""

    operators = OPERATORS
    target = TARGET
    max_formula_length = 5
    formula_centre, formula_size = 0.13, 0.20
    card_boxes = ((0.06, 0.28, 0.47, 0.94), (0.53, 0.28, 0.94, 0.94))

    def __init__(self, frame_size: int = 300, max_steps: int = 10, render_mode: str | None = None):
        super().__init__(frame_size, max_steps, render_mode)

    def _deal(self) -> tuple[list[int], list[int]]:
        rng = self.np_random
        first_rank = int(rng.integers(2, 14))
        first = min(first_rank, 10)
        if first in (2, 3, 4, 6) and rng.random() < 0.5:
            second = TARGET // first
        else:
            second = TARGET - first
        second_rank = int(rng.integers(10, 14)) if second == 10 else second
        ranks = [first_rank, second_rank]
        order = rng.permutation(2)
        suits = rng.integers(0, 4, size=2)
        return [ranks[i] for i in order], [int(s) for s in suits]


def solution(values: list[int]) -> list[str]:
    """The expert's formula for a hand: the values in table order joined by "+" if they sum
    to 12, else by "*" (every dealt hand does one or the other)."""
    first, second = values
    return [str(first), "+" if first + second == TARGET else "*", str(second)]


def expert_action(info: dict[str, Any]) -> int:
    """The next symbol of `solution(info["values"])` after the formula written so far, then "="."""
    plan = [*solution(info["values"]), "="]
    return ACTION_NAMES.index(plan[min(len(info["formula"]), len(plan) - 1)])

