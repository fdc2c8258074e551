"""MiniHack and NetHack through vldac's harness, on nle 1.3.0 and minihack 1.0.2: BALROG's language
observation on hand-made screens, the games reset / step / score, progression, seeding.

nle pins gymnasium 1.2.0, so it is installed without its dependencies (README: `vldac bench`
set-up); .ci/run does so and sets VLDAC_REQUIRE_BENCH=1, so that there a missing package fails
these tests instead of skipping them.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

INSTALLED = all(importlib.util.find_spec(name) for name in ("nle", "minihack"))
if not INSTALLED and os.environ.get("VLDAC_REQUIRE_BENCH") != "1":
    pytest.skip("nle and minihack are not installed (README: vldac bench set-up)", allow_module_level=True)

from nle import nethack  # noqa: E402

from vldac.bench.balrog.agents import Agent  # noqa: E402
from vldac.bench.balrog.environments import ENVIRONMENTS  # noqa: E402
from vldac.bench.balrog.episode import Episode  # noqa: E402
from vldac.bench.balrog.nethack import PROGRESSION, MiniHackGame, NetHackGame, action_name  # noqa: E402
from vldac.bench.balrog.nethack_language import (  # noqa: E402
    describe_cursor,
    describe_glyphs,
    describe_message,
    describe_statistics,
    distance_and_direction,
    plural,
)

FLOOR = nethack.GLYPH_CMAP_OFF + 19  # room floor
HORIZONTAL_WALL = nethack.GLYPH_CMAP_OFF + 2
FOUNTAIN = nethack.GLYPH_CMAP_OFF + 31
KITTEN = nethack.GLYPH_PET_OFF + next(i for i in range(nethack.NUMMONS) if nethack.permonst(i).mname == "kitten")


def screen(*things):
    """Glyphs [21, 79] of room floor with ``things`` (glyph, column, row); the player at (40, 10)."""
    glyphs = np.full((21, 79), FLOOR, np.int16)
    for glyph, column, row in things:
        glyphs[row, column] = glyph
    blstats = np.zeros(27, np.int64)
    blstats[0], blstats[1] = 40, 10
    return glyphs, blstats


@pytest.mark.parametrize("east, north, words", [
    (1, 0, ("adjacent", "east")), (0, 2, ("very near", "north")), (3, 3, ("near", "northeast")),
    (2, -1, ("very near", "eastsoutheast")), (-1, 5, ("near", "northnorthwest")), (-12, 0, ("far", "west")),
    (0, -20, ("very far", "south")),
])
def test_distances_and_sixteen_directions(east, north, words):
    assert distance_and_direction(east, north) == words


def test_the_language_observation_of_a_hand_made_screen():
    glyphs, blstats = screen((FOUNTAIN, 43, 10), (HORIZONTAL_WALL, 40, 8), (HORIZONTAL_WALL, 40, 6),
                             (KITTEN, 39, 11))
    # the wall at row 6 is behind the one at row 8 on the northward ray: not seen
    assert describe_glyphs(glyphs, blstats) == ("fountain near east\nhorizontal wall very near north\n"
                                                "tame kitten adjacent southwest")
    glyphs, blstats = screen((FOUNTAIN, 43, 10), (FOUNTAIN, 44, 10), (FOUNTAIN, 40, 7))
    assert describe_glyphs(glyphs, blstats) == "fountain near north\nfountains near east"  # two of them east
    assert plural("fountain") == "fountains" and plural("box") == "boxes" and plural("ruby") == "rubies"
    assert plural("elf") == "elves" and plural("staff") == "staves" and plural("boots") == "boots" and plural("lava") == "area of lava"
    assert describe_cursor(glyphs, blstats, np.array([10 + 1, 43])) == "near east fountain"  # tty rows start 1 higher


def test_messages_statistics_and_menus():
    tty = np.full((24, 80), ord(" "), np.uint8)
    tty[0, :12] = list(b"Hello world!")
    assert describe_message(tty) == "Hello world!"
    tty[0, :len(b"You see here a dagger.--More--")] = list(b"You see here a dagger.--More--")
    assert describe_message(tty) == "You see here a dagger.--More--"
    assert describe_message(np.full((24, 80), ord(" "), np.uint8)) == ""
    _, blstats = screen()
    blstats[10], blstats[11], blstats[12], blstats[18] = 7, 12, 3, 2
    statistics = describe_statistics(blstats).splitlines()
    assert len(statistics) == 22 and "HP: 7/12" in statistics and "Depth: 3" in statistics
    assert statistics[-1] == "Condition: None" and "Position: 40|10" in statistics


def test_nle_action_words_are_balrogs():
    from nle.nethack import actions

    assert action_name(actions.CompassDirection.N) == "north"
    assert action_name(actions.CompassDirectionLonger.SW) == "far southwest"
    assert action_name(actions.Command.TURN) == "turnundead" and action_name(actions.Command.PICKUP) == "pickup"
    assert action_name(actions.TextCharacters.NUM_7) == "seven"


LEVEL_FREE_TASKS = [task for task in ENVIRONMENTS["minihack"].tasks if "Boxoban" not in task]


@pytest.mark.parametrize("task", LEVEL_FREE_TASKS)
def test_each_minihack_task_resets_steps_and_scores_through_the_harness(task):
    game = ENVIRONMENTS["minihack"].make(task)
    assert game.max_steps == 100 and "north" in game.actions and game.default_action in game.actions
    episode = Episode(game, Agent("naive"), seed=3, max_steps=12, image_history=1)
    while not episode.done:  # every third answer invalid
        episode.play(game.actions[episode.steps % len(game.actions)] if episode.steps % 3 else "jump around")
    assert episode.steps == 12 and episode.invalid == 4 and episode.progression in (0.0, 1.0)
    messages, images = episode.prompt()
    assert images[0].shape == (21 * 16, 79 * 16, 3)
    latest = messages[-1]["content"][0]["text"]
    assert latest.startswith("Current Observation:\nstatistics:\n") and "\nlanguage observation:\n" in latest
    assert "Your goal is" in game.instruction()
    game.close()


def walk_to_the_stairs(game: MiniHackGame, episode: Episode) -> None:
    """Step toward the ">" on the terminal screen until the episode ends (an open, lit room)."""
    words = {(0, -1): "north", (0, 1): "south", (1, 0): "east", (-1, 0): "west", (1, -1): "northeast",
             (-1, -1): "northwest", (1, 1): "southeast", (-1, 1): "southwest"}
    while not episode.done:
        rows = [bytes(row).decode("latin-1") for row in game.env.last_observation[game.env._observation_keys.index(
            "tty_chars")]]
        (player_row, player_column), = [(r, row.index("@")) for r, row in enumerate(rows[1:22], 1) if "@" in row]
        (stairs_row, stairs_column), = [(r, row.index(">")) for r, row in enumerate(rows[1:22], 1) if ">" in row]
        episode.play(words[np.sign(stairs_column - player_column), np.sign(stairs_row - player_row)])


def test_a_minihack_task_done_scores_one():
    game = MiniHackGame("MiniHack-Room-5x5-v0")
    episode = Episode(game, Agent("naive"), seed=1, image_history=0)
    assert "\nmap:\n" in episode.prompt()[0][-1]["content"][0]["text"]  # no pictures: the terminal map as text
    walk_to_the_stairs(game, episode)
    assert episode.progression == 1.0 and episode.steps < 10
    game.close()


BOXOBAN_LEVEL = """; 0
##########
##########
##########
##########
##@$.#####
##   #####
##########
##########
##########
##########

