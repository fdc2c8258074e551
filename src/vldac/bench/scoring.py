"""Scores as BALROG reports them, for every suite: per group (a BALROG environment, a dataset's
task) the mean of its results' scores x100 with its standard error (population standard deviation
/ sqrt(n), x100); overall the mean over groups, with standard error sqrt(sum of squared group
errors) / number of groups. Paired differences against a base model match results by (group,
subgroup, key): the same episode seed or the same question."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Result:
    """One scored episode or question: its group and subgroup (environment and task, or a dataset's
    task and subtask), its key within them (episode seed, question id), its score (0..1) and, for
    an episode, the steps taken and the invalid answers among them."""

    group: str
    subgroup: str
    key: int | str
    score: float
    steps: int = 0
    invalid: int = 0


@dataclass(frozen=True)
class Layout:
    """How a suite's scores are named and pooled: the JSON keys of its groups, their subgroups and
    the count of results; whether results are episodes (with steps and invalid answers); whether a
    group's score pools its results ("pooled", BALROG) or averages its subgroups' scores
    ("subgroup_mean", VSI-Bench's relative direction)."""

    groups: str = "environments"
    subgroups: str = "tasks"
    count: str = "episodes"
    episodes: bool = True
    group_score: str = "pooled"


BALROG_LAYOUT = Layout()
DATASET_LAYOUT = Layout(groups="tasks", subgroups="subtasks", count="items", episodes=False)


def mean_and_stderr(values: list[float], ddof: int = 0) -> tuple[float, float]:
    """(100 x mean, 100 x std / sqrt(n)), the std with ``ddof`` (0: the population's, as BALROG
    reports scores; 1: the sample's, for paired differences); the error is 0 for one value."""
    array = np.asarray(values, dtype=float)
    stderr = float(array.std(ddof=ddof) / math.sqrt(len(array))) if len(array) > 1 else 0.0
    return 100 * float(array.mean()), 100 * stderr


def _score(results: list[Result], layout: Layout) -> dict:
    score, stderr = mean_and_stderr([result.score for result in results])
    scores = {"score": score, "stderr": stderr, layout.count: len(results)}
    if layout.episodes:
        steps = sum(result.steps for result in results)
        scores.update(steps=steps, invalid_rate=sum(result.invalid for result in results) / max(steps, 1))
    return scores


def _in_order(values) -> list:
    return list(dict.fromkeys(values))


def summarize(results: list[Result], layout: Layout = BALROG_LAYOUT) -> dict:
    """{layout.groups: {name: {score, stderr, <count>, [steps, invalid_rate], <subgroups>: {...}}},
    "overall": {score, stderr}}, groups in the order first met."""
    groups = {}
    for name in _in_order(result.group for result in results):
        members = [result for result in results if result.group == name]
        subgroups = {subgroup: _score([result for result in members if result.subgroup == subgroup], layout)
                     for subgroup in _in_order(result.subgroup for result in members)}
        scores = _score(members, layout)
        if layout.group_score == "subgroup_mean":
            scores.update(overall(list(subgroups.values())))
        groups[name] = {**scores, layout.subgroups: subgroups}
    return {layout.groups: groups, "overall": overall(list(groups.values()))}


def overall(scores: list[dict]) -> dict:
    """The mean of ``scores``' scores and the error of that mean (independent errors)."""
    if not scores:
        return {"score": 0.0, "stderr": 0.0}
    return {"score": float(np.mean([score["score"] for score in scores])),
            "stderr": math.sqrt(sum(score["stderr"] ** 2 for score in scores)) / len(scores)}


def paired_differences(results: list[Result], base: list[Result], layout: Layout = BALROG_LAYOUT) -> dict:
    """Per group (and subgroup) the mean of model minus base score over the results both have (same
    group, subgroup and key), x100, with its standard error (the differences' sample standard
    deviation / sqrt(n): a paired test's error), pooled as ``layout`` says; overall as for scores."""
    base_scores = {(result.group, result.subgroup, result.key): result.score for result in base}
    differences: dict[str, dict[str, list[float]]] = {}
    for result in results:
        key = (result.group, result.subgroup, result.key)
        if key in base_scores:
            differences.setdefault(result.group, {}).setdefault(result.subgroup, []).append(result.score - base_scores[key])
    groups = {}
    for name, subgroups in differences.items():
        per_subgroup = {subgroup: dict(zip(("score", "stderr"), mean_and_stderr(values, ddof=1), strict=True))
                        for subgroup, values in subgroups.items()}
        if layout.group_score == "subgroup_mean":
            pooled = overall(list(per_subgroup.values()))
        else:
            pooled = dict(zip(("score", "stderr"),
                              mean_and_stderr([v for values in subgroups.values() for v in values], ddof=1), strict=True))
        groups[name] = {"difference": pooled["score"], "stderr": pooled["stderr"], layout.subgroups: {
            subgroup: {"difference": value["score"], "stderr": value["stderr"]} for subgroup, value in per_subgroup.items()
        }}
    summary = overall([{"score": value["difference"], "stderr": value["stderr"]} for value in groups.values()])
    return {layout.groups: groups, "overall": {"difference": summary["score"], "stderr": summary["stderr"]}}
