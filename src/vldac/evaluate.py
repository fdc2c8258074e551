"""Evaluation: episodes on seeds S..S+N-1, environments batched, greedy by default; the
scripted expert on the same seeds for comparison."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

import vldac.envs
from vldac.agents import interface_for
from vldac.config import ROLLOUT_MEMORY, PlaySettings, setting
from vldac.models.policy import VLMPolicy
from vldac.rollout.collector import EpisodeStats, LockstepEnvs, RolloutSettings, StepTiming, step_envs
from vldac.seeds import EVAL_SEED_START


@dataclass
class EvaluationSize:
    """How many episodes an evaluation plays (one per seed), and how many worlds run at once."""

    episodes: int = setting(200, at_least=1)
    num_envs: int = setting(32, at_least=1, at_most=1024, why=ROLLOUT_MEMORY)


def evaluate(
    policy: VLMPolicy,
    play: PlaySettings,
    episodes: int,
    seed: int = EVAL_SEED_START,
    num_envs: int = 32,
    greedy: bool = True,
    progress: bool = True,
) -> dict[str, float | int]:
    """Play exactly ``episodes`` episodes of ``play``'s world with its settings, one per seed in
    seed..seed+episodes-1 (the prompt layout is the policy's own).

    Returns success_rate, mean_return, mean_length, episodes, invalid_rate (invalid answers
    over all steps), the standard errors, and the settings played with.
    """
    stats = play_episodes(policy, play, episodes, seed, num_envs, greedy, progress)
    return {**summarize(stats), "invalid_rate": sum(stats.invalid) / max(sum(stats.lengths), 1), "env_id": play.env_id,
            "seed": seed, "greedy": greedy, "temperature": play.temperature, "max_new_tokens": play.max_new_tokens,
            "history": play.history, "invalid_penalty": play.invalid_penalty}


def play_episodes(
    policy: VLMPolicy, play: PlaySettings, episodes: int, seed: int, num_envs: int, greedy: bool, progress: bool
) -> EpisodeStats:
    """Each episode's return, length, success, seed and invalid answers, one episode per seed in
    seed..seed+episodes-1, environments batched, stepped as rollouts are (see ``evaluate``)."""
    seeds: Iterator[int] = iter(range(seed, seed + episodes))
    envs = LockstepEnvs(
        play.env_id, min(num_envs, episodes), interface_for(play.env_id, play.env_kwargs), play.history,
        play.invalid_penalty, next_seed=lambda: next(seeds, None), env_kwargs=play.env_kwargs,
    )
    settings = RolloutSettings(play.temperature, play.max_new_tokens, greedy)
    stats, timing = EpisodeStats(), StepTiming()
    with tqdm(total=episodes, desc=f"eval {play.env_id}", unit="ep", disable=not progress) as bar:
        while any(envs.active):
            finished = len(stats.returns)
            step_envs(envs, policy, settings, stats, timing)
            bar.update(len(stats.returns) - finished)
    envs.close()
    return stats


def evaluate_expert(
    env_id: str, episodes: int, seed: int = EVAL_SEED_START, env_kwargs: dict | None = None
) -> dict[str, float | int]:
    """The world's scripted expert on the same seeds: the upper bound a trained model is held to."""
    expert = vldac.envs.expert_for(env_id)
    env = vldac.envs.make_world(env_id, **(env_kwargs or {}))
    stats = EpisodeStats()
    for episode_seed in range(seed, seed + episodes):
        _, info = env.reset(seed=episode_seed)
        episode_return, length, done = 0.0, 0, False
        while not done:
            _, reward, terminated, truncated, info = env.step(expert(info))
            episode_return += float(reward)
            length += 1
            done = terminated or truncated
        stats.add(episode_return, length, bool(info["success"]), episode_seed)
    env.close()
    return {**summarize(stats), "invalid_rate": 0.0, "env_id": env_id, "seed": seed, "policy": "expert"}


def _stderr(values: np.ndarray) -> float:
    return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0


def across_runs(results: list[dict]) -> dict[str, float | int]:
    """Several runs' results on the same seeds (e.g. one checkpoint per training seed) as one: each
    number's mean over the runs, and for success and return the standard error over runs (the
    sample standard deviation of the runs' means / sqrt(runs)), which is the error a claim about
    the recipe carries; episodes is per run."""
    def mean(key: str) -> float:
        return float(np.mean([result[key] for result in results]))

    return {
        "success_rate": mean("success_rate"),
        "success_stderr": _stderr(np.array([result["success_rate"] for result in results])),
        "mean_return": mean("mean_return"),
        "return_stderr": _stderr(np.array([result["mean_return"] for result in results])),
        "mean_length": mean("mean_length"),
        "invalid_rate": mean("invalid_rate"),
        "episodes": results[0]["episodes"],
        "runs_count": len(results),
        "stderr_over": "runs",
    }


def summarize(stats: EpisodeStats) -> dict[str, float | int]:
    """Success rate and mean return with their standard errors, mean length, episode count."""
    successes = np.array(stats.successes, dtype=float)
    returns = np.array(stats.returns, dtype=float)
    return {
        "success_rate": float(successes.mean()),
        "success_stderr": _stderr(successes),
        "mean_return": float(returns.mean()),
        "return_stderr": _stderr(returns),
        "mean_length": float(np.mean(stats.lengths)),
        "episodes": len(stats.returns),
    }
