"""A BALROG game as the agent meets it: an instruction, observations in words (and a picture), the
action strings it accepts, the action played instead of an invalid answer, a step limit, and the
progression metric (0..1) the episode is scored by."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


class GameUnavailable(RuntimeError):
    """A game's package (an optional extra) is not installed."""


@dataclass
class Observation:
    """``text`` stays in the history; ``status`` (inventory, statistics) is shown with the current
    observation only; ``image`` [H, W, 3] uint8, or None for a text-only game."""

    text: str
    status: str = ""
    image: np.ndarray | None = None


class Game(ABC):
    """One task of one environment, played episode after episode (``reset`` starts the next)."""

    environment: str
    default_action: str
    max_steps: int
    """BALROG's step limit for this task (read after ``reset``: BabyAI's depends on the mission)."""

    def __init__(self, task: str):
        self.task = task
        self.progression = 0.0
        self.pictures = True
        """Whether observations carry their picture (off when the prompt shows none)."""

    @abstractmethod
    def instruction(self) -> str:
        """The game's instruction prompt (BALROG's text), for the episode ``reset`` started."""

    @property
    @abstractmethod
    def actions(self) -> list[str]:
        """The action strings the game accepts, in the order the instruction lists them."""

    def is_valid(self, action: str) -> bool:
        """BALROG's check: exact membership, case and spaces included."""
        return action in self.actions

    @abstractmethod
    def reset(self, seed: int) -> Observation:
        """Start an episode on ``seed`` (the same seed gives the same episode); progression 0."""

    @abstractmethod
    def step(self, action: str) -> tuple[Observation, bool]:
        """Play one valid action; (the next observation, whether the episode is over).
        ``progression`` is updated."""

    def close(self) -> None:
        """Release the game's resources."""
