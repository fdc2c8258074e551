"""NumberLine: gymnasium conformance, the rule table, seeding and frame pins."""

import hashlib

import gymnasium
import numpy as np
import pytest

import vldac.envs  # noqa: F401  (registers the worlds)
from tests.helpers import frames_digest, played_episode
from vldac.envs.cards.numberline import NumberLineEnv, expert_action
from vldac.envs.cards.render import contrast_ratio, sample_style

ENV_ID = "vldac/NumberLine-v0"
MINUS, PLUS = 0, 1


def env_at(current: int, target: int, **kwargs) -> NumberLineEnv:
    """A reset env moved to a chosen state (the rules do not depend on how it got there)."""
    env = NumberLineEnv(**kwargs)
    env.reset(seed=0)
    env.current, env.target = current, target
    return env


def test_action_names_and_spaces():
    env = gymnasium.make(ENV_ID)
    assert env.unwrapped.action_names == ["-", "+"]
    assert env.action_space == gymnasium.spaces.Discrete(2)


@pytest.mark.parametrize(
    "current, target, action, after, reward, terminated",
    [
        (1, 4, PLUS, 2, 0.0, False),  # move closer
        (3, 1, MINUS, 2, 0.0, False),  # move closer from above
        (1, 4, MINUS, 0, -1.0, False),  # move away
        (0, 3, MINUS, 0, -1.0, False),  # push against bound 0
        (5, 2, PLUS, 5, -1.0, False),  # push against bound 5
        (2, 3, PLUS, 3, 1.0, True),  # reach target from below
        (4, 3, MINUS, 3, 1.0, True),  # reach target from above
    ],
)
def test_rule_table(current, target, action, after, reward, terminated):
    env = env_at(current, target)
    _, got_reward, got_terminated, truncated, info = env.step(action)
    assert (info["current"], info["target"], info["steps"]) == (after, target, 1)
    assert (got_reward, got_terminated, truncated, info["success"]) == (reward, terminated, False, terminated)


def test_truncated_at_step_ten_not_before():
    env = env_at(0, 5)
    for step in range(1, 11):
        _, reward, terminated, truncated, info = env.step(MINUS)
        assert (reward, terminated, truncated, info["steps"]) == (-1.0, False, step == 10, step)
    assert info["success"] is False


def test_reaching_target_on_last_step_terminates_not_truncates():
    env = env_at(0, 5)
    for _ in range(5):
        env.step(MINUS)
    for step in range(6, 11):
        _, reward, terminated, truncated, info = env.step(PLUS)
    assert (step, reward, terminated, truncated, info["success"]) == (10, 1.0, True, False, True)


def test_max_steps_argument():
    env = env_at(0, 5, max_steps=3)
    results = [env.step(MINUS)[3] for _ in range(3)]
    assert results == [False, False, True]


def test_invalid_action_raises_clear_error():
    env = env_at(1, 4)
    with pytest.raises(ValueError, match="not in Discrete"):
        env.step(2)


def test_start_never_equals_target_and_all_pairs_appear():
    env = NumberLineEnv(frame_size=56)
    pairs = set()
    for seed in range(2000):
        _, info = env.reset(seed=seed)
        assert info["current"] != info["target"]
        assert 0 <= info["current"] <= 5 and 0 <= info["target"] <= 5
        pairs.add((info["current"], info["target"]))
    assert len(pairs) == 30


def test_info_keys_and_types_every_step():
    env = NumberLineEnv(frame_size=56)
    _, info = env.reset(seed=3)
    infos = [info]
    for action in [MINUS, PLUS, PLUS, MINUS, PLUS, PLUS, PLUS, PLUS]:
        *_, terminated, truncated, info = env.step(action)
        infos.append(info)
        if terminated or truncated:
            break
    for info in infos:
        assert set(info) >= {"success", "current", "target", "steps"}
        assert type(info["success"]) is bool
        assert all(type(info[key]) is int for key in ("current", "target", "steps"))


def test_different_seeds_give_different_frames_for_same_state():
    env = NumberLineEnv(frame_size=84)
    frames_by_pair = {}
    for seed in range(200):
        frame, info = env.reset(seed=seed)
        frames_by_pair.setdefault((info["current"], info["target"]), []).append(frame)
    frames = max(frames_by_pair.values(), key=len)
    assert len(frames) >= 5
    hashes = {hashlib.sha256(frame.tobytes()).hexdigest() for frame in frames}
    assert len(hashes) == len(frames)


def test_style_is_fixed_within_an_episode():
    env = env_at(2, 5, frame_size=84)
    before = env.step(PLUS)[0]  # current 3
    env.step(MINUS)  # current 2
    again = env.step(PLUS)[0]  # current 3 again: same style, so the same frame
    assert np.array_equal(before, again)
    assert not np.array_equal(before, env.step(MINUS)[0])


def test_text_colours_have_readable_contrast():
    rng = np.random.default_rng(0)
    for _ in range(500):
        style = sample_style(rng, frame_size=8)
        assert contrast_ratio(style.background, style.ink) >= 4.5


def test_expert_solves_every_episode_optimally():
    env = NumberLineEnv(frame_size=56)
    for seed in range(200):
        _, infos, _ = played_episode(env, seed, expert_action)
        assert infos[-1]["success"] is True
        assert infos[-1]["steps"] == abs(infos[0]["current"] - infos[0]["target"])


# sha256 over all frames of an expert episode. These pin the rendering: they change when
# the drawing code, Pillow's built-in font (Pillow version) or numpy's PCG64 stream change.
PINNED_FRAMES = {
    (0, 300): "55657b664e4af269f1b9155b443554086666148bc3b959dad29e6c2cd35bc7f5",
    (7, 84): "ed76e7a65a1a669618730202ee63d930c52f11c9c5099d4ea55c16f87abe3a0d",
    (123, 56): "1edb03a1214aec920dd122affe12b31dde8a84ccb2ef603147a087ba83fe28eb",
}


@pytest.mark.parametrize("seed, frame_size", sorted(PINNED_FRAMES))
def test_pinned_frames(seed, frame_size):
    frames, _, _ = played_episode(NumberLineEnv(frame_size=frame_size), seed, expert_action)
    assert frames_digest(frames) == PINNED_FRAMES[seed, frame_size]
