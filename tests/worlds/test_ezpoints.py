"""EZPoints: gymnasium conformance, the rule table, the deal, seeding, frame pins, the expert."""

import collections
import hashlib

import gymnasium
import numpy as np
import pytest

import vldac.envs  # noqa: F401  (registers the worlds)
from tests.helpers import frames_digest, played_episode
from vldac.envs.cards.ezpoints import EZPointsEnv, expert_action, solution

ENV_ID = "vldac/EZPoints-v0"
NAMES = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "+", "*", "="]


def env_with(ranks: list[int], **kwargs) -> EZPointsEnv:
    """A reset env holding chosen cards (the rules do not depend on how they were dealt)."""
    env = EZPointsEnv(frame_size=56, **kwargs)
    env.reset(seed=0)
    env.cards, env.suits = list(ranks), [0] * len(ranks)
    env.values = [min(rank, 10) for rank in ranks]
    env.used = [False] * len(ranks)
    return env


def play(env, names: list[str]) -> list[tuple]:
    """(reward, terminated, truncated, info) of each named action."""
    return [env.step(NAMES.index(name))[1:] for name in names]


def test_action_names_and_spaces():
    env = gymnasium.make(ENV_ID)
    assert env.unwrapped.action_names == NAMES
    assert env.action_space == gymnasium.spaces.Discrete(13)


@pytest.mark.parametrize(
    "ranks, before, action, reward, terminated, success, formula",
    [
        ([12, 2], [], "10", 0.0, False, False, ["10"]),  # a Q is played as 10
        ([12, 2], [], "3", -1.0, False, False, []),  # not in hand: wasted
        ([12, 2], ["2"], "2", -1.0, False, False, ["2"]),  # already used: wasted
        ([6, 6], ["6"], "6", 0.0, False, False, ["6", "6"]),  # a pair: each card once
        ([6, 6], ["6", "+", "6"], "6", -1.0, False, False, ["6", "+", "6"]),  # a pair, third time
        ([12, 2], ["10"], "+", 0.0, False, False, ["10", "+"]),  # operator appended
        ([12, 2], [], "*", 0.0, False, False, ["*"]),  # operators are appended anywhere
        ([12, 2], ["10", "+", "2"], "=", 10.0, True, True, ["10", "+", "2"]),  # right
        ([13, 2], ["2", "+", "10"], "=", 10.0, True, True, ["2", "+", "10"]),  # K by its value
        ([3, 4], ["4", "*", "3"], "=", 10.0, True, True, ["4", "*", "3"]),  # right, product
        ([6, 6], ["6", "+", "6"], "=", 10.0, True, True, ["6", "+", "6"]),  # right, pair
        ([3, 4], ["3", "+", "4"], "=", -1.0, True, False, ["3", "+", "4"]),  # worth 7
        ([6, 6], ["6", "*", "6"], "=", -1.0, True, False, ["6", "*", "6"]),  # worth 36
        ([12, 2], ["10"], "=", -1.0, True, False, ["10"]),  # one card unused
        ([12, 2], ["10", "+"], "=", -1.0, True, False, ["10", "+"]),  # malformed
        ([12, 2], ["10", "2"], "=", -1.0, True, False, ["10", "2"]),  # numbers side by side: not 102
        ([12, 2], ["+", "10", "2"], "=", -1.0, True, False, ["+", "10", "2"]),  # no unary plus
        ([12, 2], [], "=", -1.0, True, False, []),  # empty
        ([12, 2], ["+"] * 5, "*", 0.0, False, False, ["+"] * 5 + ["*"]),  # 5 symbols: still allowed
        ([12, 2], ["+"] * 6, "10", -1.0, True, False, ["+"] * 6),  # more than 5: ends (termination)
        ([12, 2], ["+"] * 6, "=", -1.0, True, False, ["+"] * 6),
    ],
)
def test_rule_table(ranks, before, action, reward, terminated, success, formula):
    env = env_with(ranks)
    for name in before:
        assert play(env, [name])[0][1:3] == (False, False)
    got_reward, got_terminated, truncated, info = play(env, [action])[0]
    assert (got_reward, got_terminated, truncated) == (reward, terminated, False)
    assert info["success"] is success
    assert info["formula"] == formula and info["formula_text"] == "".join(formula)
    assert info["steps"] == len(before) + 1
    assert sum(info["used"]) == sum(name.isdecimal() for name in formula)


def test_used_marks_cards_in_table_order():
    env = env_with([6, 6])
    assert play(env, ["6"])[0][3]["used"] == [True, False]
    assert play(env, ["+", "6"])[-1][3]["used"] == [True, True]
    env = env_with([12, 2])
    assert play(env, ["2"])[0][3]["used"] == [False, True]
    assert play(env, ["3"])[0][3]["used"] == [False, True]  # wasted steps change nothing


def test_truncated_at_max_steps_wasted_steps_count():
    env = env_with([12, 2])
    for step, (reward, terminated, truncated, info) in enumerate(play(env, ["3"] * 10), start=1):
        assert (reward, terminated, truncated, info["steps"]) == (-1.0, False, step == 10, step)
    assert info["formula"] == [] and info["success"] is False


