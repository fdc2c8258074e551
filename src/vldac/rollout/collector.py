"""Rollouts: N environments stepped in lockstep, one batched generation call per step for all N.

The environments are a plain list rather than a gymnasium vector env for two reasons: an
invalid answer must consume a step of its episode without acting in the world (the world has
no "do nothing" action), and every new episode gets its own seed from the caller's seed source
(training seeds and evaluation seeds never overlap). Each finished episode is reset at once
(same-step reset), so no transition ever needs masking; the final observation of a
truncated episode is kept for its bootstrap value.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

from vldac.agents import FrameHistory, LanguageInterface, action_field_offset
from vldac.envs import make_world
from vldac.models.policy import VLMPolicy
from vldac.rollout.buffer import RolloutBuffer, StepRecord


class WorldCrashed(RuntimeError):
    """An environment kept raising while stepping or resetting (or returned a non-finite reward)."""


MAX_CONSECUTIVE_FAILURES = 3
"""A world that raises this many times in a row (rebuilt after each) stops the run."""


def episode_step_limit(env: gym.Env) -> int:
    """The time limit of an env's episodes (vldac worlds expose ``max_steps``)."""
    limit = getattr(env.unwrapped, "max_steps", None) or (env.spec.max_episode_steps if env.spec else None)
    if not limit:
        raise ValueError(f"Environment {env.spec.id if env.spec else env} has no step limit; give it max_steps.")
    return int(limit)


@dataclass
class EpisodeStats:
    """Results of finished episodes: one entry per episode, in the order they ended."""

    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    successes: list[bool] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    invalid: list[int] = field(default_factory=list)
    """Invalid answers in each episode."""

    def add(self, episode_return: float, length: int, success: bool, seed: int, invalid: int = 0) -> None:
        self.returns.append(episode_return)
        self.lengths.append(length)
        self.successes.append(success)
        self.seeds.append(seed)
        self.invalid.append(invalid)