"""
"""A Boxoban level (DeepMind's file format): one push east puts the boulder on its target."""


@pytest.fixture
def boxoban_levels(tmp_path, monkeypatch):
    from minihack.envs import boxohack

    monkeypatch.setattr(boxohack, "LEVELS_PATH", str(tmp_path))
    return tmp_path


def test_boxoban_plays_with_the_users_level_files_and_is_left_out_without(boxoban_levels):
    from vldac.bench.balrog.environments import playable

    environment, reasons = playable(ENVIRONMENTS["minihack"])
    assert environment.tasks == tuple(LEVEL_FREE_TASKS) and len(reasons) == 2
    assert "MiniHack-Boxoban-Hard-v0 needs DeepMind's Boxoban level files in" in reasons[0]
    for folder in ("hard", "medium/train"):
        (boxoban_levels / folder).mkdir(parents=True)
        (boxoban_levels / folder / "000.txt").write_text(BOXOBAN_LEVEL)
    assert playable(ENVIRONMENTS["minihack"]) == (ENVIRONMENTS["minihack"], [])
    game = MiniHackGame("MiniHack-Boxoban-Medium-v0")
    assert game.actions == ["north", "east", "south", "west"] and "push the boulders" in game.instruction()
    episode = Episode(game, Agent("naive"), seed=2, image_history=0)
    episode.play("west")  # into the wall: nothing changes
    assert not episode.done and episode.progression == 0.0
    episode.play("east")
    assert episode.done and episode.progression == 1.0
    game.close()


def test_netHack_plays_through_the_harness_seeded():
    first = [NetHackGame().reset(seed=5).text for _ in range(2)]
    assert first[0] == first[1] != NetHackGame().reset(seed=6).text
    game = NetHackGame()
    assert game.max_steps == 100_000 and game.default_action == "esc"
    assert {"far north", "esc", "pickup", "a", "Z", "7"} <= set(game.actions) and "00" not in game.actions
    episode = Episode(game, Agent("naive"), seed=5, max_steps=20, image_history=1)
    rng = np.random.default_rng(1)
    while not episode.done:
        episode.play(str(rng.choice(game.actions)))
    assert episode.steps == 20 and 0.0 <= episode.progression <= 1.0
    assert game.instruction().startswith("You are an agent playing NetHack.") and "Tips:\n" in game.instruction()
    game.close()


def test_nethack_progression_is_the_highest_level_reached():
    game = NetHackGame()
    game.reset(seed=0)
    blstats = np.zeros(27, np.int64)
    blstats[12], blstats[18] = 3, 2  # dungeon level 3, experience level 2
    game.progress({"blstats": blstats}, 0.0)
    assert game.progression == max(PROGRESSION["Dlvl:3"], PROGRESSION["Xp:2"]) == PROGRESSION["Xp:2"]
    blstats[12], blstats[18] = 1, 1  # going back up loses nothing
    game.progress({"blstats": blstats}, 0.0)
    assert game.progression == PROGRESSION["Xp:2"]
    blstats[12] = 10
    game.progress({"blstats": blstats}, 0.0)
    assert game.progression == PROGRESSION["Dlvl:10"] == pytest.approx(0.12558597)
    game.reset(seed=0)
    assert game.progression == 0.0
    game.close()
