"""MiniHack and NetHack (NLE's NetHackChallenge) as BALROG plays them.

An observation is NetHack's screen in words (``nethack_language``): with pictures (a VLM, BALROG's
"language" mode) the message, the language observation and the cursor, with the statistics and
the inventory as the current observation's status, and the map drawn in NetHack's 16x16 tiles
(minihack's tile set) as the picture; without pictures (BALROG's "hybrid" mode) the terminal's map
as text and the cursor's column and row instead of the statistics and the picture. Messages that
end in --More-- are read on (the "more" key pressed) before the agent answers, as BALROG does.

Actions are BALROG's words: MiniHack's task's actions among its list (north, far east, open,
kick, ...), NetHack's 86 useful actions by name and the single letters and digits (item and menu
choices, sent as those keys); BALROG's two-digit answers are left out (its own wrapper cannot send
them). Invalid answers play "north" (MiniHack) or "esc" (NetHack). Progression: MiniHack 1 when
the last step's reward is 1 or more (the task done); NetHack the highest of BALROG's values for the
dungeon levels and experience levels reached. Episodes are seeded (NetHack's core and display
random streams both from the episode's seed). MiniHack's Boxoban tasks play when DeepMind's level
files are installed where minihack reads them (``missing_data`` says where otherwise).
"""

from __future__ import annotations

import json
import random
import warnings
from pathlib import Path

import numpy as np

from vldac.bench.balrog.game import Game, GameUnavailable, Observation
from vldac.bench.balrog.nethack_language import (
    describe_cursor,
    describe_glyphs,
    describe_inventory,
    describe_message,
    describe_statistics,
)

try:
    import gymnasium
    from gymnasium.envs.registration import load_env_creator
    from nle.nethack import USEFUL_ACTIONS
    from nle.nethack import actions as nle_actions

    with warnings.catch_warnings():  # minihack 1.0.2 imports setuptools' deprecated pkg_resources
        warnings.simplefilter("ignore", UserWarning)
        import minihack  # noqa: F401  (registers MiniHack-*)
        from minihack.tiles import glyph2tile
        from minihack.tiles.glyph_mapper import GlyphMapper
except ImportError as error:
    raise GameUnavailable("MiniHack and NetHack need nle and minihack: pip install --no-deps nle==1.3.0 "
                          "minihack==1.0.2 (see the README's 'vldac bench' set-up).") from error

OBSERVATION_KEYS = ("glyphs", "blstats", "tty_chars", "inv_letters", "inv_strs", "tty_cursor", "tty_colors")
MINIHACK_SETTINGS = dict(character="@", max_episode_steps=100, penalty_step=-0.01, penalty_time=0.0,
                         penalty_mode="constant", autopickup=False, savedir=None, save_ttyrec_every=0)
NETHACK_SETTINGS = dict(character="@", max_episode_steps=100_000, no_progress_timeout=150, savedir=None,
                        save_ttyrec_every=0)
"""BALROG's environment settings (its config's minihack_kwargs and nle_kwargs)."""

MOVES = {"north": "move north", "east": "move east", "south": "move south", "west": "move west",
         "northeast": "move northeast", "southeast": "move southeast", "southwest": "move southwest",
         "northwest": "move northwest", "far north": "move far north", "far east": "move far east",
         "far south": "move far south", "far west": "move far west", "far northeast": "move far northeast",
         "far southeast": "move far southeast", "far southwest": "move far southwest",
         "far northwest": "move far northwest"}
