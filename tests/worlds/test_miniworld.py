"""MiniWorld worlds on real frames rendered headless (EGL, no display, no GPU)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from tests.helpers import FRAME_SIZE
from tests.helpers import tiny_overrides, vldac
from vldac.agents import interface_for
from vldac.envs import make_world
from vldac.envs.miniworld.engine import MiniWorldUnavailable, load_miniworld
from vldac.envs.miniworld.expert import bearing_to, expert_action, goal_visible, target_side
from vldac.envs.miniworld.navigation import AGENT_RADIUS, FloorMap, segment_distances
from vldac.envs.miniworld.tasks import task_for
from vldac.evaluate import evaluate_expert
from vldac.rollout.collector import EpisodeStats, LockstepEnvs

SMALL = 32  # frame size for the tests that only need some frame


def make(task: str, **kwargs):
    return make_world(f"vldac/MiniWorld-{task}-v0", **kwargs)


def play(env, seed: int, actions):
    """Frames [T+1, H, W, 3] and infos along ``actions`` from ``reset(seed)``."""
    frame, info = env.reset(seed=seed)
    frames, infos = [frame], [info]
    for action in actions:
        frame, _, terminated, truncated, info = env.step(action)
        frames.append(frame)
        infos.append(info)
        if terminated or truncated:
            break
    return np.stack(frames), infos


def red_pixels(frame: np.ndarray) -> int:
    red, green, blue = (frame[..., channel].astype(int) for channel in range(3))
    return int(((red > 100) & (green < 50) & (blue < 50)).sum())


@pytest.mark.parametrize("task", ["OneRoom", "FourRooms", "Sign", "PickupObjects"])
def test_the_same_seed_gives_the_same_frames_and_another_seed_other_ones(task):
    env = make(task, frame_size=SMALL)
    actions = [2, 0, 2, 1, 2]
    first, _ = play(env, 7, actions)
    again, _ = play(env, 7, actions)
    other, _ = play(env, 8, actions)
    env.close()
    assert np.array_equal(first, again)
    assert not np.array_equal(first[0], other[0])


def test_turning_changes_the_frame_and_turning_back_restores_it():
    env = make("OneRoom", frame_size=SMALL)
    frames, _ = play(env, 3, [0, 1])
    env.close()
    assert not np.array_equal(frames[0], frames[1])
    assert np.array_equal(frames[0], frames[2])


def test_the_red_box_is_in_the_frame_when_the_expert_sees_it_ahead_and_not_when_it_is_behind():
    env = make("OneRoom", frame_size=FRAME_SIZE)
    ahead, behind = [], []
    for seed in range(20):
        frame, info = env.reset(seed=seed)
        for _ in range(24):  # a full turn in 15-degree steps
            if goal_visible(info) and target_side(info) == "ahead":
                ahead.append(red_pixels(frame))
            if abs(bearing_to(info, info["goal_pos"])) > 120:
                behind.append(red_pixels(frame))
            frame, _, _, _, info = env.step(0)
    env.close()
    assert len(ahead) >= 10 and len(behind) >= 50
    assert min(ahead) > 0, "the box is not in a frame where the expert says it is ahead"
    assert max(behind) == 0, "red pixels in a frame where the box is behind the agent"


@pytest.mark.slow  # 100 expert episodes per task (6-26 s each): world statistics, in .ci/run's slow run
@pytest.mark.parametrize("task", ["OneRoom", "Hallway", "FourRooms"])
def test_the_expert_reaches_the_goal_in_95_percent_of_100_seeds_within_the_native_limit(task):
    result = evaluate_expert(
        f"vldac/MiniWorld-{task}-v0", episodes=100, seed=0, env_kwargs={"frame_size": SMALL, "max_steps": None}
    )
    assert result["success_rate"] >= 0.95, result


def test_episodes_are_cut_at_max_steps_with_the_timeout_penalty():
    env = make("OneRoom", frame_size=SMALL, max_steps=5, timeout_penalty=-0.5)
    env.reset(seed=0)
    for _ in range(4):
        _, reward, terminated, truncated, info = env.step(0)
        assert (reward, terminated, truncated, info["success"]) == (0.0, False, False, False)
    _, reward, terminated, truncated, info = env.step(0)
    env.close()
    assert (reward, terminated, truncated, info["success"]) == (-0.5, False, True, False)


def test_the_default_step_limit_is_the_papers_128_and_none_keeps_the_native_one():
    assert make("OneRoom", frame_size=SMALL).unwrapped.max_steps == 128
    env = make("OneRoomS6", frame_size=SMALL, max_steps=None)
    env.reset(seed=0)
    steps, truncated = 0, False
    while not truncated:
        _, _, _, truncated, _ = env.step(0)
        steps += 1
    env.close()
    assert steps == 100  # Farama's OneRoomS6 limit


def test_reaching_the_box_succeeds_with_the_native_reward():
    env = make("OneRoomS6", frame_size=SMALL)
    _, info = env.reset(seed=1)
    terminated = truncated = False
    steps = 0
    while not (terminated or truncated):
        _, reward, terminated, truncated, info = env.step(expert_action(info))
        steps += 1
    env.close()
    assert terminated and info["success"] is True
    assert reward == pytest.approx(1.0 - 0.2 * steps / 100)


def test_an_action_set_setting_maps_names_to_the_tasks_actions():
    env = make("OneRoom", frame_size=SMALL, actions=["move forward", "move back"])
    env.reset(seed=2)
    start = np.array(env.unwrapped.engine.agent.pos)
    env.step(0)
    moved = np.array(env.unwrapped.engine.agent.pos)
    env.step(1)
    back = np.array(env.unwrapped.engine.agent.pos)
    env.close()
    assert not np.allclose(start, moved) and np.allclose(start, back, atol=1e-6)
    assert interface_for("vldac/MiniWorld-OneRoom-v0", {"actions": ["move forward", "move back"]}).parse(
        '{"thoughts": "", "action": "move back"}'
    ).action == 1


def test_an_unknown_action_name_is_one_sentence_naming_the_allowed_ones():
    with pytest.raises(ValueError, match=r"give distinct names from \['turn left', 'turn right', 'move forward', 'move back'\]"):
        make("OneRoom", actions=["jump"])


def test_signs_end_action_is_named_and_ends_the_episode():
    env = make("Sign", frame_size=SMALL)
    env.reset(seed=0)
    assert env.unwrapped.action_names[3] == "end"
    _, _, terminated, _, info = env.step(3)
    env.close()
    assert terminated and info["success"] is False
    assert 'the box of the color written on the sign, or say "end"' in info["mission"]


def test_a_missing_extra_is_one_sentence_saying_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "miniworld", None)
    with pytest.raises(MiniWorldUnavailable, match=r"install it with pip install 'vldac\[miniworld\]'"):
        load_miniworld()


def test_task_ids_are_checked_with_the_known_ones_named():
    with pytest.raises(ValueError, match="is not a MiniWorld task; known: vldac/MiniWorld-OneRoom-v0"):
        task_for("vldac/MiniWorld-Nowhere-v0")


def test_the_prompt_numbers_the_actions_and_the_expert_writes_its_thoughts():
    env = make("OneRoomS6", frame_size=SMALL)
    _, info = env.reset(seed=4)
    interface = interface_for("vldac/MiniWorld-OneRoomS6-v0")
    text = interface.instruction(info)
    assert text.startswith("Go to the red box. ") and "Actions: 1 turn left, 2 turn right, 3 move forward." in text
    answer = interface.demonstration(info, expert_action(info))
    assert interface.parse(answer).action == expert_action(info)
    assert json.loads(answer)["thoughts"].startswith(("the red box is", "no red box in view, the way is"))
    env.close()


@pytest.mark.parametrize("action, expected", [
    ('"3"', 2), ("3", 2), ('"3 move forward"', 2), ('"3. Move Forward"', 2), ('"1"', 0), ('"turn right"', 1),
    ('"3 turn left"', None), ('"4"', None), ("0", None), ('"2 turn"', None),
])
def test_an_action_may_be_given_by_its_number_in_the_prompt(action, expected):
    interface = interface_for("vldac/MiniWorld-OneRoomS6-v0")
    assert interface.action_names == ["turn left", "turn right", "move forward"]
    assert interface.parse('{"thoughts": "the red box is ahead", "action": %s}' % action).action == expected


def test_the_history_holds_each_of_the_last_frames_once_oldest_first():
    envs = LockstepEnvs(
        "vldac/MiniWorld-OneRoomS6-v0", 2, interface_for("vldac/MiniWorld-OneRoomS6-v0"), 4, -1.0,
        next_seed=iter(range(100)).__next__, env_kwargs={"frame_size": SMALL},
    )
    reference = make("OneRoomS6", frame_size=SMALL)
    expected, _ = play(reference, 0, [0, 0, 0, 0, 0])
    reference.close()
    stats = EpisodeStats()
    for _ in range(5):
        envs.step(['{"thoughts": "", "action": "turn left"}'] * 2, stats)
    history = envs.frame_histories()[0]
    envs.close()
    assert len(history) == 4
    for held, frame in zip(history, expected[2:]):
        assert np.array_equal(held, frame)


def test_training_runs_on_a_miniworld_world_with_a_frame_history(tiny_qwen2vl_dir, tmp_path):
    vldac(
        "train", *tiny_overrides(tiny_qwen2vl_dir, 16), "env.id=vldac/MiniWorld-OneRoomS6-v0",
        f"env.kwargs={{frame_size: {FRAME_SIZE}, max_steps: 3}}", "env.history=2", "name=mw", cwd=tmp_path,
    )
    rows = [json.loads(line) for line in (tmp_path / "runs" / "mw" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["env_steps"] == 16


def test_the_floor_map_leads_through_the_doorway_clear_of_the_walls():
    """Two 4 x 4 rooms side by side, joined by a doorway at x = 4, z in [1.5, 2.5]."""
    square = np.array([[0.0, 0.0], [0.0, 4.0], [4.0, 4.0], [4.0, 0.0]])
    inward = np.array([[1.0, 0.0], [0.0, -1.0], [-1.0, 0.0], [0.0, 1.0]])
    rooms = [(square, inward), (square + [4.0, 0.0], inward)]
    walls = np.array([
        [[0, 0], [0, 4]], [[0, 4], [8, 4]], [[8, 4], [8, 0]], [[8, 0], [0, 0]],
        [[4, 0], [4, 1.5]], [[4, 2.5], [4, 4]],
    ], dtype=float)
    floor_map = FloorMap(walls, rooms, [], goal=np.array([7.0, 3.3]), reach=0.5)
    position, path = np.array([1.0, 3.3]), []
    for _ in range(200):
        step = np.asarray(floor_map.waypoint(position)) - position
        position = position + step / max(np.linalg.norm(step), 1e-9) * min(0.15, np.linalg.norm(step))
        path.append(position)
        if np.linalg.norm(position - floor_map.goal) < 0.5:
            break
    path = np.array(path)
    assert np.linalg.norm(path[-1] - floor_map.goal) < 0.5, "the walk did not reach the goal"
    assert segment_distances(path, walls[:, 0], walls[:, 1]).min() > AGENT_RADIUS
    crossing = path[np.argmin(np.abs(path[:, 0] - 4.0))]
    assert 1.5 + AGENT_RADIUS < crossing[1] < 2.5 - AGENT_RADIUS