class LockstepEnvs:
    """N copies of one world with agent-side frame histories, episode counters and seeds.

    ``step(answers)`` takes one answer text per environment; an answer that does not parse
    costs a step (reward ``invalid_penalty``, the world is not stepped) and is counted. A world
    that raises (or, with ``step_timeout``, hangs past it) is closed and rebuilt (counted in
    ``world_restarts``): a crashed step ends its
    episode as truncated, without a bootstrap value, and a crashed reset retries on the next seed;
    ``MAX_CONSECUTIVE_FAILURES`` failures of one world in a row (with no step that worked and no
    episode that ended without a crash between them) stop the run. When
    ``next_seed`` returns None (a finite list of evaluation seeds ran out), the env stops; so
    does an env whose episode ended when ``autoreset`` is off (the episode-groups rollout mode).
    """

    def __init__(
        self,
        env_id: str,
        num_envs: int,
        interface: LanguageInterface,
        history: int,
        invalid_penalty: float,
        next_seed: Callable[[], int],
        env_kwargs: dict | None = None,
        autoreset: bool = True,
        reward_clip: float | None = None,
        step_timeout: float | None = None,
    ):
        self.env_id = env_id
        self.step_timeout = step_timeout
        self.workers: dict[int, ThreadPoolExecutor] = {}
        self.env_kwargs = env_kwargs or {}
        self.reward_clip = reward_clip
        self.nonfinite_rewards = 0
        self.world_restarts = 0
        self.consecutive_failures = [0] * num_envs
        self.envs = [make_world(env_id, **self.env_kwargs) for _ in range(num_envs)]
        self.interface = interface
        self.history = FrameHistory(history)
        self.invalid_penalty = invalid_penalty
        self.invalid_steps = 0
        self.next_seed = next_seed
        self.autoreset = autoreset
        self.active = [True] * num_envs
        self.limits = [episode_step_limit(env) for env in self.envs]
        self.seeds = [0] * num_envs
        self.actions: list[list[int | None]] = [[] for _ in range(num_envs)]
        self.episode_returns = [0.0] * num_envs
        self.episode_lengths = [0] * num_envs
        self.infos: list[dict] = [{} for _ in range(num_envs)]
        for index in range(num_envs):
            self._reset(index)

    @property
    def num_envs(self) -> int:
        return len(self.envs)

    def _reset(self, index: int, seed: int | None = None) -> None:
        seed = self.next_seed() if seed is None else seed
        if seed is None:
            self.active[index] = False
            return
        try:
            frame, info = self._call(index, self.envs[index].reset, seed=seed)
        except Exception as error:
            self._restart(index, f"reset(seed={seed})", error, "check the env kwargs in the config or report the seed")
            self._reset(index)
            return
        self.seeds[index] = seed
        self.actions[index] = []
        self.episode_returns[index] = 0.0
        self.episode_lengths[index] = 0
        self.history.reset(index, frame)
        self.infos[index] = info

    def instructions(self) -> list[str]:
        """Each env's instruction text for its current observation (empty for a stopped env)."""
        return [self.interface.instruction(self.infos[i]) if self.active[i] else "" for i in range(self.num_envs)]

    def frame_histories(self) -> list[list[np.ndarray]]:
        """Each env's frames, oldest first (empty for a stopped env)."""
        return [self.history.frames(i) if self.active[i] else [] for i in range(self.num_envs)]

    def step(self, answers: list[str | None], stats: EpisodeStats) -> list[dict | None]:
        """Act on one answer per env (None for a stopped env); finished episodes are recorded
        in ``stats`` and reset.

        Returns one dict per active env (None for a stopped one): reward, terminated, truncated,
        invalid, and ``final_frames`` / ``final_text`` (a truncated episode's final observation,
        else None).
        """
        results = []
        for index, (env, text) in enumerate(zip(self.envs, answers, strict=True)):
            if not self.active[index]:
                results.append(None)
                continue
            parsed = self.interface.parse(text, self.infos[index])
            invalid = parsed.action is None
            self.invalid_steps += invalid
            self.actions[index].append(parsed.action)
            if invalid:
                reward, terminated, truncated, success = self.invalid_penalty, False, False, False
            else:
                try:
                    frame, reward, terminated, truncated, info = self._call(index, env.step, parsed.action)
                except Exception as error:
                    where = f"step (episode seed {self.seeds[index]}, action {parsed.action})"
                    self._restart(index, where, error, "report the seed")
                    results.append(dict(reward=0.0, terminated=False, truncated=True, invalid=False,
                                        final_frames=None, final_text=None, answer=parsed))
                    if self.autoreset:
                        self._reset(index)
                    else:
                        self.active[index] = False
                    continue
                self.consecutive_failures[index] = 0
                reward = self._checked_reward(float(reward), index)
                success = bool(info["success"])
                self.history.push(index, frame)
                self.infos[index] = info
            self.episode_returns[index] += float(reward)
            self.episode_lengths[index] += 1
            if not terminated and self.episode_lengths[index] >= self.limits[index]:
                truncated = True
            if invalid and not terminated:
                self.history.push(index, self.history.frames(index)[-1])
            final = truncated and not terminated
            results.append(
                dict(reward=float(reward), terminated=bool(terminated), truncated=bool(truncated) and not terminated,
                     invalid=invalid, final_frames=self.history.frames(index) if final else None,
                     final_text=self.interface.instruction(self.infos[index]) if final else None, answer=parsed)
            )
            if terminated or truncated:
                self.consecutive_failures[index] = 0  # an episode ended without a crash: the next failure starts a new row
                stats.add(self.episode_returns[index], self.episode_lengths[index], success, self.seeds[index],
                          sum(action is None for action in self.actions[index]))
                if self.autoreset:
                    self._reset(index)
                else:
                    self.active[index] = False
        return results

    def episodes_in_flight(self) -> dict:
        """What ``restore`` needs to continue every env's episode: its seed, the actions taken so far
        (None for an invalid answer) and whether it is active; and the counters."""
        return {
            "seeds": list(self.seeds), "actions": [list(a) for a in self.actions], "active": list(self.active),
            "invalid_steps": self.invalid_steps, "nonfinite_rewards": self.nonfinite_rewards,
            "world_restarts": self.world_restarts,
        }

    def restore(self, saved: dict) -> None:
        """Continue the episodes of ``episodes_in_flight()``: each active env is reset on its
        episode's seed and replays the actions taken (vldac's worlds are deterministic given both),
        so its frames, history, return and length are those it had."""
        for index, (seed, actions, active) in enumerate(zip(saved["seeds"], saved["actions"], saved["active"], strict=True)):
            self.active[index] = active
            if not active:
                continue
            self._reset(index, seed)
            for action in actions:
                if action is None:
                    reward = self.invalid_penalty
                    self.history.push(index, self.history.frames(index)[-1])
                else:
                    frame, reward, _, _, info = self.envs[index].step(action)
                    reward = self._checked_reward(float(reward), index)
                    self.history.push(index, frame)
                    self.infos[index] = info
                self.episode_returns[index] += float(reward)
                self.episode_lengths[index] += 1
            self.actions[index] = list(actions)
        self.invalid_steps = saved["invalid_steps"]
        self.nonfinite_rewards = saved["nonfinite_rewards"]
        self.world_restarts = saved["world_restarts"]

    def _call(self, index: int, method: Callable, *args, **kwargs):
        """``method(*args, **kwargs)`` of world ``index``; with ``step_timeout``, run on the world's
        own worker thread and abandoned (``TimeoutError``) when it takes longer."""
        if self.step_timeout is None:
            return method(*args, **kwargs)
        worker = self.workers.setdefault(index, ThreadPoolExecutor(max_workers=1))
        try:
            return worker.submit(method, *args, **kwargs).result(timeout=self.step_timeout)
        except FutureTimeout:
            worker.shutdown(wait=False, cancel_futures=True)
            del self.workers[index]
            raise TimeoutError(f"no answer within env.step_timeout={self.step_timeout} s") from None

    def _restart(self, index: int, where: str, error: Exception, advice: str) -> None:
        """Close and rebuild world ``index`` after it raised; stop the run when it keeps failing."""
        self.consecutive_failures[index] += 1
        if self.consecutive_failures[index] >= MAX_CONSECUTIVE_FAILURES:
            raise WorldCrashed(
                f"World {self.env_id} crashed {self.consecutive_failures[index]} times in a row, last on {where}: "
                f"{error!r}; {advice}."
            ) from error
        self.world_restarts += 1
        try:
            self.envs[index].close()
        except Exception:  # a crashed world may not close cleanly; it is replaced either way
            pass
        self.envs[index] = make_world(self.env_id, **self.env_kwargs)

    def _checked_reward(self, reward: float, index: int) -> float:
        """The world's reward, clipped to [-reward_clip, reward_clip] (NaN as 0) when that is set;
        without it a non-finite reward stops the run."""
        if not math.isfinite(reward):
            if self.reward_clip is None:
                raise WorldCrashed(
                    f"World {self.env_id} returned the non-finite reward {reward} at step "
                    f"{self.episode_lengths[index] + 1} of the episode with seed {self.seeds[index]}; fix the world, "
                    "or set env.reward_clip to clip rewards (NaN counts as 0) and count such steps."
                )
            self.nonfinite_rewards += 1
            reward = 0.0 if math.isnan(reward) else reward
        if self.reward_clip is not None:
            reward = min(max(reward, -self.reward_clip), self.reward_clip)
        return reward

    def start_groups(self, group_size: int) -> None:
        """Begin one episode in every env, the envs of each consecutive group of ``group_size``
        on the same seed (the same task), for the episode-groups rollout mode."""
        for first in range(0, self.num_envs, group_size):
            seed = self.next_seed()
            for index in range(first, first + group_size):
                self.active[index] = True
                self._reset(index, seed)

    def close(self) -> None:
        for env in self.envs:
            env.close()
        for worker in self.workers.values():
            worker.shutdown(wait=False)