def test_right_answer_on_the_last_step_terminates_not_truncates():
    env = env_with([12, 2])
    results = play(env, ["3"] * 6 + ["10", "+", "2", "="])
    assert results[-1][:3] == (10.0, True, False) and results[-1][3]["steps"] == 10


def test_max_steps_argument():
    env = env_with([12, 2], max_steps=3)
    assert [truncated for _, _, truncated, _ in play(env, ["+"] * 3)] == [False, False, True]


def test_invalid_action_raises_clear_error():
    env = env_with([12, 2])
    with pytest.raises(ValueError, match="not in Discrete"):
        env.step(13)


EXPECTED_HANDS = {  # reference deal: probability of each hand (as sorted values)
    (2, 10): 9 / 24,
    (5, 7): 4 / 24,
    (3, 9): 3 / 24,
    (4, 8): 3 / 24,
    (2, 6): 2 / 24,
    (3, 4): 2 / 24,
    (6, 6): 1 / 24,
}


def test_deal_distribution():
    env = EZPointsEnv(frame_size=16)
    hands, tens, orders, suits = collections.Counter(), collections.Counter(), set(), set()
    seeds = 4000
    for seed in range(seeds):
        _, info = env.reset(seed=seed)
        a, b = info["values"]
        assert a + b == 12 or a * b == 12
        assert info["values"] == [min(rank, 10) for rank in info["cards"]]
        assert all(2 <= rank <= 13 for rank in info["cards"])
        hands[tuple(sorted(info["values"]))] += 1
        tens.update(rank for rank in info["cards"] if rank >= 10)
        orders.add(tuple(info["values"]))
        suits.update(env.suits)
    assert set(hands) == set(EXPECTED_HANDS)
    for hand, probability in EXPECTED_HANDS.items():
        assert abs(hands[hand] / seeds - probability) < 0.025, hand
    assert set(tens) == {10, 11, 12, 13} and min(tens.values()) > 0.2 * sum(tens.values())
    assert {(2, 10), (10, 2), (3, 4), (4, 3), (5, 7), (7, 5)} <= orders  # table order shuffled
    assert suits == {0, 1, 2, 3}


def test_info_keys_and_types_every_step():
    env = EZPointsEnv(frame_size=32)
    for seed in range(20):
        _, info = env.reset(seed=seed)
        infos = [info]
        for name in ["3", "+", "10", "*", "2", "=", "="]:
            *_, terminated, truncated, info = env.step(NAMES.index(name))
            infos.append(info)
            if terminated or truncated:
                break
        for info in infos:
            assert set(info) == {"success", "cards", "values", "formula", "formula_text", "used", "steps"}
            assert type(info["success"]) is bool and type(info["steps"]) is int
            assert all(type(v) is int for v in info["cards"] + info["values"])
            assert all(type(u) is bool for u in info["used"])
            assert all(type(s) is str for s in info["formula"]) and type(info["formula_text"]) is str


def test_different_seeds_give_different_frames_for_same_cards():
    env = EZPointsEnv(frame_size=84)
    frames = collections.defaultdict(list)
    for seed in range(300):
        frame, info = env.reset(seed=seed)
        frames[tuple(info["cards"]), tuple(env.suits)].append(frame)
    same = max(frames.values(), key=len)
    assert len(same) >= 3
    assert len({hashlib.sha256(frame.tobytes()).hexdigest() for frame in same}) == len(same)


def test_frame_changes_with_the_formula_only():
    env = env_with([12, 2])
    empty = env._draw()
    play(env, ["3"])  # wasted: same formula, same frame
    assert np.array_equal(env._draw(), empty)
    play(env, ["10"])
    assert not np.array_equal(env._draw(), empty)


@pytest.mark.parametrize("values", [[10, 2], [2, 10], [3, 4], [6, 6], [5, 7], [2, 6], [9, 3], [8, 4]])
def test_expert_solution(values):
    tokens = solution(values)
    assert tokens[0] == str(values[0]) and tokens[2] == str(values[1])
    assert (values[0] + values[1] if tokens[1] == "+" else values[0] * values[1]) == 12


def test_expert_solves_every_episode_in_four_steps():
    env = EZPointsEnv(frame_size=16)
    for seed in range(300):
        _, infos, rewards = played_episode(env, seed, expert_action)
        assert infos[-1]["success"] is True and rewards == [0.0, 0.0, 0.0, 10.0]


# sha256 over all frames of an expert episode; they change when the drawing code,
# Pillow's built-in font (Pillow version) or numpy's PCG64 stream change.
PINNED_FRAMES = {
    (0, 300): "358e805eb17d9da0f1c44f4e2a47fde9430452667b6b844539acd5c8775b1a8e",
    (7, 84): "ba12f5db4a763fd1fbe53ca8a5dcb6d803ecccdbedef66de7218ea8c25622dcd",
    (123, 84): "32041d89420e7ccc52f67911c0d76d6f242038e6f7acdf9eedd159922db0e953",
}


@pytest.mark.parametrize("seed, frame_size", sorted(PINNED_FRAMES))
def test_pinned_frames(seed, frame_size):
    frames, _, _ = played_episode(EZPointsEnv(frame_size=frame_size), seed, expert_action)
    assert frames_digest(frames) == PINNED_FRAMES[seed, frame_size]