MINIHACK_ACTIONS = {
    **MOVES, "up": "go up the stairs", "down": "go down the stairs", "wait": "rest one move while doing nothing",
    "more": "display more of the message", "apply": "apply (use) a tool", "close": "close an adjacent door",
    "open": "open an adjacent door", "eat": "eat something", "force": "force a lock",
    "kick": "kick an enemy or a locked door or chest", "loot": "loot a box on the floor",
    "pickup": "pick up things at the current location if there are any", "pray": "pray to the gods for help",
    "puton": "put on an accessory", "quaff": "quaff (drink) something",
    "search": "search for hidden doors and passages", "zap": "zap a wand",
}
"""BALROG's MiniHack actions and their descriptions; a task offers those its action set has."""
NETHACK_INSTRUCTION_ACTIONS = {
    **MOVES, "up": "go up a staircase",
    "down": "go down a staircase (tip: you can only go down if you are standing on the stairs)",
    "wait": "rest one move while doing nothing",
    "more": "display more of the message (tip: ONLY ever use when current message ends with --More--)",
    "annotate": "leave a note about the level", "apply": "apply (use) a tool",
    "call": "name a monster or object, or add an annotation", "cast": "cast a spell",
    "close": "close an adjacent door", "open": "open an adjacent door", "dip": "dip an object into something",
    "drop": "drop an item", "droptype": "drop specific item types (specify in the next prompt)",
    "eat": "eat something (tip: replenish food when hungry)", "esc": "exit menu or message",
    "engrave": "engrave writing on the floor (tip: Elbereth)", "enhance": "advance or check weapons skills",
    "fire": "fire ammunition from quiver", "fight": "fight a monster (even if you only guess one is there)",
    "force": "force a lock", "inventory": "show your inventory", "invoke": "invoke ", "jump": "jump to a location",
    "kick": "kick an enemy or a locked door or chest", "look": "look at what is under you",
    "loot": "loot a box on the floor", "monster": "use a monster's special ability (when polymorphed)",
    "offer": "offer a sacrifice to the gods (tip: on an aligned altar)",
    "overview": "display an overview of the dungeon", "pay": "pay your shopping bill",
    "pickup": "pick up things at the current location", "pray": "pray to the gods for help",
    "puton": "put on an accessory", "quaff": "quaff (drink) something", "quiver": "select ammunition for quiver",
    "read": "read a scroll or spellbook", "remove": "remove an accessory", "rub": "rub a lamp or a stone",
    "search": "search for hidden doors and passages", "swap": "swap wielded and secondary weapons",
    "takeoff": "take off one piece of armor", "takeoffall": "take off all armor",
    "teleport": "teleport to another level (if you have the ability)",
    "throw": "throw something (e.g. a dagger or dart)",
    "travel": "travel to a specific location on the map (tip: in the next action, specify > or < for stairs, "
              "{ for fountain, and _ for altar)",
    "twoweapon": "toggle two-weapon combat", "untrap": "untrap something", "wear": "wear a piece of armor",
    "wield": "wield a weapon", "wipe": "wipe off your face", "zap": "zap a wand", "minus": "-", "space": " ",
    "apos": "'", **{str(digit): str(digit) for digit in range(10)},
}
"""The action list BALROG's NetHack instruction shows (fixed; the valid answers are the useful actions)."""
NETHACK_TIPS = """Tips:
- When the message asks for a completion, such as: "What do you want to eat? [d or ?*]", you should respond with a single character corresponding to the item you want to eat/use.
    - For example, "What do you want to eat? [dgh or ?*]" -> Possible answers are "d", "g", or "h" to eat the associated food.
- When the message asks for a direction, such as: "In what direction?" you should respond with a direction.
- When the message has --More-- at the end, your next action should be "more" to see the rest of the message.
- Explore the environment to find the stairs down to the next level.
- Always carefully read the last message to understand the current state of the game and decide your next action accordingly.
- If you keep moving in the same direction, you will eventually hit a wall and stop moving. Your message might be: "It's solid stone", or "It's a wall". Change your action to move in another direction to continue exploring the environment.
- Read the language observation carefully and look at ascii map or image observation provided to decide the next action to take and where to move next.
- You can attack monsters by moving into them."""  # noqa: E501  (BALROG's text, line for line)
MINIHACK_GOALS = (
    ("corridor", "Your goal is to explore the level and reach the stairs down"),
    ("quest", "Your goal is to explore the level, fight monsters, and navigate rooms and mazes to ultimately reach "
              "the stairs down."),
    ("boxoban", "You are playing Boxoban, a box-pushing game inspired by Sokoban. Your goal is to push the boulders "
                "onto the fountains on the map. You can push the boulders by walking into them, as long as there are "
                "no obstacles behind them."),
)
"""BALROG's goal sentence by a word of the task's name (else "get as far as possible")."""
DIRECTION_WORDS = {"N": "north", "E": "east", "S": "south", "W": "west", "NE": "northeast", "SE": "southeast",
                   "SW": "southwest", "NW": "northwest"}
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
PROGRESSION = json.loads((Path(__file__).parent / "nethack_progression.json").read_text())["progression"]
"""BALROG's NetHack progression credited for reaching "Dlvl:N" (dungeon level) or "Xp:N" (experience level)."""
TILE_SIZE = 16


