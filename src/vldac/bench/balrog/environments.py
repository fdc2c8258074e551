"""BALROG's environments as vldac plays them: tasks, episodes per task, and the game that plays them."""

from __future__ import annotations

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
                                 "MiniHack-CorridorBattle-Dark-v0", "MiniHack-Quest-Easy-v0",
                                 "MiniHack-Quest-Medium-v0"), 5, "vldac.bench.balrog.nethack", "MiniHackGame"),
        Environment("nle", ("NetHackChallenge-v0",), 5, "vldac.bench.balrog.nethack", "NetHackGame"),
    )
}
"""In the order the table prints them (BALROG's, without Baba Is AI: it is not on PyPI). MiniHack's
two Boxoban tasks need DeepMind's level files and are not played."""


def environments_named(names: list[str] | None) -> list[Environment]:
    """The environments ``names`` lists (all when None), in table order."""
    if not names:
        return list(ENVIRONMENTS.values())
    unknown = [name for name in names if name not in ENVIRONMENTS]
    if unknown:
        raise ValueError(f"BALROG environment(s) {', '.join(unknown)} unknown; choose from {', '.join(ENVIRONMENTS)}.")
    return [environment for name, environment in ENVIRONMENTS.items() if name in names]
