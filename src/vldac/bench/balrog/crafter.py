"""Crafter as BALROG plays it: a 64x64 world seen as a 256x256 picture of the 9x9 local view and
described in words (the nearest thing of each kind in view, what the player faces; the status and
inventory as the current observation's status); progression = achievements unlocked / 22; 2,000
steps. Unlike BALROG, whose world ignores the episode seed, the world is made from the seed."""

from __future__ import annotations

import re

import numpy as np

from vldac.bench.balrog.game import Game, GameUnavailable, Observation

try:
    import crafter
except ImportError as error:
    raise GameUnavailable("Crafter needs crafter: pip install 'vldac[bench]'.") from error

ACTIONS = {
    "Noop": "do nothing",
    "Move West": "move west on flat ground",
    "Move East": "move east on flat ground",
    "Move North": "move north on flat ground",
    "Move South": "move south on flat ground",
    "Do": "Multiuse action to collect material, drink from lake and hit creature in front",
    "Sleep": "sleep when energy level is below maximum",
    "Place Stone": "place a stone in front",
    "Place Table": "place a table",
    "Place Furnace": "place a furnace",
    "Place Plant": "place a plant",
    "Make Wood Pickaxe": "craft a wood pickaxe with a nearby table and wood in inventory",
    "Make Stone Pickaxe": "craft a stone pickaxe with a nearby table, wood, and stone in inventory",
    "Make Iron Pickaxe": "craft an iron pickaxe with a nearby table and furnace, wood, coal, and iron in inventory",
    "Make Wood Sword": "craft a wood sword with a nearby table and wood in inventory",
    "Make Stone Sword": "craft a stone sword with a nearby table, wood, and stone in inventory",
    "Make Iron Sword": "craft an iron sword with a nearby table and furnace, wood, coal, and iron in inventory",
}
"""BALROG's action strings, in Crafter's action order, and the instruction's words for them."""
ACHIEVEMENTS = (
    "Collect Wood", "Place Table", "Eat Cow", "Collect Sapling", "Collect Drink", "Make Wood Pickaxe",
    "Make Wood Sword", "Place Plant", "Defeat Zombie", "Collect Stone", "Place Stone", "Eat Plant",
    "Defeat Skeleton", "Make Stone Pickaxe", "Make Stone Sword", "Wake Up", "Place Furnace", "Collect Coal",
    "Collect Iron", "Make Iron Pickaxe", "Make Iron Sword", "Collect Diamond",
)
VITALS = ("health", "food", "drink", "energy")
MAX_STEPS = 2000
AREA, VIEW, SIZE = (64, 64), (9, 9), (256, 256)


def progression(achievements: dict[str, int]) -> float:
    """Achievements unlocked at least once, over all 22."""
    return sum(count > 0 for count in achievements.values()) / len(ACHIEVEMENTS)


def _where(offset: np.ndarray) -> str:
    """An offset (east, south) in cells as BALROG words it: Manhattan steps and the directions."""
    dx, dy = int(offset[0]), int(offset[1])
    directions = "-".join([*(["north"] if dy < 0 else ["south"] if dy > 0 else []),
                           *(["west"] if dx < 0 else ["east"] if dx > 0 else [])])
    distance = abs(dx) + abs(dy)
    return f"{distance} step{'s' if distance > 1 else ''} to your {directions}"


