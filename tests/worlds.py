"""Checks shared by the world tests."""

from __future__ import annotations

import numpy as np


def replay(make_env, seed: int, actions: list[int]) -> list[tuple[np.ndarray, dict]]:
    """(frame, info with the reward) after reset(seed) and each action, until the episode ends;
    every step's frame must equal render()."""
    env = make_env()
    frame, info = env.reset(seed=seed)
    run = [(frame, info)]
    for action in actions:
        frame, reward, terminated, truncated, info = env.step(action)
        assert np.array_equal(frame, env.render())
        run.append((frame, {**info, "reward": reward}))
        if terminated or truncated:
            break
    return run


def assert_same_replays(first: list, second: list) -> None:
    assert len(first) == len(second)
    for (frame_a, info_a), (frame_b, info_b) in zip(first, second):
        assert np.array_equal(frame_a, frame_b) and info_a == info_b
