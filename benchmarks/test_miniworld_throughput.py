"""Throughput of the MiniWorld worlds alone (no model): frames per second when N environments
are stepped one after another, as the rollout collector does, per frame size.

    pip install -e ".[miniworld,benchmark]"
    python -m pytest benchmarks/test_miniworld_throughput.py --benchmark-columns=median,ops -q

frames/s = N x ops (one op = one step of each of the N environments).
"""

from __future__ import annotations

import itertools

import pytest

from vldac.envs import make_world

ACTIONS = itertools.cycle([2, 2, 0, 2, 2, 1])  # mostly forward, some turns, as a navigating agent


@pytest.mark.parametrize("frame_size", [64, 84, 128, 224])
@pytest.mark.parametrize("num_envs", [1, 8, 32])
def test_oneroom_steps(benchmark, num_envs, frame_size):
    envs = [make_world("vldac/MiniWorld-OneRoom-v0", frame_size=frame_size) for _ in range(num_envs)]
    for seed, env in enumerate(envs):
        env.reset(seed=seed)

    def step_all():
        action = next(ACTIONS)
        for env in envs:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()

    benchmark.pedantic(step_all, rounds=60, warmup_rounds=5)
    benchmark.extra_info["frames_per_s"] = round(num_envs / benchmark.stats.stats.median, 1)
    for env in envs:
        env.close()
