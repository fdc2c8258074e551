"""What every registered world promises, checked on each of them: the gymnasium contract, frames of
the asked size, an episode that a seed reproduces, the step limit, an interface that parses what
it writes, and no torch. A world added with register_world is checked here without a line added.
What is particular to a world (its rules, its expert, its pinned frames) is in its own module."""

from __future__ import annotations

import functools
import importlib.util
import itertools
import math
import os
import shutil
import subprocess
import sys

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import vldac.envs
from vldac.agents import interface_for
from vldac.agents.parsing import format_answer
from vldac.envs import expert_for, make_world

WORLDS = [world_id for world_id, _ in vldac.envs.list_worlds()]
FRAME_SIZE = 48
MAX_STEPS = 4

EXTRAS = {  # a world family's extra: absent, its worlds are skipped, unless .ci/run requires it
    "vldac/MiniWorld-": (("miniworld", "pyglet"), "VLDAC_REQUIRE_MINIWORLD", "pip install -e '.[miniworld]'"),
    "vldac/ALFWorld-": (("alfworld", "textworld", "fast_downward"), "VLDAC_REQUIRE_ALFWORLD", "pip install -e '.[alfworld]'"),
    "vldac/WebShop-": (("playwright",), "VLDAC_REQUIRE_BROWSER", "pip install -e '.[webshop]' and apt-get install chromium"),
}
SMALL = {  # the smallest instance of a world family, so that the suite stays fast
    "vldac/ALFWorld-": {"other_object_types": 1},
    "vldac/WebShop-": {"products": 60},
}


def small_kwargs(world_id: str) -> dict:
    extra = next((kwargs for prefix, kwargs in SMALL.items() if world_id.startswith(prefix)), {})
    return {"frame_size": FRAME_SIZE, "max_steps": MAX_STEPS, **extra}


@pytest.fixture(params=WORLDS)
def world_id(request, monkeypatch, tmp_path):
    """Each registered world id, with its extra (or skipped when absent where not required), no
    ALFWorld download (generated tasks) and a WebShop cache of the test's own."""
    for prefix, (modules, required, install) in EXTRAS.items():
        present = all(importlib.util.find_spec(module) for module in modules)
        if prefix == "vldac/WebShop-":
            present = present and bool(shutil.which("chromium") or os.path.exists("/usr/bin/chromium"))
        if request.param.startswith(prefix) and not present and os.environ.get(required) != "1":
            pytest.skip(f"needs {install}")
    monkeypatch.setenv("ALFWORLD_DATA", str(tmp_path / "no-alfworld-download"))
    monkeypatch.setenv("VLDAC_WEBSHOP_CACHE", str(tmp_path / "webshop"))
    return request.param


def expert_of(world_id: str):
    """The world's scripted expert, or None for a world registered without one."""
    try:
        return expert_for(world_id)
    except ValueError:
        return None


def play(env, world_id: str, seed: int) -> list[tuple]:
    """(frame, reward, terminated, truncated, info) from reset(seed) to the end of the episode, the
    expert acting where the world has one and the actions in turn where not."""
    expert = expert_of(world_id)
    frame, info = env.reset(seed=seed)
    steps = [(frame, 0.0, False, False, info)]
    in_turn = itertools.cycle(range(env.action_space.n)) if expert is None else None
    for _ in range(MAX_STEPS + 1):
        frame, reward, terminated, truncated, info = env.step(expert(info) if expert else next(in_turn))
        steps.append((frame, reward, terminated, truncated, info))
        if terminated or truncated:
            break
    return steps


@functools.cache
def played_twice(world_id: str) -> tuple[gymnasium.Space, gymnasium.Space, list[tuple], list[tuple]]:
    """The world's observation and action spaces and its episode of seed 7, played twice in one
    world (made once for this module's tests: a MiniWorld or ALFWorld world takes seconds)."""
    env = make_world(world_id, **small_kwargs(world_id))
    try:
        return env.observation_space, env.action_space, play(env, world_id, seed=7), play(env, world_id, seed=7)
    finally:
        env.close()


