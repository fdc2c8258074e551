"""One ALFWorld game on the real engine: TextWorld's PddlEnv (the Fast Downward planner inside)
with ALFWorld's own wrappers (names demangled to "apple 1", the task's infos, the expert).

A game is two small files in a folder of its own, as ALFWorld lays out its data:
``game.tw-pddl`` (JSON: the ALFRED domain, the grammar with the task's text, the problem) and
``traj_data.json`` (the task type and pddl_params, which ALFWorld's handcoded expert reads).
"""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path

INSTALL_EXTRA = "pip install 'vldac[alfworld]'"
GAME_FILE = "game.tw-pddl"
TRAJECTORY_FILE = "traj_data.json"


class ALFWorldUnavailable(RuntimeError):
    """The alfworld / textworld[pddl] packages are missing."""


def check_alfworld() -> None:
    """One sentence when the extra is missing."""
    try:
        import alfworld  # noqa: F401
        import fast_downward  # noqa: F401
        import textworld  # noqa: F401
    except ImportError as error:
        raise ALFWorldUnavailable(
            f"ALFWorld worlds need the optional extra ({error.name} is missing); install it with {INSTALL_EXTRA}."
        ) from None


def alfred_data(name: str) -> str:
    """A file of ALFWorld's data shipped in its wheel (the PDDL domain, the grammar)."""
    return resources.files("alfworld").joinpath("data", name).read_text()


def write_game(folder: Path, problem: str, task_text: str, task_type: str, params: dict) -> Path:
    """Write one game's files into ``folder``; returns the game file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    grammar = alfred_data("alfred.twl2").replace("UNKNOWN GOAL", task_text)
    game = {"pddl_domain": alfred_data("alfred.pddl"), "grammar": grammar, "pddl_problem": problem}
    (folder / GAME_FILE).write_text(json.dumps(game))
    (folder / TRAJECTORY_FILE).write_text(json.dumps({"task_type": task_type, "pddl_params": params}))
    return folder / GAME_FILE


def _memoized(parse):
    """``parse`` (a pure function of its text) computed once per text; each call gets its own copy,
    since TextWorld writes into the parsed symbols it derives."""
    parsed = {}

    def memoized_parse(*args, **kwargs):
        key = (args, tuple(sorted(kwargs.items())))
        if key not in parsed:
            parsed[key] = parse(*args, **kwargs)
        return copy.deepcopy(parsed[key])

    memoized_parse.memoizes = parse
    return memoized_parse


def memoize_grammar_parsing() -> None:
    """Parse the texts TextWorld parses at every step once per process instead.

    TextWorld re-parses (with tatsu) the text template of every admissible command and every
    grammar condition at each step; those texts repeat, and the parses were over half of a step's
    time (benchmarks/RESULTS.md: 5.7 -> 11.0 world steps/s with resets). The commands, feedback
    and frames are the same as without it (tests/worlds/test_alfworld.py plays both). Loading a game
    still parses its whole grammar once.
    """
    from textworld import logic
    from textworld.envs.pddl import textgen

    for module in (textgen, logic):
        if not hasattr(module._parse_and_convert, "memoizes"):
            module._parse_and_convert = _memoized(module._parse_and_convert)


def start_game(game_file: Path, handcoded_expert: bool = True):
    """The TextWorld env of a game file with ALFWorld's wrappers; with ``handcoded_expert``, ALFWorld's
    heuristic expert gives its next command in every state's ``extra.expert_plan``."""
    import textworld
    from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredExpert, AlfredExpertType, AlfredInfos

    memoize_grammar_parsing()
    infos = textworld.EnvInfos(admissible_commands=True, facts=True, won=True, extras=["gamefile", "expert_plan"])
    wrappers = [AlfredDemangler(shuffle=False), AlfredInfos]
    if handcoded_expert:
        wrappers.append(lambda inner: AlfredExpert(inner, AlfredExpertType.HANDCODED))
    return textworld.start(str(game_file), request_infos=infos, wrappers=wrappers)


def planner_plan(game) -> list[str]:
    """The planner's commands from the game's current state to the goal (empty when it finds none):
    Fast Downward on the state, through TextWorld's PddlEnv."""
    engine = game.unwrapped
    return list(engine._pddl_state.replan(engine._entity_infos))
