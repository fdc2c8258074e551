"""The rules shared by EZPoints and Points24: write a formula over the cards' values, one
symbol per step, that equals the target.

Actions are the numbers "1".."10", the world's operators, and "=". Each card's value is
min(rank, 10) (J, Q, K count as 10). The rules, decided by the multiset of values, never
by ranks:

- a number that no unused card is worth (not in hand, or already used): reward -1 and the
  step is wasted (nothing is appended; the reference appends a blank), the episode goes on;
- any other number marks the first unused card worth it as used and is appended, reward 0;
- an operator or bracket is appended, reward 0;
- "=": reward +10 and success if every card is used and the formula equals the target
  exactly (`formula.evaluate`, fractions), otherwise -1; either way the episode terminates;
- length rule: if the formula already holds more than `max_formula_length` symbols, the
  action is not applied and the episode terminates with -1 (the reference calls this a
  truncation; it is a rule of the game, so here it is a termination);
- after `max_steps` steps (wasted ones included) an unfinished episode is truncated.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import ImageDraw

from vldac.envs.cards import playing_cards, render
from vldac.envs.cards.table import CardTableEnv
from vldac.envs.cards.formula import evaluate

NUMBERS = [str(n) for n in range(1, 11)]
SUCCESS_REWARD, PENALTY = 10.0, -1.0

# Layout as fractions of the frame size: the formula is written centred in a band at the
# top, at most FORMULA_WIDTH wide; each card is jittered by up to CARD_JITTER per axis (on
# top of the style's offset of up to 0.04), so cards 0.06 from the edges stay in the frame.
FORMULA_WIDTH, CARD_JITTER = 0.92, 0.01
# Light card faces (channels in this range) keep the red and black ranks readable.
FACE_CHANNELS = (232, 255)


class FormulaCardsEnv(CardTableEnv):
    """Base of the formula card worlds; subclasses set the class attributes and `_deal`.

    Observation: (frame_size, frame_size, 3) uint8 frame showing the cards and the formula.
    info (every reset and step): success (bool), cards (ranks in table order), values,
    formula (action names appended so far), formula_text (joined), used (per card), steps.
    """

    operators: tuple[str, ...]
    target: int
    max_formula_length: int  # an action taken with more symbols than this ends the episode
    # Layout: the formula band's centre and largest text size (fractions of the frame), and
    # each card's (left, top, right, bottom) box (fractions of the frame) in table order.
    formula_centre: float
    formula_size: float
    card_boxes: tuple[tuple[float, float, float, float], ...]

    def __init__(self, frame_size: int, max_steps: int, render_mode: str | None):
        super().__init__(frame_size, max_steps, render_mode, [*NUMBERS, *self.operators, "="])

    def _deal(self) -> tuple[list[int], list[int]]:
        """Ranks (1..13) and suits (0..3) of the cards in table order, drawn from self.np_random."""
        raise NotImplementedError

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.cards, self.suits = self._deal()
        self.values = [min(rank, 10) for rank in self.cards]
        self.used = [False] * len(self.cards)
        self.formula: list[str] = []
        self.steps = 0
        self.success = False
        self.style = render.sample_style(self.np_random, self.frame_size)
        jitter = round(CARD_JITTER * self.frame_size)
        shifts = self.np_random.integers(-jitter, jitter + 1, size=(len(self.cards), 2))
        self.card_shifts = [(int(x), int(y)) for x, y in shifts]
        low, high = FACE_CHANNELS
        self.card_face = tuple(int(c) for c in self.np_random.integers(low, high + 1, size=3))
        self.frame = self._draw()
        return self.frame, self._info()

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(
                f"action {action!r} is not in Discrete({len(self.action_names)}); "
                f"use an index of action_names {self.action_names}."
            )
        name = self.action_names[int(action)]
        self.steps += 1
        terminated = False
        if len(self.formula) > self.max_formula_length:
            reward, terminated = PENALTY, True
        elif name == "=":
            self.success = all(self.used) and evaluate(self.formula) == self.target
            reward, terminated = (SUCCESS_REWARD if self.success else PENALTY), True
        elif name in NUMBERS:
            card = self._unused_card(int(name))
            if card is None:
                reward = PENALTY
            else:
                self.used[card] = True
                self.formula.append(name)
                reward = 0.0
        else:
            self.formula.append(name)
            reward = 0.0
        truncated = not terminated and self.steps >= self.max_steps
        self.frame = self._draw()
        return self.frame, reward, terminated, truncated, self._info()

    def _unused_card(self, value: int) -> int | None:
        """The first unused card (table order) worth `value`, or None."""
        for index, (card_value, used) in enumerate(zip(self.values, self.used)):
            if card_value == value and not used:
                return index
        return None

    def _info(self) -> dict[str, Any]:
        return {
            "success": bool(self.success),
            "cards": list(self.cards),
            "values": list(self.values),
            "formula": list(self.formula),
            "formula_text": "".join(self.formula),
            "used": list(self.used),
            "steps": self.steps,
        }

    def _draw(self) -> np.ndarray:
        """The cards in their boxes (jittered) and the formula text centred above them."""
        size = self.frame_size
        image = render.new_canvas(size, self.style)
        draw = ImageDraw.Draw(image)
        dx, dy = self.style.offset
        for box, (jx, jy), rank, suit in zip(self.card_boxes, self.card_shifts, self.cards, self.suits):
            left, top, right, bottom = (round(f * size) for f in box)
            x, y = dx + jx, dy + jy
            playing_cards.draw_card(draw, (left + x, top + y, right + x, bottom + y), rank, suit, face=self.card_face)
        text = "".join(self.formula)
        if text:
            width_per_size = render.font(100).getlength(text) / 100 * self.style.scale  # width / font size
            text_size = min(self.formula_size * size, FORMULA_WIDTH * size / width_per_size)
            render.draw_text(draw, self.style, (size / 2, self.formula_centre * size), text, text_size, "mm", bold=True)
        return render.finish(image, self.style)