def describe_surroundings(semantic: np.ndarray, names: list[str], position: np.ndarray, facing: np.ndarray) -> str:
    """What the player sees in the 9x7 cells around it (the local view above the inventory rows):
    the nearest thing of each kind, in the order met column by column, and what it faces.
    ``semantic`` [64, 64] material/object ids (x, y); ``names`` id -> lower-case name."""
    x, y = int(position[0]), int(position[1])
    view = semantic[x - VIEW[0] // 2 : x + VIEW[0] // 2 + 1, y - VIEW[1] // 2 + 1 : y + VIEW[1] // 2]
    center = np.array([VIEW[0] // 2, VIEW[1] // 2 - 1])
    target = center + facing
    if 0 <= target[0] < view.shape[0] and 0 <= target[1] < view.shape[1]:
        front = f"You face {names[view[target[0], target[1]]]} at your front."
    else:
        front = "You face nothing at your front."
    nearest: dict[str, str] = {}
    for i in range(view.shape[0]):
        for j in range(view.shape[1]):
            name = names[view[i, j]]
            if name == "player":
                continue
            where = _where(np.array([i, j]) - center)
            if name not in nearest or _distance(where) < _distance(nearest[name]):
                nearest[name] = where
    seen = "You see:\n" + "\n".join(f"- {name} {where}" for name, where in nearest.items()) if nearest else \
        "You see nothing away from you."
    return f"{seen}\n\n{front}"


def _distance(where: str) -> int:
    return sum(int(number) for number in re.findall(r"\d+", where))


def describe_status(inventory: dict[str, int]) -> str:
    """The vitals, then what the inventory holds."""
    vitals = "\n".join(f"- {name}: {inventory[name]}/9" for name in VITALS)
    items = "\n".join(f"- {name}: {count}" for name, count in inventory.items() if name not in VITALS and count)
    return f"Your status:\n{vitals}\n\n" + (f"Your inventory:\n{items}" if items else "You have nothing in your inventory.")


class CrafterGame(Game):
    environment = "crafter"
    default_action = "Noop"
    max_steps = MAX_STEPS

    def __init__(self, task: str = "default"):
        super().__init__(task)
        self.env: crafter.Env | None = None
        self.names: list[str] = []

    @property
    def actions(self) -> list[str]:
        return list(ACTIONS)

    def instruction(self) -> str:
        actions = ",\n".join(f"{name}: {words}" for name, words in ACTIONS.items())
        achievements = "\n".join(f"{number}. {name}" for number, name in enumerate(ACHIEVEMENTS, start=1))
        return (
            "You are an agent playing Crafter. The following are the only valid actions you can take in the game, "
            f"followed by a short description of each action:\n\n{actions}.\n\n"
            f"These are the game achievements you can get:\n{achievements}\n\n"
            "In a moment I will present a history of actions and observations from the game.\n"
            "Your goal is to get as far as possible by completing all the achievements.\n\n"
            "PLAY!"
        )

    def reset(self, seed: int) -> Observation:
        self.env = crafter.Env(area=AREA, view=VIEW, size=SIZE, reward=True, seed=seed)
        self.names = _item_names(self.env)
        self.env.reset()
        self.progression = 0.0
        observation, _ = self._play(0)  # BALROG's first observation follows one Noop
        return observation

    def step(self, action: str) -> tuple[Observation, bool]:
        observation, done = self._play(list(ACTIONS).index(action))
        return observation, done

    def _play(self, action: int) -> tuple[Observation, bool]:
        _, _, done, info = self.env.step(action)
        self.progression = progression(info["achievements"])
        player = self.env._player
        if player.sleeping:
            condition = "You are sleeping, and will not be able take actions until energy is full.\n\n"
        elif player.health <= 0:
            condition = "You died.\n\n"
        else:
            condition = ""
        try:
            surroundings = describe_surroundings(info["semantic"], self.names, info["player_pos"], np.array(player.facing))
            text = f"{condition}\n\n{surroundings}".strip()
        except (IndexError, ValueError):
            text = "Error, you are out of the map."
        return Observation(text, describe_status(info["inventory"]), self.env.render() if self.pictures else None), bool(done)


def _item_names(env: crafter.Env) -> list[str]:
    """Semantic id -> name: Crafter's materials, then its object classes in lower case."""
    names = [""] * (max([*env._world._mat_ids.values(), *env._sem_view._obj_ids.values()]) + 1)
    for name, index in env._world._mat_ids.items():
        names[index] = str(name)
    for cls, index in env._sem_view._obj_ids.items():
        names[index] = cls.__name__.lower()
    return names