def action_name(action) -> str:
    """The word BALROG (nle-language-wrapper) names an NLE action by."""
    kind = type(action).__name__
    if kind.startswith("Compass"):
        return ("far " if kind.endswith("Longer") else "") + DIRECTION_WORDS[action.name]
    if kind == "TextCharacters" and action.name.startswith("NUM_"):
        return DIGIT_WORDS[int(action.name[4:])]
    if action is nle_actions.Command.TURN:
        return "turnundead"
    return action.name.lower()


class _Tiles:
    """NetHack's 16x16 tiles (minihack's set), to draw a map of glyphs [21, 79] as [336, 1264, 3]."""

    table: np.ndarray | None = None

    @classmethod
    def draw(cls, glyphs: np.ndarray) -> np.ndarray:
        if cls.table is None:
            tiles = GlyphMapper().tiles
            cls.table = np.stack([tiles[index] for index in range(len(tiles))])
        rows, columns = glyphs.shape
        pictures = cls.table[np.asarray(glyph2tile)[glyphs]]  # [21, 79, 16, 16, 3]
        return np.ascontiguousarray(pictures.transpose(0, 2, 1, 3, 4).reshape(rows * TILE_SIZE, columns * TILE_SIZE, 3))


class NLEGame(Game):
    """A NetHack-engine game made from its registered gymnasium id, built from its class so that
    BALROG's step limit reaches it (gymnasium 1.x's make would keep max_episode_steps for itself)."""

    settings: dict

    def __init__(self, task: str):
        super().__init__(task)
        spec = gymnasium.spec(task)
        environment_class = self.environment_class(load_env_creator(spec.entry_point))
        self.env = environment_class(**spec.kwargs, observation_keys=OBSERVATION_KEYS, **self.settings)
        self.max_steps = self.env._max_episode_steps
        self.indices = {action: self.key_index(action) for action in self.actions}
        self.more = (self.env.actions.index(nle_actions.MiscAction.MORE)
                     if nle_actions.MiscAction.MORE in self.env.actions else None)

    def environment_class(self, registered: type) -> type:
        """The class the game is made of: the registered one."""
        return registered

    def key_index(self, action: str) -> int:
        """The index in the game's action set of an action word or a single key."""
        for index, candidate in enumerate(self.env.actions):
            if (len(action) == 1 and int(candidate) == ord(action)) or action_name(candidate) == action:
                return index
        raise ValueError(f"{self.task} cannot send '{action}'.")

    def seed(self, seed: int) -> None:
        self.env.seed(seed, seed, reseed=False)

    def reset(self, seed: int) -> Observation:
        self.seed(seed)
        observation, _ = self.env.reset()
        self.progression = 0.0
        self.on_reset()
        return self._observe(observation, describe_message(observation["tty_chars"]))

    def step(self, action: str) -> tuple[Observation, bool]:
        observation, reward, terminated, truncated, _ = self.env.step(self.indices[action])
        done = terminated or truncated
        message = describe_message(observation["tty_chars"])
        while "--More--" in message and not done and self.more is not None:
            message = message.replace("--More--", "\n")
            observation, more_reward, terminated, truncated, _ = self.env.step(self.more)
            done = terminated or truncated
            reward += more_reward
            message += describe_message(observation["tty_chars"])
        self.progress(observation, float(reward))
        return self._observe(observation, message), bool(done)

    def on_reset(self) -> None:
        """What a new episode's progression tracking starts from."""

    def progress(self, observation: dict, reward: float) -> None:
        """Update ``progression`` after a step."""

    def _observe(self, observation: dict, message: str) -> Observation:
        glyphs, blstats, cursor = observation["glyphs"], observation["blstats"], observation["tty_cursor"]
        sections = {"message": message, "language observation": describe_glyphs(glyphs, blstats),
                    "cursor": describe_cursor(glyphs, blstats, cursor)}
        if self.pictures:
            status = {"statistics": describe_statistics(blstats)}
        else:
            sections["cursor"] += f"\n(x={cursor[1]}, y={cursor[0]})"
            rows = [bytes(row).decode("latin-1") for row in observation["tty_chars"]]
            sections["map"] = "\n".join(rows[1:]) + "\n"
            status = {}
        status["inventory"] = describe_inventory(observation["inv_strs"], observation["inv_letters"])
        return Observation(_sections(sections), _sections(status), _Tiles.draw(glyphs) if self.pictures else None)

    def close(self) -> None:
        self.env.close()


def _sections(named: dict[str, str]) -> str:
    """BALROG's layout: "<name>:\\n<text>\\n" per section, sections joined by a newline."""
    return "\n".join(f"{name}:\n{text}\n" for name, text in named.items())