def test_an_episode_keeps_the_contract_and_its_seed_reproduces_it(world_id):
    observation_space, _, first, again = played_twice(world_id)
    assert len(first) <= MAX_STEPS + 1, f"the episode ran past max_steps={MAX_STEPS}"
    assert first[-1][2] or first[-1][3], "the episode did not end"
    assert gymnasium.spec(world_id).max_episode_steps is None  # the world truncates itself: no TimeLimit wrapper
    for frame, reward, terminated, truncated, info in first:
        assert frame.shape == (FRAME_SIZE, FRAME_SIZE, 3) and frame.dtype == np.uint8 and frame.std() > 0
        assert observation_space.contains(frame)
        assert isinstance(reward, float) and math.isfinite(reward)
        assert type(terminated) is bool and type(truncated) is bool and type(info["success"]) is bool
    assert len(again) == len(first)
    for (frame_a, *rest_a, info_a), (frame_b, *rest_b, info_b) in zip(first, again):
        assert np.array_equal(frame_a, frame_b) and rest_a == rest_b and plain(info_a) == plain(info_b)


def plain(info: dict) -> dict:
    """The info without a web page's address, which names the episode's own session."""
    return {key: value for key, value in info.items() if key != "url"}


def test_the_interface_parses_back_the_answers_it_writes(world_id):
    """The expert's demonstration where the world has an expert, every action's answer where not."""
    _, action_space, first, _ = played_twice(world_id)
    info = first[0][4]
    interface = interface_for(world_id, small_kwargs(world_id))
    assert interface.instruction(info).strip()
    expert = expert_of(world_id)
    if expert:
        answers = {expert(info): interface.demonstration(info, expert(info))}
    else:
        answers = {action: format_answer("", interface.action_text(action)) for action in range(action_space.n)}
    for action, answer in answers.items():
        parsed = interface.parse(answer, info)
        assert parsed.error is None and parsed.action == action


def first_world_of_each_class() -> list[str]:
    """One world id per world class (ALFWorld's simplest task type), WebShop's aside: each of its
    episodes is a new web session, whose address in the info differs, which the checker's
    determinism test reads as a difference."""
    firsts: dict[str, str] = {}
    for world in WORLDS:
        if world != "vldac/ALFWorld-v0":  # every task type: each reset may plan a harder one
            firsts.setdefault(gymnasium.spec(world).entry_point, world)
    return [world for world in firsts.values() if not world.startswith("vldac/WebShop-")]


@pytest.mark.filterwarnings("ignore:.*not having a spec:UserWarning")
@pytest.mark.parametrize("world_id", first_world_of_each_class(), indirect=True)
def test_gymnasiums_env_checker_passes_on_one_world_of_each_class(world_id):
    """ALFWorld without its expert, whose planning would repeat at each of the checker's resets."""
    kwargs = small_kwargs(world_id) | ({"expert": None} if world_id.startswith("vldac/ALFWorld-") else {})
    env = make_world(world_id, **kwargs)
    try:
        check_env(env.unwrapped, skip_render_check=True)
    finally:
        env.close()


def test_registering_again_changes_nothing_and_every_world_is_described():
    vldac.envs.register_worlds()
    assert [world for world, _ in vldac.envs.list_worlds()] == WORLDS
    assert all(description.strip() for _, description in vldac.envs.list_worlds())


def test_the_world_modules_import_no_torch():
    """One interpreter imports every registered world's class: none brings torch or transformers."""
    modules = sorted({gymnasium.spec(world).entry_point.split(":")[0] for world in WORLDS})
    code = ("import importlib, sys\n"
            f"for name in {modules!r}:\n"
            "    try:\n        importlib.import_module(name)\n"
            "    except ImportError:\n        pass  # an extra that is not installed\n"
            "print(sorted({'torch', 'transformers'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
