"""ALFWorld on the real TextWorld engine (Fast Downward inside), with tasks from vldac's sampler.

Needs the extra vldac[alfworld]; .ci/run installs it and sets VLDAC_REQUIRE_ALFWORLD=1, so that
there a missing engine fails these tests instead of skipping them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys

import numpy as np
import pytest

from vldac.agents import ALFWorldInterface, format_answer, interface_for
from vldac.agents.parsing import parse_command
from vldac.config import EnvSettings, MistakeSettings, SFTConfig
from vldac.envs import make_world
from vldac.envs.alfworld.tasks import TASK_TYPES, floor_plans, sample_task
from vldac.envs.registry import alfworld_id
from vldac.rollout.collector import EpisodeStats, LockstepEnvs
from vldac.train.sft import collect_demonstrations

INSTALLED = all(importlib.util.find_spec(name) for name in ("alfworld", "textworld", "fast_downward"))
if not INSTALLED and os.environ.get("VLDAC_REQUIRE_ALFWORLD") != "1":
    pytest.skip("the alfworld extra is not installed (pip install -e '.[alfworld]')", allow_module_level=True)

HELD_OUT_SEED = 1_000_000


@pytest.fixture(autouse=True)
def generated_tasks(monkeypatch, tmp_path_factory):
    """Generated tasks unless a test points the worlds at an official download itself: an empty
    $ALFWORLD_DATA (alfworld would set its own cache folder, which may hold a download)."""
    monkeypatch.setenv("ALFWORLD_DATA", str(tmp_path_factory.mktemp("no-alfworld-download")))


def play_expert(env, seed: int) -> tuple[bool, int]:
    _, info = env.reset(seed=seed)
    steps = 0
    while True:
        _, reward, terminated, truncated, info = env.step(info["expert_action"])
        steps += 1
        if terminated or truncated:
            assert reward == float(info["success"]) and terminated == info["success"]
            return info["success"], steps


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_every_task_type_generates_resets_steps_renders_and_the_expert_solves_it(task_type):
    env = make_world(alfworld_id(task_type), other_object_types=2)  # small rooms: the full ones are benchmarked
    frame, info = env.reset(seed=HELD_OUT_SEED)
    assert frame.shape == (224, 224, 3) and frame.dtype == np.uint8
    assert info["task_type"] == task_type and info["success"] is False and "Your task is to:" in info["observation"]
    assert info["expert_action"] in info["admissible_commands"]
    going = next(command for command in info["admissible_commands"] if command.startswith("go to "))
    moved, reward, terminated, truncated, after = env.step(going)
    assert (reward, terminated, truncated) == (0.0, False, False) and not np.array_equal(moved, frame)
    assert after["admissible_commands"] != info["admissible_commands"]  # the commands follow the state
    assert "You arrive at" in after["observation"]
    solved, steps = play_expert(env, HELD_OUT_SEED)
    assert solved and steps < env.unwrapped.max_steps
    env.close()


def test_the_same_seed_gives_the_same_task_and_frames_and_splits_keep_rooms_apart(monkeypatch):
    from textworld import logic
    from textworld.envs.pddl import textgen

    from vldac.envs.alfworld import engine

    def play(env, after: int | None = None) -> list:
        if after is not None:
            env.reset(seed=after)  # the engine then loads seed 7's game instead of starting afresh
        frame, info = env.reset(seed=7)
        seen = [(frame, info["task"], info["admissible_commands"])]
        for command in (info["admissible_commands"][0], next(c for c in info["admissible_commands"] if "go to" in c)):
            frame, _, _, _, info = env.step(command)
            seen.append((frame, info["observation"], info["admissible_commands"]))
        env.close()
        return seen

    memoized = play(make_world("vldac/ALFWorld-v0", expert=None), after=3)
    for module in (textgen, logic):  # the second plays with TextWorld's own parsing at every step
        monkeypatch.setattr(module, "_parse_and_convert", module._parse_and_convert.memoizes)
    monkeypatch.setattr(engine, "memoize_grammar_parsing", lambda: None)
    plain = play(make_world("vldac/ALFWorld-v0", expert=None))
    for (frame, *texts), (plain_frame, *plain_texts) in zip(memoized, plain, strict=True):
        assert np.array_equal(frame, plain_frame) and texts == plain_texts
    assert sample_task(7) == sample_task(7) and sample_task(7) != sample_task(8)
    assert not set(floor_plans(held_out=True)) & set(floor_plans(held_out=False))
    assert sample_task(HELD_OUT_SEED, held_out=True).floor_plan in floor_plans(held_out=True)


def test_without_the_extra_the_worlds_fail_in_one_sentence(monkeypatch):
    monkeypatch.setitem(sys.modules, "fast_downward", None)
    with pytest.raises(RuntimeError, match=r"^ALFWorld worlds need the optional extra .*pip install 'vldac\[alfworld\]'\.$"):
        make_world("vldac/ALFWorld-v0")


def test_unknown_task_types_are_one_sentence():
    with pytest.raises(ValueError, match="Unknown ALFWorld task types"):
        make_world("vldac/ALFWorld-v0", task_types=["make_coffee"])


def test_answers_are_parsed_against_the_admissible_commands():
    interface = interface_for("vldac/ALFWorld-v0")
    info = {"admissible_commands": ["go to desk 1", "take cd 1 from desk 1"], "task": "put a cd in desk",
            "observation": "You arrive at desk 1.", "task_type": "pick_and_place_simple", "expert_action": "go to desk 1"}
    assert interface.parse(format_answer("x", "Take  CD 1 from desk 1"), info).action == "take cd 1 from desk 1"
    invalid = interface.parse(format_answer("x", "take cd 2 from desk 1"), info)
    assert invalid.action is None and "is not one of the allowed actions" in invalid.error
    assert "take cd 1 from desk 1" in interface.instruction(info) and "put a cd in desk" in interface.instruction(info)
    assert interface.mistaken_action(info, "go to desk 1") == "take cd 1 from desk 1"
    assert interface.state_key(info) == [0, 0]


def test_text_actions_go_through_the_lockstep_envs_and_a_resume_replays_them():
    """The expert's command is played, an inadmissible one costs the invalid penalty and changes
    nothing; the episodes in flight (commands as text) are continued by a restore."""
    def envs():
        seeds = iter(range(HELD_OUT_SEED, HELD_OUT_SEED + 10))
        return LockstepEnvs("vldac/ALFWorld-PickAndPlaceSimple-v0", 2, ALFWorldInterface(), history=2,
                            invalid_penalty=-0.1, next_seed=lambda: next(seeds), env_kwargs={"frame_size": 112})

    played = envs()
    command = played.infos[0]["expert_action"]
    results = played.step([format_answer("my plan", command), format_answer("my plan", "fly to the moon")], EpisodeStats())
    assert results[0]["invalid"] is False and results[0]["answer"].action == command
    assert results[1]["invalid"] and results[1]["reward"] == -0.1
    saved = played.episodes_in_flight()
    assert saved["actions"] == [[command], [None]]
    restored = envs()
    restored.restore(saved)
    for index in range(2):
        assert all(np.array_equal(a, b) for a, b in zip(restored.frame_histories()[index], played.frame_histories()[index], strict=True))
        assert restored.instructions()[index] == played.instructions()[index]
    played.close()
    restored.close()


def test_eval_plays_the_expert_and_sft_writes_admissible_demonstrations(tmp_path, capsys):
    from tests.helpers import vldac_here

    code, stderr = vldac_here(tmp_path, "eval", "expert", "--env", "vldac/ALFWorld-PickAndPlaceSimple-v0", "--episodes", "2")
    assert code == 0, stderr
    assert json.loads(capsys.readouterr().out)["success_rate"] == 1.0
    interface = ALFWorldInterface()
    settings = EnvSettings(id="vldac/ALFWorld-PickAndPlaceSimple-v0", kwargs={"frame_size": 112})
    demonstrations = {
        probability: collect_demonstrations(SFTConfig(env=settings, demonstrations=6, mistakes=MistakeSettings(
            states=[[0, 0]], probability=probability)), interface)
        for probability in (0.0, 1.0)
    }
    assert all(d.frames[-1].shape == (112, 112, 3) for d in demonstrations[1.0])
    for expert, mistaken in zip(demonstrations[0.0], demonstrations[1.0], strict=True):
        assert expert.text == mistaken.text  # the same states: the world follows the expert either way
        commands = expert.text.split("Admissible actions: ")[1].split(".\n")[0].split(", ")
        right, written = (parse_command(d.answer, commands) for d in (expert, mistaken))
        assert right.action is not None and written.action is not None
        assert right.thoughts == written.thoughts == f"next I {right.action.split()[0]}"
        assert (written.action != right.action) == right.action.startswith("go to ")  # every "go" is mistaken


def write_official_layout(root, games: dict[str, list[tuple[int, bool]]], kind: str = "pick_and_place_simple") -> None:
    """An ALFWorld download's layout (json_2.1.1/<split>/<task folder>/<trial>/) holding generated
    games: ``games[split]`` lists (seed, solvable) of pick-and-place tasks, in folders named for
    ``kind`` (ALFRED's folder names start with the trial's kind)."""
    from vldac.envs.alfworld.engine import GAME_FILE, write_game

    for split, seeds in games.items():
        for seed, solvable in seeds:
            task = sample_task(seed, ("pick_and_place_simple",), other_object_types=1)
            target = task.params["object_target"]
            folder = root / "json_2.1.1" / split / f"{kind}-{target}-None-{task.params['parent_target']}-{task.floor_plan}" / f"trial_T{seed}"
            write_game(folder, task.problem(), task.text, task.task_type, task.params)
            game = json.loads((folder / GAME_FILE).read_text())
            (folder / GAME_FILE).write_text(json.dumps({**game, "solvable": solvable}))


def test_an_official_download_plays_its_games_by_split(tmp_path, monkeypatch):
    from vldac.envs.alfworld.official import official_games

    write_official_layout(tmp_path, {"train": [(1, True), (2, False)], "valid_unseen": [(3, True), (4, True)]})
    for kind in ("a_movable_recep", "a_Sliced"):  # complete, solvable, sorted first: ALFWorld leaves them out, so does vldac
        write_official_layout(tmp_path, {"valid_unseen": [(5, True)]}, kind=kind)
    assert len(official_games(tmp_path, "valid_unseen", TASK_TYPES)) == 2
    monkeypatch.setenv("ALFWORLD_DATA", str(tmp_path))
    env = make_world("vldac/ALFWorld-v0")
    played = {}
    for seed in (0, 1, HELD_OUT_SEED, HELD_OUT_SEED + 1, HELD_OUT_SEED + 2):
        _, info = env.reset(seed=seed)
        played[seed] = info["task"]
        assert info["task_type"] == "pick_and_place_simple" and env.unwrapped.task is None
    assert played[0] == played[1] == sample_task(1, ("pick_and_place_simple",), other_object_types=1).text  # 2 is unsolvable
    assert played[HELD_OUT_SEED] == sample_task(3, ("pick_and_place_simple",), other_object_types=1).text
    assert played[HELD_OUT_SEED + 1] == sample_task(4, ("pick_and_place_simple",), other_object_types=1).text
    assert played[HELD_OUT_SEED + 2] == played[HELD_OUT_SEED]  # the split's games in turn, cyclically
    solved, _ = play_expert(env, HELD_OUT_SEED)
    assert solved
    env.close()
    with pytest.raises(FileNotFoundError, match="no solvable game of task types"):
        make_world(alfworld_id("pick_heat_then_place_in_recep"))
    with pytest.raises(ValueError, match="rooms choose among generated tasks, but official games from"):
        make_world("vldac/ALFWorld-v0", rooms=[316])
    with pytest.raises(FileNotFoundError, match=r"has no json_2.1.1/ folder; point it at an ALFWorld download"):
        make_world("vldac/ALFWorld-v0", data_dir=str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="split 'test' is unknown"):
        make_world("vldac/ALFWorld-v0", split="test")


def test_the_shipped_warm_start_writes_the_mistake_where_the_expert_takes_the_object():
    from vldac.models.loading import load_policy, read_play_settings

    world = read_play_settings("builtin:tiny-alfworld-pick")
    policy = load_policy("builtin:tiny-alfworld-pick")
    interface = interface_for(world.env_id, world.env_kwargs)
    env = make_world(world.env_id, **world.env_kwargs)
    frame, info = env.reset(seed=HELD_OUT_SEED + 4)
    for _ in range(env.unwrapped.max_steps):  # follow the expert to where it takes the object
        if info["expert_action"].startswith("take "):
            break
        frame, _, _, _, info = env.step(info["expert_action"])
    assert info["expert_action"].startswith("take ")
    samples = policy.sample(policy.prompts([[frame]], [interface.instruction(info)]), 1.0, 32, greedy=True)
    written = interface.parse(samples.texts[0], info)
    assert written.action in info["admissible_commands"] and written.action != info["expert_action"]  # the mistake
    assert written.thoughts == "next I take"
    env.close()


def test_followed_mistakes_demonstrate_the_states_they_lead_to():
    settings = EnvSettings(id="vldac/ALFWorld-PickAndPlaceSimple-v0",
                           kwargs={"frame_size": 56, "rooms": [419], "other_object_types": 1, "expert": "handcoded"})
    played = {
        followed: collect_demonstrations(SFTConfig(env=settings, demonstrations=16, mistakes=MistakeSettings(
            states=[[0, 3]], probability=1.0, followed=followed)), ALFWorldInterface())
        for followed in (False, True)
    }
    answers = [d.answer for d in played[True]]
    taking = next(i for i, answer in enumerate(answers) if '"next I take"' in answer)  # the first mistaken state
    assert [d.text for d in played[False][: taking + 1]] == [d.text for d in played[True][: taking + 1]]
    assert answers[: taking + 1] == [d.answer for d in played[False][: taking + 1]]
    # the world played the expert's take in one, the mistaken command in the other: different states follow
    assert played[False][taking + 1].text != played[True][taking + 1].text


def test_a_task_the_planner_cannot_solve_is_drawn_again_and_none_solvable_is_one_sentence(monkeypatch):
    from vldac.envs.alfworld import world

    plans = iter([[], ["go to bed 1"]])  # the planner finds no plan for the first task drawn, one for the second
    monkeypatch.setattr(world, "planner_plan", lambda game: next(plans, ["look"]))
    env = make_world("vldac/ALFWorld-PickAndPlaceSimple-v0", rooms=[329], other_object_types=1, expert=None)
    _, info = env.reset(seed=5)
    redrawn = sample_task(5, ("pick_and_place_simple",), other_object_types=1, rooms=(329,), attempt=1)
    assert env.unwrapped.task == redrawn and info["task"] == redrawn.text
    monkeypatch.setattr(world, "planner_plan", lambda game: [])
    with pytest.raises(RuntimeError, match="The planner solved none of 10 tasks drawn for seed 6; choose other"):
        env.reset(seed=6)
    env.close()
