"""BALROG's games through vldac's harness (BabyAI, Crafter, TextWorld), on the real packages.

Needs the extra vldac[bench]; .ci/run installs it and sets VLDAC_REQUIRE_BENCH=1, so that there a
missing game fails these tests instead of skipping them.
"""

from __future__ import annotations

import importlib.util
import json
import os

import numpy as np
import pytest

from vldac.bench.balrog.agents import Agent
from vldac.bench.balrog.environments import ENVIRONMENTS
from vldac.bench.balrog.episode import Episode

INSTALLED = all(importlib.util.find_spec(name) for name in ("minigrid", "crafter", "textworld"))
if not INSTALLED and os.environ.get("VLDAC_REQUIRE_BENCH") != "1":
    pytest.skip("the bench extra is not installed (pip install -e '.[bench]')", allow_module_level=True)


def texts(messages):
    return [part["text"] for message in messages for part in message["content"] if part["type"] == "text"]



def test_babyai_tasks_are_solved_by_minigrids_bot_through_the_harness():
    from minigrid.utils.baby_ai_bot import BabyAIBot

    from vldac.bench.balrog.babyai import ACTIONS

    babyai = ENVIRONMENTS["babyai"]
    limits = {}
    for task in babyai.tasks:
        game = babyai.make(task)
        episode = Episode(game, Agent("naive"), seed=3)
        assert game.env.mission in game.instruction() and "go forward: take one step forward" in game.instruction()
        bot = BabyAIBot(game.env)
        while not episode.done:
            episode.play(list(ACTIONS)[int(bot.replan())])
        assert episode.progression == 1.0 and episode.invalid == 0, task
        limits[task] = game.max_steps
        again = babyai.make(task)
        assert again.reset(3).text == game.reset(3).text  # same seed, same episode
    assert limits == {"goto": 64, "pickup": 64, "open": 128, "putnext": 128, "pick_up_seq_go_to": 128}


def test_babyai_describes_the_view_in_balrogs_words():
    from minigrid.core.world_object import Ball, Door

    from vldac.bench.balrog.babyai import BabyAIGame, describe_view

    game = BabyAIGame("goto")
    game.reset(0)
    env = game.env
    env.grid.grid = [None if cell is not None and cell.type != "wall" else cell for cell in env.grid.grid]
    env.agent_pos, env.agent_dir = np.array([4, 6]), 3  # facing up (north), the top wall 5 steps ahead
    env.grid.set(4, 3, Ball("red"))  # 3 steps forward
    env.grid.set(6, 5, Door("blue", is_open=True))  # 2 right, 1 forward
    assert describe_view(env) == [
        "You see a wall 3 steps right",  # the ball hides the wall ahead; the left wall is out of view
        "You see a red ball 3 steps forward",
        "You see a open blue door 2 steps right and 1 step forward",  # BALROG's words, "a open" included
    ]
    assert game._observation().text == "a wall 3 steps right\na red ball 3 steps forward\n" \
        "a open blue door 2 steps right and 1 step forward"


def test_crafter_progression_and_surroundings():
    from vldac.bench.balrog.crafter import ACHIEVEMENTS, describe_status, describe_surroundings, progression

    achievements = {name.lower().replace(" ", "_"): 0 for name in ACHIEVEMENTS}
    achievements.update(collect_wood=2, place_table=1, eat_cow=1)
    assert progression(achievements) == 3 / 22
    names = ["none", "grass", "tree", "player", "cow"]
    semantic = np.ones((64, 64), dtype=int)  # grass everywhere
    semantic[10, 10] = 3  # the player
    semantic[12, 10] = semantic[14, 12] = 2  # trees 2 east; 4 east and 2 south
    semantic[9, 8] = 4  # a cow 1 west and 2 north
    text = describe_surroundings(semantic, names, np.array([10, 10]), np.array([0, 1]))
    assert text == ("You see:\n- grass 1 step to your west\n- cow 3 steps to your north-west\n"
                    "- tree 2 steps to your east\n\nYou face grass at your front.")
    assert describe_status({"health": 9, "food": 8, "drink": 7, "energy": 6, "wood": 2, "sapling": 0}) == (
        "Your status:\n- health: 9/9\n- food: 8/9\n- drink: 7/9\n- energy: 6/9\n\nYour inventory:\n- wood: 2")


def test_crafter_plays_through_the_harness():
    game = ENVIRONMENTS["crafter"].make("default")
    episode = Episode(game, Agent("naive"), seed=1, max_steps=5, image_history=1)
    first = episode.prompt()
    assert first[1][0].shape == (256, 256, 3)
    assert "Your status:\n- health: 9/9" in texts(first[0])[-1]
    for answer in ("Move West", "Do", "move west", "Noop", "Sleep"):
        episode.play(answer)
    assert episode.done and episode.invalid == 1 and episode.steps == 5
    assert game.max_steps == 2000 and 0.0 <= episode.progression <= 1.0