@dataclass
class RolloutSettings:
    """How answers are generated: softmax(logits / temperature) sampling, or the argmax (greedy)."""

    temperature: float
    max_new_tokens: int
    greedy: bool = False


@dataclass
class StepTiming:
    generation_seconds: float = 0.0
    generated_tokens: int = 0


def step_envs(
    envs: LockstepEnvs, policy: VLMPolicy, settings: RolloutSettings, stats: EpisodeStats, timing: StepTiming
) -> dict[int, StepRecord]:
    """One batched generation for every active env, then one step of each: {env index: record}."""
    active = [i for i, on in enumerate(envs.active) if on]
    histories, texts = envs.frame_histories(), envs.instructions()
    started = time.perf_counter()
    samples = policy.sample(
        policy.prompts([histories[i] for i in active], [texts[i] for i in active]),
        settings.temperature, settings.max_new_tokens, greedy=settings.greedy,
    )
    timing.generation_seconds += time.perf_counter() - started
    timing.generated_tokens += int(samples.token_mask.sum())
    answers: list[str | None] = [None] * envs.num_envs
    for row, index in enumerate(active):
        answers[index] = "" if samples.cut_off[row] else samples.texts[row]
    results = envs.step(answers, stats)
    records = {}
    for row, index in enumerate(active):
        result = results[index]
        token_ids = samples.token_ids[row][samples.token_mask[row]].cpu()
        offset = action_field_offset(samples.texts[row])
        records[index] = StepRecord(
            frames=histories[index],
            text=texts[index],
            token_ids=token_ids,
            logprobs=samples.token_logprobs[row][samples.token_mask[row]].cpu(),
            value=float(samples.values[row]),
            reward=result["reward"],
            terminated=result["terminated"],
            truncated=result["truncated"],
            invalid=result["invalid"],
            final_frames=result["final_frames"],
            final_text=result["final_text"],
            action_start=None if offset is None else policy.token_index_at(token_ids, offset),
            cut_off=bool(samples.cut_off[row]),
            answer=result["answer"],
        )
    return records


