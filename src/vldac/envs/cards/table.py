"""What every card-table world shares: square RGB frames, one Discrete action per name, a step limit."""

from __future__ import annotations

import gymnasium
import numpy as np
from vldac.envs.world_settings import check_world_settings
from gymnasium import spaces


class CardTableEnv(gymnasium.Env):
    """Base of the card worlds. Subclasses set ``self.frame`` in reset/step; ``action_names``
    (index = Discrete action) is given to ``__init__``; ``max_steps`` bounds an episode."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, frame_size: int, max_steps: int, render_mode: str | None, action_names: list[str]):
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode={render_mode!r} is not supported; use None or 'rgb_array'.")
        check_world_settings(frame_size=frame_size, max_steps=max_steps)
        self.frame_size = frame_size
        self.max_steps = max_steps
        self.render_mode = render_mode
        self.action_names = list(action_names)
        self.observation_space = spaces.Box(0, 255, (frame_size, frame_size, 3), np.uint8)
        self.action_space = spaces.Discrete(len(self.action_names))

    def render(self) -> np.ndarray | None:
        """The current frame for render_mode="rgb_array", else None."""
        return self.frame.copy() if self.render_mode == "rgb_array" else None
