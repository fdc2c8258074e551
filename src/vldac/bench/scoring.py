"""Scores as BALROG reports them: per environment (and per task) the mean of the episodes'
progression x100 with its standard error (population standard deviation / sqrt(n), x100); overall
the mean over environments, with standard error sqrt(sum of squared environment errors) / number
of environments. Paired differences against a base model match episodes by (task, seed)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EpisodeResult:
    """One played episode: its progression (0..1), steps taken and invalid answers among them."""

    environment: str
    task: str
    seed: int
    progression: float
    steps: int
    invalid: int


def mean_and_stderr(values: list[float]) -> tuple[float, float]:
    """(100 x mean, 100 x population std / sqrt(n)); the error is 0 for one value."""
    array = np.asarray(values, dtype=float)
    stderr = float(array.std() / math.sqrt(len(array))) if len(array) > 1 else 0.0
    return 100 * float(array.mean()), 100 * stderr


def score_group(results: list[EpisodeResult]) -> dict:
    score, stderr = mean_and_stderr([result.progression for result in results])
    return {"score": score, "stderr": stderr, "episodes": len(results), "steps": sum(result.steps for result in results),
            "invalid_rate": sum(result.invalid for result in results) / max(sum(result.steps for result in results), 1)}


def summarize(results: list[EpisodeResult]) -> dict:
    """{"environments": {name: {score, stderr, episodes, steps, invalid_rate, tasks: {task: {...}}}},
    "overall": {score, stderr}}, environments in the order first played."""
    environments = {}
    for name in dict.fromkeys(result.environment for result in results):
        played = [result for result in results if result.environment == name]
        tasks = {task: score_group([result for result in played if result.task == task])
                 for task in dict.fromkeys(result.task for result in played)}
        environments[name] = {**score_group(played), "tasks": tasks}
    return {"environments": environments, "overall": overall(list(environments.values()))}


def overall(scores: list[dict]) -> dict:
    if not scores:
        return {"score": 0.0, "stderr": 0.0}
    return {"score": float(np.mean([score["score"] for score in scores])),
            "stderr": math.sqrt(sum(score["stderr"] ** 2 for score in scores)) / len(scores)}


def paired_differences(results: list[EpisodeResult], base: list[EpisodeResult]) -> dict:
    """Per environment (and task) the mean of model minus base progression over the episodes both
    played (same task and seed), x100, with its standard error; overall as for scores."""
    base_by_episode = {(result.environment, result.task, result.seed): result.progression for result in base}
    differences: dict[str, dict[str, list[float]]] = {}
    for result in results:
        key = (result.environment, result.task, result.seed)
        if key in base_by_episode:
            tasks = differences.setdefault(result.environment, {})
            tasks.setdefault(result.task, []).append(result.progression - base_by_episode[key])
    environments = {}
    for name, tasks in differences.items():
        score, stderr = mean_and_stderr([value for values in tasks.values() for value in values])
        environments[name] = {"difference": score, "stderr": stderr, "tasks": {
            task: dict(zip(("difference", "stderr"), mean_and_stderr(values), strict=True)) for task, values in tasks.items()
        }}
    summary = overall([{"score": value["difference"], "stderr": value["stderr"]} for value in environments.values()])
    return {"environments": environments, "overall": {"difference": summary["score"], "stderr": summary["stderr"]}}
