"""Rollout bookkeeping with a mock world and a scripted mock policy (no model needed)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from vldac.algorithms import gae
from vldac.models.engine import Samples
from vldac.config import AlgorithmSettings
from vldac.rollout.buffer import RolloutBuffer, StepRecord
from vldac.rollout.collector import (
    EpisodeStats, LockstepEnvs, RolloutSettings, WorldCrashed, collect_group_episodes, collect_rollout,
)
from vldac.algorithms import algorithm_named
from vldac.rollout.modes import Rollout
from tests.helpers import CounterInterface, answer




class ScriptedPolicy:
    """Answers from a script per call; V(s) = 10 * (step number in the frame) + 1."""

    def __init__(self, answers_per_call: list[list[str]]):
        self.answers = iter(answers_per_call)
        self.value_calls: list[list[int]] = []

    def prompts(self, histories, instructions):
        return [int(frames[-1][0, 0, 0]) for frames in histories]

    def sample(self, prompts, temperature, max_new_tokens, greedy=False):
        texts = next(self.answers)
        n = len(prompts)
        return Samples(
            token_ids=torch.ones(n, 2, dtype=torch.long), token_logprobs=torch.zeros(n, 2),
            token_mask=torch.ones(n, 2, dtype=torch.bool), values=torch.tensor([10.0 * s + 1 for s in prompts]),
            cut_off=torch.zeros(n, dtype=torch.bool), texts=texts,
        )

    def token_index_at(self, token_ids, char_offset):
        return 1

    def observation_values(self, observations):
        steps = self.prompts([frames for frames, _ in observations], [text for _, text in observations])
        self.value_calls.append(steps)
        return torch.tensor([10.0 * s + 1 for s in steps])


def make_envs(num_envs=2, penalty=-1.0, **kwargs):
    seeds = iter(range(100))
    return LockstepEnvs("vldac-test/Counter-v0", num_envs, CounterInterface(), 1, penalty, lambda: next(seeds), kwargs)


def test_truncation_bootstraps_from_the_final_observation_and_termination_does_not():
    envs = make_envs()
    # env 0 waits three times (truncated at step 3); env 1 finishes at step 2, then waits.
    script = [[answer("wait"), answer("wait")], [answer("wait"), answer("finish")], [answer("wait"), answer("wait")]]
    policy = ScriptedPolicy(script)
    buffer, stats, _ = collect_rollout(envs, policy, RolloutSettings(1.0, 8), num_steps=3)
    steps = buffer.step_tensors()
    assert steps["truncated"][:, 0].tolist() == [False, False, True]
    assert steps["terminated"][:, 1].tolist() == [False, True, False]
    # Values of the observations each step saw: env 0 at steps 0,1,2; env 1 at 0,1 then a new episode at 0.
    assert steps["values"].tolist() == [[1.0, 1.0], [11.0, 11.0], [21.0, 1.0]]
    # next values: the following step's value, V(final obs, step 3) = 31 on the truncation,
    # 0 after the termination, and V(last obs) = 11 for env 1's unfinished episode.
    assert steps["next_values"].tolist() == [[11.0, 11.0], [21.0, 0.0], [31.0, 11.0]]
    assert sorted(policy.value_calls[0]) == [1, 3]
    advantages, _ = gae(steps["rewards"], steps["values"], steps["next_values"], steps["terminated"],
                        steps["truncated"], gamma=1.0, lam=1.0)
    # The truncated episode's last step: delta = 0 + 31 - 21 = 10 (bootstrapped, not zeroed).
    assert advantages[2, 0].item() == pytest.approx(10.0)
    assert stats.successes == [True, False] and stats.lengths == [2, 3]


def test_invalid_answer_costs_a_step_with_the_penalty_and_does_not_act():
    envs = make_envs(num_envs=1, penalty=-0.5)
    script = [["I think I will finish"], ['```json\n{"action": "maybe"}```'], [answer("wait")]]
    policy = ScriptedPolicy(script)
    buffer, stats, _ = collect_rollout(envs, policy, RolloutSettings(1.0, 8), num_steps=3)
    records = buffer.flat_records()
    assert [r.invalid for r in records] == [True, True, False]
    assert [r.reward for r in records] == [-0.5, -0.5, 0.0]
    # Invalid answers consumed steps 1 and 2 of the 3-step limit: the valid wait truncates.
    assert records[2].truncated and stats.lengths == [3] and stats.returns == [-1.0]
    assert envs.invalid_steps == 2


def test_cut_off_answer_is_invalid():
    envs = make_envs(num_envs=1)
    policy = ScriptedPolicy([[answer("finish")]])
    original = policy.sample

    def cut(*args, **kwargs):
        samples = original(*args, **kwargs)
        samples.cut_off[:] = True
        return samples

    policy.sample = cut
    buffer, _, _ = collect_rollout(envs, policy, RolloutSettings(1.0, 8), num_steps=1)
    assert buffer.flat_records()[0].invalid


def test_finite_seed_list_plays_each_seed_once():
    seeds = iter([5, 6, 7])
    envs = LockstepEnvs("vldac-test/Counter-v0", 2, CounterInterface(), 1, -1.0, lambda: next(seeds, None))
    stats = EpisodeStats()
    while any(envs.active):
        envs.step([answer("finish") if on else None for on in envs.active], stats)
    assert sorted(stats.seeds) == [5, 6, 7]


def test_a_crashed_world_is_rebuilt_its_episode_truncated_and_repeated_crashes_stop_the_run():
    envs = make_envs(num_envs=1, crash_on_step=True)
    first_world = envs.envs[0]
    stats = EpisodeStats()
    for restarts in (1, 2):
        (result,) = envs.step([answer("wait")], stats)
        assert result["truncated"] and not result["terminated"] and result["final_frames"] is None
        assert envs.world_restarts == restarts and envs.envs[0] is not first_world
    assert envs.seeds == [2] and stats.returns == []  # a new episode on the next seed; the crashed ones not counted
    with pytest.raises(WorldCrashed, match=r"crashed 3 times in a row, last on step \(episode seed 2, action 0\)"):
        envs.step([answer("wait")], stats)


def test_a_world_that_hangs_past_the_step_timeout_is_rebuilt():
    seeds = iter(range(100))
    envs = LockstepEnvs("vldac-test/Counter-v0", 2, CounterInterface(), 1, -1.0, lambda: next(seeds), {"hang_seconds": 0.5},
                        step_timeout=0.1)
    started = time.perf_counter()
    results = envs.step([answer("wait"), answer("wait")], EpisodeStats())
    assert time.perf_counter() - started < 0.45  # neither hung step was waited for
    assert all(r["truncated"] and r["final_frames"] is None for r in results) and envs.world_restarts == 2
    envs.close()


def test_a_world_that_crashes_on_reset_is_rebuilt_and_tries_the_next_seed():
    envs = make_envs(num_envs=2, crash_on_seeds=[1, 2])
    assert envs.seeds == [0, 3] and envs.world_restarts == 2
    with pytest.raises(WorldCrashed, match=r"crashed 3 times in a row, last on reset\(seed=2\)"):
        make_envs(num_envs=1, crash_on_seeds=[0, 1, 2, 3, 4, 5, 6])


def test_crashes_separated_by_a_finished_episode_are_not_in_a_row():
    # Seeds 0, 2 and 4 crash on reset; between them a whole episode of invalid answers ends at the
    # step limit (3 steps) without the world failing, so no three failures are in a row.
    envs = make_envs(num_envs=1, crash_on_seeds=[0, 2, 4])
    stats = EpisodeStats()
    for _ in range(6):
        envs.step(["garbage"], stats)
    assert envs.world_restarts == 3 and stats.lengths == [3, 3] and envs.seeds == [5]


def test_all_invalid_answers_name_the_token_limit_or_the_format():
    from vldac.train.trainer import all_invalid_cause

    def records(cut_off: list[bool]):
        return [StepRecord([], "", torch.tensor([1]), torch.tensor([0.0]), 0.0, -1.0, False, False, True, cut_off=c)
                for c in cut_off]

    assert "raise generation.max_new_tokens" in all_invalid_cause(records([True, True, False]), 8)
    assert "max_new_tokens=8" in all_invalid_cause(records([True, True, False]), 8)
    assert "answer format" in all_invalid_cause(records([False, False, True]), 8)


def test_a_crash_truncates_without_a_bootstrap_value():
    buffer = RolloutBuffer(1, 1)
    record = StepRecord([np.zeros((4, 4, 3), np.uint8)], "count", torch.tensor([1]), torch.tensor([0.0]), 5.0, 0.0,
                        terminated=False, truncated=True, invalid=False)
    buffer.add(0, 0, record)
    buffer.last_observations = [([np.zeros((4, 4, 3), np.uint8)], "count")]
    assert buffer.bootstrap_requests() == []
    assert buffer.step_tensors()["next_values"].tolist() == [[0.0]]


def test_group_episodes_share_a_seed_and_wait_for_the_last_member():
    seeds = iter(range(50, 100))
    envs = LockstepEnvs("vldac-test/Counter-v0", 4, CounterInterface(), 1, -1.0, lambda: next(seeds), {"max_steps": 3},
                        autoreset=False)
    # Group 0 = envs 0, 1; group 1 = envs 2, 3. Env 0 finishes at once, env 1 waits to the
    # time limit, env 2 finishes on its second step, env 3 writes garbage (invalid) twice then finishes.
    script = [
        [answer("finish"), answer("wait"), answer("wait"), "garbage"],
        [answer("wait"), answer("finish"), "garbage"],
        [answer("wait"), answer("finish")],
    ]
    policy = ScriptedPolicy(script)
    trajectories, stats, _ = collect_group_episodes(envs, policy, RolloutSettings(1.0, 8), group_size=2)
    assert [len(t) for t in trajectories] == [1, 3, 2, 3]
    assert envs.seeds[0] == envs.seeds[1] != envs.seeds[2] == envs.seeds[3]
    assert sorted(stats.lengths) == [1, 2, 3, 3]
    returns = [sum(r.reward for r in t) for t in trajectories]
    assert returns == [1.0, 0.0, 1.0, -1.0]
    rollout = Rollout([record for trajectory in trajectories for record in trajectory], trajectories, stats, None)
    loop = algorithm_named("loop").advantages(rollout, AlgorithmSettings(name="loop", group_size=2), None)
    # Leave-one-out within each group of two: A_i = R_i - R_other.
    assert loop.advantages.tolist() == [1.0] + [-1.0] * 3 + [2.0] * 2 + [-2.0] * 3
    assert loop.returns.tolist() == [0.0] * 9 and loop.explained_variance is None
    grpo = algorithm_named("grpo").advantages(rollout, AlgorithmSettings(name="grpo", group_size=2), None).advantages
    assert grpo[0] > 0 and grpo[1] < 0 and grpo[0] == pytest.approx(-grpo[1])


def test_records_mark_where_the_action_field_begins():
    envs = make_envs(num_envs=1)
    policy = ScriptedPolicy([[answer("wait")], ["no json here"]])
    buffer, _, _ = collect_rollout(envs, policy, RolloutSettings(1.0, 8), num_steps=2)
    assert [r.action_start for r in buffer.flat_records()] == [1, None]
