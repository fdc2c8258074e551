"""ALFWorld's official games, when a download is present: ``<data_dir>/json_2.1.1/<split>/<task
folder>/<trial>/`` with ``game.tw-pddl`` and ``traj_data.json`` (what ``alfworld-download`` writes).

Games are chosen as ALFWorld itself chooses them: every folder with both files, of the asked task
types, marked solvable in its game file, leaving out ALFRED's movable-receptacle and sliced-object
trials. Seeds pick games in a fixed (sorted) order, so held-out seeds 1,000,000, 1,000,001, ...
play the evaluation split's games one after another.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

from vldac.envs.alfworld.engine import GAME_FILE, TRAJECTORY_FILE

DATA_ENVIRONMENT_VARIABLE = "ALFWORLD_DATA"
SPLITS = ("train", "valid_seen", "valid_unseen")
TRAINING_SPLIT, HELD_OUT_SPLIT = "train", "valid_unseen"
"""The splits training seeds and held-out seeds play (valid_unseen: rooms never seen in training)."""
GAMES_FOLDER = "json_2.1.1"


def official_data_dir(data_dir: str | None) -> Path | None:
    """The official download to play: ``data_dir`` (which must hold one), else ``$ALFWORLD_DATA``
    when it holds one, else None (generated tasks). alfworld sets ``$ALFWORLD_DATA`` to its empty
    cache folder on import, so a folder without games there just means no download."""
    if data_dir:
        folder = Path(data_dir).expanduser()
        if not (folder / GAMES_FOLDER).is_dir():
            raise FileNotFoundError(
                f"env.kwargs.data_dir is {data_dir}, which has no {GAMES_FOLDER}/ folder; point it at an ALFWorld "
                "download (the folder alfworld-download fills) or leave it out to play generated tasks."
            )
        return folder
    from_environment = os.environ.get(DATA_ENVIRONMENT_VARIABLE)
    if from_environment and (Path(from_environment).expanduser() / GAMES_FOLDER).is_dir():
        return Path(from_environment).expanduser()
    return None


@cache
def official_games(data_dir: Path, split: str, task_types: tuple[str, ...]) -> tuple[tuple[Path, str], ...]:
    """(game file, task type) of every playable game of ``split`` with one of ``task_types``, sorted."""
    if split not in SPLITS:
        raise ValueError(f"ALFWorld split {split!r} is unknown; use one of {', '.join(SPLITS)}.")
    games = []
    for trajectory in sorted((data_dir / GAMES_FOLDER / split).glob(f"*/*/{TRAJECTORY_FILE}")):
        folder = trajectory.parent
        game_file = folder / GAME_FILE
        if "movable" in folder.parent.name or "Sliced" in folder.parent.name or not game_file.is_file():
            continue
        task_type = json.loads(trajectory.read_text())["task_type"]
        if task_type in task_types and json.loads(game_file.read_text()).get("solvable", False):
            games.append((game_file, task_type))
    if not games:
        raise FileNotFoundError(
            f"{data_dir / GAMES_FOLDER / split} holds no solvable game of task types {list(task_types)}; "
            "check the download is complete or choose other task types."
        )
    return tuple(games)


def official_game(data_dir: Path, index: int, split: str, task_types: tuple[str, ...]) -> tuple[Path, str]:
    """The ``index``-th game of ``split`` (cyclically): its game file and task type."""
    games = official_games(data_dir, split, task_types)
    return games[index % len(games)]


def task_text(intro: str) -> str:
    """The task as a game's opening text states it ("Your task is to: put a clean mug in a
    cabinet." -> "put a clean mug in a cabinet")."""
    return intro.rsplit("Your task is to:", 1)[-1].strip().rstrip(".")
