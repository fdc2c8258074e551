"""TextWorld as BALROG plays it: treasure_hunter, the_cooking_game and coin_collector, 80 steps,
any command accepted, progression max(score / max score, 1 if won).

BALROG downloads a fixed set of games; here each episode's game is made offline from its seed with
TextWorld's own challenge generators, with the settings BALROG's set was made with (treasure hunter
level 30, coin collector level 220, the cooking game with 5 ingredients to take, 12 rooms, opening,
cooking and cutting, test split), and kept in a games folder so that it is made once. ``settings``
replaces a task's generator settings (smaller games for tests).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from vldac.bench.balrog.game import Game, GameUnavailable, Observation

try:
    import textworld
    import textworld.gym
    from textworld import EnvInfos, GameOptions
    from textworld.challenges import CHALLENGES
except ImportError as error:
    raise GameUnavailable("TextWorld needs textworld: pip install 'vldac[bench]'.") from error

MAX_STEPS = 80
GENERATORS = {
    "treasure_hunter": ("tw-treasure_hunter", {"level": 30}),
    "the_cooking_game": ("tw-cooking", {"recipe": 5, "take": 5, "go": 12, "open": True, "cook": True, "cut": True,
                                        "drop": False, "split": "test", "recipe_seed": 0}),
    "coin_collector": ("tw-coin_collector", {"level": 220}),
}
GAMES_DIR_VARIABLE = "VLDAC_TEXTWORLD_GAMES"

INSTRUCTIONS = {
    "treasure_hunter": (
        "You are an agent playing TextWorld, a text-based adventure game where you are in a randomly generated "
        "maze and must find a specific object. You need to explore different rooms to find the target object. "
        "Here are the available commands: look: describe the current room. goal: print the goal of this game "
        "inventory: print the player’s inventory go <dir>: move the player north, east, south, or west. You can "
        "only go in the direction indicated with an exit or a door. open ...: open a door or a container. You need "
        "to open a closed door before you want to go through it. drop ...: drop an object on the floor take ...: "
        "take an object that is visible. Make sure the object is visible to take. put ... on ...: place an object "
        "on a supporter take ... from ...: take an object from a container or a supporter insert ... into ...: "
        "place an object into a container unlock ... with ...: unlock a door or a container with a key. You need "
        "to unlock a locked door with a matched key in your inventory before you want to open it.\n"
        "- The target object might be located in a closed or locked container. - The adjective is useful for "
        "determining whether the key is matched with the lock (e.g. non-euclidean keycard is matched with "
        "non-euclidean safe). Make sure it is matched to unlock! - The key required to unlock the door may be in "
        "another room or locked inside a container. - Take the key whenever you can. - After unlocking a locked "
        "door or container, it will remain closed. You will then need to open it.\n"
        "You have 40 steps to complete the task. Restarting is forbidden."
    ),
    "the_cooking_game": (
        "You are an agent playing TextWorld, a text-based adventure game where you navigate through different "
        "rooms, interact with objects, and solve puzzles. Your goal is to first find the recipe, find and prepare "
        "food according to the recipe, and finally prepare and eat the meal.\n"
        "Here are the available commands: look: describe the current room goal: print the goal of this game "
        "inventory: print player’s inventory go <dir>: move the player north, east, south or west. You can only "
        "go to directions indicated with an exit or a door. examine ...: examine something more closely eat ...: "
        "eat edible food open ...: open a door or a container. You need to open a closed door before you can go "
        "through it. drop ...: drop an object onto the floor take ...: take an object that is visible put ... on "
        "...: place an object on a supporter take ... from ...: take an object from a container or a supporter "
        "insert ... into ...: place an object into a container lock ... with ...: lock a door or a container with "
        "a key unlock ... with ...: unlock a door or a container with a key cook ... with ...: cook cookable food "
        "with something providing heat slice ... with ...: slice cuttable food with something sharp chop ... "
        "with ...: chop cuttable food with something sharp dice ... with ...: dice cuttable food with something "
        "sharp prepare meal: combine ingredients from inventory into a meal. You can only prepare meals in the "
        "Kitchen.\n"
        "- You can examine the cookbook to see the recipe when it is visible. - The BBQ is for grilling things, "
        "the stove is for frying things, the oven is for roasting things. Cooking ingredients in the wrong way "
        "will lead to a failure of the game. - Once you have got processed ingredients and the appropriate "
        "cooking tool ready, cook all of them according to the recipe. - There are two conditions to correctly "
        "cook something (grill/fry/roast): a) the ingredient you want to cook is in your inventory and b) there "
        "is a suitable cooking tool in the room, and then use ‘cook . . . with . . . ’ command. - When you need "
        "to chop/slice/dice ingredients, you need to take the knife and the ingredient in your inventory and then "
        "‘slice/chop/dice ... with knife’ - Make sure to first process the food (chop/slice/dice) before you try "
        "to cook them. - When you have all the ingredients (that got processed or cooked according to the menu), "
        "you can ‘prepare meal’ in the kitchen and then ‘eat meal’ to win the game. - The ingredients should "
        "EXACTLY match the color in the recipe, but if the recipe doesn’t specify color, any color would be "
        "fine. When you ‘take ... with ...’, use the EXACT name you see. - You don’t need to examine the "
        "container/supporter (e.g. toolbox) when it says something like \"there isn’t a thing on it\"/\"has "
        "nothing on it\"\n"
        "You have 80 steps to complete the task. Restarting is forbidden."
    ),
    "coin_collector": (
        "You are an agent playing TextWorld, a text-based adventure game where you are in a randomly generated "
        "maze and must find the coin. You need to explore different rooms to find the target object.\n"
        "Here are the available commands: goal: print the goal of this game go <dir>: move the player north, "
        "east, south, or west. You can only go in the direction indicated with something like an exit or a door. "
        "take coin: 2in the game by ‘take coin’ if you see the coin in the room\n"
        "The only action you can do is go <dir> to explore the maze and ‘take coin’ when you see the coin in the "
        "room.\n"
        "You have 25 steps to complete the task. Restarting is forbidden."
    ),
}
"""BALROG's instructions (its step counts included, though every task runs 80 steps), as flowing
text: BALROG's copies carry the indentation of its source file."""