def test_crafter_and_babyai_episodes_are_their_seeds():
    for environment, task in (("crafter", "default"), ("babyai", "putnext")):
        first, again, other = (ENVIRONMENTS[environment].make(task).reset(seed) for seed in (4, 4, 5))
        assert first.text == again.text and np.array_equal(first.image, again.image), environment
        assert not np.array_equal(first.image, other.image), environment
    game = ENVIRONMENTS["crafter"].make("default")
    game.pictures = False  # no picture is drawn when the prompt shows none
    assert game.reset(4).image is None


@pytest.fixture(scope="module")
def textworld_games(tmp_path_factory):
    return tmp_path_factory.mktemp("textworld-games")


SMALL_GAMES = {"coin_collector": {"level": 1}, "treasure_hunter": {"level": 1}}


@pytest.mark.parametrize("task", list(SMALL_GAMES))
def test_textworld_walkthrough_wins_and_a_wrong_command_scores_nothing(task, textworld_games, monkeypatch):
    from vldac.bench.balrog.textworld_games import GAMES_DIR_VARIABLE, GENERATORS

    challenge, settings = GENERATORS[task]
    monkeypatch.setitem(GENERATORS, task, (challenge, {**settings, **SMALL_GAMES[task]}))
    monkeypatch.setenv(GAMES_DIR_VARIABLE, str(textworld_games))
    game = ENVIRONMENTS["textworld"].make(task)
    first = game.reset(5)
    assert game.objective and game.objective not in first.text and "TextWorld" in game.instruction()
    walkthrough = json.loads(next((textworld_games / task).rglob("seed5.json")).read_text())["metadata"]["walkthrough"]
    episode = Episode(game, Agent("naive"), seed=5)
    assert episode.prompt()[1] == []  # text only
    episode.play("dance wildly")
    assert episode.invalid == 0 and not episode.done and episode.progression == 0.0
    for command in walkthrough:
        episode.play(command)
    assert episode.done and episode.progression == 1.0


def test_bench_command_plays_and_compares_two_models(tmp_path, capsys):
    from vldac.cli import main

    out = tmp_path / "bench.json"
    assert main(["bench", "balrog", "builtin:tiny-numberline", "--compare", "builtin:tiny-blackjack",
                 "--environments", "babyai", "--episodes", "1", "--max-steps", "2", "--max-new-tokens", "8",
                 "--json", str(out)]) == 0
    stdout = capsys.readouterr().out.splitlines()
    report = json.loads(stdout[-1])
    assert json.loads(out.read_text()) == report
    assert stdout[0] == "balrog: builtin:tiny-numberline (base: builtin:tiny-blackjack)"
    assert any(line.startswith("  pick_up_seq_go_to") for line in stdout) and stdout[-2].startswith("overall")
    scores = report["environments"]["babyai"]
    assert {"score", "stderr", "episodes", "steps"} <= set(scores)
    assert scores["episodes"] == 5 and scores["steps"] == 10 and len(scores["tasks"]) == 5
    assert report["base"]["environments"]["babyai"]["episodes"] == 5
    assert set(report["difference"]["environments"]["babyai"]) == {"difference", "stderr", "tasks"}
    assert report["settings"]["max_steps"] == 2 and report["settings"]["agent"] == "naive"


@pytest.mark.parametrize("argv, message", [
    (["bench", "balrog", "builtin:tiny-numberline", "--environments", "babyai,nethax"], "nethax unknown"),
    (["bench", "balrog", "builtin:tiny-numberline", "--agent", "react"], "agent 'react' is unknown"),
    (["bench", "balrog", "builtin:tiny-numberline", "--episodes", "0"], "--episodes 0 does not work: it must be at least 1."),
    (["bench", "balrog", "builtin:tiny-numberline", "--image-history", "17"], "--image-history 17 must be between 0"),
    (["bench", "balrog", "builtin:tiny-numberline", "--seed", "-1"], "--seed -1 does not work: it must be at least 0."),
    (["bench", "balrog", "builtin:tiny-numberline", "--max-new-tokens", "5000"], "leaves no room for a prompt"),
    (["bench", "balrog", "/nowhere/model"], "/nowhere/model"),
])
def test_bench_command_bad_input_is_one_sentence(argv, message, capsys):
    from vldac.cli import main

    assert main(argv) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("vldac bench: ") and message in error
