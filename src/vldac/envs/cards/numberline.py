"""NumberLine (Gym-Cards): move the current number to the target with "-" and "+".

Positions 0..5; start and target are drawn from the seed and never equal. "-" subtracts
one and "+" adds one, clamped to [0, 5]. Reward +1 and the episode terminates on
reaching the target; -1 when a move does not bring the current number closer (pushing
against a bound included); 0 otherwise. Truncated after `max_steps` steps unless the
last step reached the target. The numbers appear only in the frame ("Target: g" above
"Current: c"), drawn with per-episode nuisance variation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import ImageDraw

from vldac.envs.cards import render
from vldac.envs.cards.table import CardTableEnv

HIGH = 5  # positions are 0..HIGH

# Layout as fractions of the frame size: text sizes, the x where labels end and digits
# begin, and the baseline of each row.
LABEL_SIZE, DIGIT_SIZE = 0.13, 0.40
LABEL_RIGHT, DIGIT_LEFT = 0.62, 0.67
TARGET_BASELINE, CURRENT_BASELINE = 0.42, 0.88


class NumberLineEnv(CardTableEnv):
    """Move a number to a target with "-" and "+", reading both from the frame.

    Observation: (frame_size, frame_size, 3) uint8 frame. Actions: 0 = "-", 1 = "+".
    info (every reset and step): success (bool), current, target, steps (int).
    """

    def __init__(self, frame_size: int = 300, max_steps: int = 10, render_mode: str | None = None):
        super().__init__(frame_size, max_steps, render_mode, ["-", "+"])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.target = int(self.np_random.integers(HIGH + 1))
        self.current = (self.target + int(self.np_random.integers(1, HIGH + 1))) % (HIGH + 1)
        self.steps = 0
        self.success = False
        self.style = render.sample_style(self.np_random, self.frame_size)
        self.frame = self._draw()
        return self.frame, self._info()

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is not in Discrete(2); use 0 for '-' or 1 for '+'.")
        before = abs(self.target - self.current)
        self.current = min(HIGH, max(0, self.current + (1 if action == 1 else -1)))
        self.steps += 1
        self.success = self.current == self.target
        if self.success:
            reward = 1.0
        elif abs(self.target - self.current) >= before:
            reward = -1.0
        else:
            reward = 0.0
        truncated = not self.success and self.steps >= self.max_steps
        self.frame = self._draw()
        return self.frame, reward, self.success, truncated, self._info()

    def _info(self) -> dict[str, Any]:
        return {"success": self.success, "current": self.current, "target": self.target, "steps": self.steps}

    def _draw(self) -> np.ndarray:
        """Render "Target: g" above "Current: c": small labels, big digits."""
        size = self.frame_size
        image = render.new_canvas(size, self.style)
        draw = ImageDraw.Draw(image)
        for label, number, baseline in (
            ("Target:", self.target, TARGET_BASELINE),
            ("Current:", self.current, CURRENT_BASELINE),
        ):
            render.draw_text(draw, self.style, (LABEL_RIGHT * size, baseline * size), label, LABEL_SIZE * size, "rs")
            render.draw_text(
                draw, self.style, (DIGIT_LEFT * size, baseline * size), str(number), DIGIT_SIZE * size, "ls", bold=True
            )
        return render.finish(image, self.style)


def expert_action(info: dict[str, Any]) -> int:
    """The optimal action index for a NumberLine state: 1 ("+") below the target, else 0 ("-")."""
    return 1 if info["target"] > info["current"] else 0