def default_games_dir() -> Path:
    """Where made games are kept: $VLDAC_TEXTWORLD_GAMES, else ~/.cache/vldac/textworld-games."""
    return Path(os.environ.get(GAMES_DIR_VARIABLE) or Path.home() / ".cache" / "vldac" / "textworld-games")


def make_game(task: str, seed: int, games_dir: Path) -> Path:
    """The game file of ``task`` for ``seed``, made (once) by TextWorld's generator."""
    challenge, settings = GENERATORS[task]
    name = "-".join(f"{key}{value}" for key, value in sorted(settings.items()))
    path = games_dir / task / name / f"seed{seed}.z8"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"Making TextWorld {task} game for seed {seed} (once; kept in {path.parent})", file=sys.stderr)
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        options = GameOptions()
        options.seeds = seed
        options.path = str(Path(scratch) / path.name)
        options.force_recompile = True
        made = Path(textworld.generator.compile_game(CHALLENGES[challenge][1](settings, options), options))
        made.with_suffix(".json").replace(path.with_suffix(".json"))  # the game's metadata: objective, max score
        made.replace(path)
    return path


class TextWorldGame(Game):
    environment = "textworld"
    default_action = "help"
    max_steps = MAX_STEPS

    def __init__(self, task: str):
        super().__init__(task)
        self.games_dir = default_games_dir()
        self.env = None
        self.objective = ""

    @property
    def actions(self) -> list[str]:
        return []

    def is_valid(self, action: str) -> bool:
        """TextWorld takes any text as a command (the game answers what it cannot do)."""
        return True

    def instruction(self) -> str:
        return INSTRUCTIONS[self.task]

    def reset(self, seed: int) -> Observation:
        self.close()
        path = make_game(self.task, seed, self.games_dir)
        infos = EnvInfos(objective=True, score=True, max_score=True, won=True, lost=True)
        self.env = textworld.gym.make(textworld.gym.register_game(str(path), request_infos=infos))
        feedback, info = self.env.reset()
        self.objective = info["objective"] or ""
        self.progression = 0.0
        return self._observation(feedback)

    def step(self, action: str) -> tuple[Observation, bool]:
        feedback, score, done, info = self.env.step(action)
        self.progression = max(score / info["max_score"] if info["max_score"] else 0.0, 1.0 if info["won"] else 0.0)
        return self._observation(feedback), bool(done or info["won"] or info["lost"])

    def _observation(self, feedback: str) -> Observation:
        """The game's text after its objective (BALROG cuts the banner and the goal from the first
        observation: the agent asks for the goal with "goal")."""
        return Observation((feedback.split(self.objective)[-1] if self.objective else feedback).strip())

    def close(self) -> None:
        if self.env is not None:
            self.env.close()
            self.env = None