BOXOBAN_LEVELS = {"MiniHack-Boxoban-Hard-v0": ("hard", ""), "MiniHack-Boxoban-Medium-v0": ("medium", "train")}
"""Where under minihack's level folder each Boxoban task reads DeepMind's level files."""


def boxoban_levels(task: str) -> Path:
    """The folder of a Boxoban task's level files (minihack's dat/boxoban-levels-master/<set>/<mode>,
    where minihack's download script puts DeepMind's boxoban-levels)."""
    from minihack.envs import boxohack

    return Path(boxohack.LEVELS_PATH).joinpath(*BOXOBAN_LEVELS[task])


def missing_data(task: str) -> str | None:
    """Why ``task`` cannot be played here (its level files are missing), or None."""
    if task in BOXOBAN_LEVELS and not any(boxoban_levels(task).glob("*.txt")):
        return (f"{task} needs DeepMind's Boxoban level files in {boxoban_levels(task)} "
                "(python -m minihack.scripts.download_boxoban_levels, or copy deepmind/boxoban-levels there)")
    return None


class MiniHackGame(NLEGame):
    environment = "minihack"
    default_action = "north"
    settings = MINIHACK_SETTINGS

    def environment_class(self, registered: type) -> type:
        """Boxoban's class, minihack 1.0.2's, reads its goal squares before its reset sets them under
        nle 1.3.0: a subclass starts them unset (None, which matches no squares)."""
        if self.task in BOXOBAN_LEVELS:
            return type(registered.__name__, (registered,), {"_goal_pos_set": None})
        return registered

    def seed(self, seed: int) -> None:
        super().seed(seed)
        random.seed(seed)  # Boxoban draws its level with Python's random, as BALROG seeds it

    @property
    def actions(self) -> list[str]:
        names = [action_name(action) for action in self.env.actions]
        return list(dict.fromkeys(name for name in names if name in MINIHACK_ACTIONS))

    def instruction(self) -> str:
        goal = next((sentence for word, sentence in MINIHACK_GOALS if word in self.task.lower()),
                    "Your goal is to get as far as possible in the game.")
        actions = ",\n".join(f"{name}: {MINIHACK_ACTIONS[name]}" for name in self.actions)
        return (
            "You are an agent playing MiniHack. The following are the possible actions you can take in the game, "
            f"followed by a short description of each action:\n\n{actions}.\n\n"
            "In a moment I will present a history of actions and observations from the game.\n\n"
            "Tip: there is no point in outputting the same action over and over if nothing changes.\n\n"
            f"{goal}\n\nPLAY!"
        )

    def progress(self, observation: dict, reward: float) -> None:
        self.progression = 1.0 if reward >= 1.0 else 0.0


class NetHackGame(NLEGame):
    environment = "nle"
    default_action = "esc"
    settings = NETHACK_SETTINGS

    def __init__(self, task: str = "NetHackChallenge-v0"):
        super().__init__(task)
        self.reached: set[str] = set()

    @property
    def actions(self) -> list[str]:
        keys = [chr(code) for code in (*range(ord("a"), ord("z") + 1), *range(ord("A"), ord("Z") + 1))]
        return [*(action_name(action) for action in USEFUL_ACTIONS), *keys, *(str(digit) for digit in range(10))]

    def instruction(self) -> str:
        actions = ",\n".join(f"{name}: {words}" for name, words in NETHACK_INSTRUCTION_ACTIONS.items())
        return (
            "You are an agent playing NetHack. The following are the possible actions you can take in the game, "
            f"followed by a short description of each action:\n\n{actions}.\n\n{NETHACK_TIPS}\n\n"
            "In a moment I will present a history of actions and observations from the game.\n"
            "Your goal is to get as far as possible in the game.\n\nPLAY!"
        )

    def seed(self, seed: int) -> None:
        # NetHackChallenge refuses seed(); its engine's own method still sets both random streams.
        engine = self.env.nethack
        type(engine).set_initial_seeds(engine, seed, seed, False)

    def on_reset(self) -> None:
        self.reached = set()

    def progress(self, observation: dict, reward: float) -> None:
        blstats = observation["blstats"]
        for reached in (f"Xp:{int(blstats[18])}", f"Dlvl:{int(blstats[12])}"):
            if reached not in self.reached and reached in PROGRESSION:
                self.reached.add(reached)
                self.progression = max(self.progression, PROGRESSION[reached])