def collect_rollout(
    envs: LockstepEnvs, policy: VLMPolicy, settings: RolloutSettings, num_steps: int
) -> tuple[RolloutBuffer, EpisodeStats, StepTiming]:
    """Step all envs ``num_steps`` times with sampled answers (the steps rollout mode); returns
    the buffer with bootstrap values filled in, the finished episodes and timing figures."""
    buffer = RolloutBuffer(num_steps, envs.num_envs)
    stats = EpisodeStats()
    timing = StepTiming()
    for t in range(num_steps):
        for index, record in step_envs(envs, policy, settings, stats, timing).items():
            buffer.add(t, index, record)
    buffer.last_observations = list(zip(envs.frame_histories(), envs.instructions()))
    requests = buffer.bootstrap_requests()
    if requests:
        values = policy.observation_values([observation for _, observation in requests])
        buffer.set_bootstrap_values([key for key, _ in requests], values.tolist())
    return buffer, stats, timing


def collect_group_episodes(
    envs: LockstepEnvs, policy: VLMPolicy, settings: RolloutSettings, group_size: int
) -> tuple[list[list[StepRecord]], EpisodeStats, StepTiming]:
    """One episode in every env, each consecutive group of ``group_size`` envs on one seed
    (the episode-groups rollout mode: LOOP, GRPO, GiGPO). Envs whose episode ended wait until the last one ends, so every group is
    complete when this returns. Returns one trajectory (list of records) per env."""
    envs.start_groups(group_size)
    trajectories: list[list[StepRecord]] = [[] for _ in range(envs.num_envs)]
    stats = EpisodeStats()
    timing = StepTiming()
    while any(envs.active):
        for index, record in step_envs(envs, policy, settings, stats, timing).items():
            trajectories[index].append(record)
    return trajectories, stats, timing
