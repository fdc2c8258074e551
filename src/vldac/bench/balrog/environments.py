"""BALROG's environments as vldac plays them: tasks, episodes per task, and the game that plays them."""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass

from vldac.bench.balrog.game import Game


@dataclass(frozen=True)
class Environment:
    """``module``.``game`` is the Game class; ``episodes`` BALROG's count per task."""

    name: str
    tasks: tuple[str, ...]
    episodes: int
    module: str
    game: str

    def make(self, task: str, **options) -> Game:
        """A game of ``task``; GameUnavailable (one sentence naming the extra) when its package is missing."""
        if task not in self.tasks:
            raise ValueError(f"{self.name} task '{task}' is unknown; use one of {', '.join(self.tasks)}.")
        return getattr(importlib.import_module(self.module), self.game)(task, **options)


ENVIRONMENTS = {
    environment.name: environment
    for environment in (
        Environment("babyai", ("goto", "pickup", "open", "putnext", "pick_up_seq_go_to"), 10,
                    "vldac.bench.balrog.babyai", "BabyAIGame"),
        Environment("crafter", ("default",), 10, "vldac.bench.balrog.crafter", "CrafterGame"),
        Environment("textworld", ("treasure_hunter", "the_cooking_game", "coin_collector"), 10,
                    "vldac.bench.balrog.textworld_games", "TextWorldGame"),
        Environment("minihack", ("MiniHack-MazeWalk-9x9-v0", "MiniHack-MazeWalk-15x15-v0", "MiniHack-Corridor-R3-v0",
                                 "MiniHack-CorridorBattle-Dark-v0", "MiniHack-Quest-Easy-v0", "MiniHack-Quest-Medium-v0",
                                 "MiniHack-Boxoban-Hard-v0", "MiniHack-Boxoban-Medium-v0"), 5,
                    "vldac.bench.balrog.nethack", "MiniHackGame"),
        Environment("nle", ("NetHackChallenge-v0",), 5, "vldac.bench.balrog.nethack", "NetHackGame"),
    )
}
"""In the order the table prints them (BALROG's, without Baba Is AI: it is not on PyPI)."""


def playable(environment: Environment) -> tuple[Environment, list[str]]:
    """``environment`` with the tasks whose data is missing here left out (its game module's
    ``missing_data(task)`` says why), and the reasons."""
    module = importlib.import_module(environment.module)  # GameUnavailable names the missing extra
    missing = getattr(module, "missing_data", lambda task: None)
    reasons = [reason for reason in map(missing, environment.tasks) if reason]
    tasks = tuple(task for task in environment.tasks if not missing(task))
    return dataclasses.replace(environment, tasks=tasks), reasons


def environments_named(names: list[str] | None) -> list[Environment]:
    """The environments ``names`` lists (all when None), in table order."""
    if not names:
        return list(ENVIRONMENTS.values())
    unknown = [name for name in names if name not in ENVIRONMENTS]
    if unknown:
        raise ValueError(f"BALROG environment(s) {', '.join(unknown)} unknown; choose from {', '.join(ENVIRONMENTS)}.")
    return [environment for name, environment in ENVIRONMENTS.items() if name in names]
