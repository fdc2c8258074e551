"""The suites of ``vldac bench`` and what each runs: ``balrog`` plays BALROG's games, ``cards``
vldac's own card worlds (base install), ``vsi``, ``visualwebbench`` and ``imageqa`` ask a local
copy of their datasets, ``all`` runs BALROG and the dataset suites.

A suite is planned before any model loads (its games' packages imported, its datasets found and
their questions read), so a missing extra or a wrong ``--data`` is one sentence before minutes of
play are spent.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

from vldac.bench.balrog.environments import Environment, environments_named, playable
from vldac.bench.datasets.question import Dataset, Question
from vldac.bench.scoring import BALROG_LAYOUT, DATASET_LAYOUT, Layout, Result

DATASETS = {
    "vsi": (("vldac.bench.datasets.vsi", "VSIBench"),),
    "visualwebbench": (("vldac.bench.datasets.visualwebbench", "VisualWebBench"),),
    "imageqa": (("vldac.bench.datasets.imageqa", "MMStar"), ("vldac.bench.datasets.imageqa", "MMBench")),
}
"""Each dataset suite's datasets (module, class)."""
SUITES = ("balrog", "cards", *DATASETS)
LAYOUTS = {"balrog": BALROG_LAYOUT, "vsi": Layout(groups="tasks", subgroups="subtasks", count="items", episodes=False,
                                                 group_score="subgroup_mean")}
"""How each suite's scores are pooled (the dataset suites not named: DATASET_LAYOUT)."""


@dataclass
class Suite:
    """One planned suite: its games (balrog), its card worlds (cards) or its datasets with the
    questions to ask each."""

    name: str
    layout: Layout
    environments: list[Environment] = field(default_factory=list)
    datasets: list[tuple[Dataset, list[Question]]] = field(default_factory=list)
    worlds: list[str] = field(default_factory=list)


def plan(suite: str, environments: list[str] | None = None, data: Path | None = None,
         questions_per_subtask: int | None = None, frames: int = 32) -> list[Suite]:
    """The suites ``suite`` names ("all": every one; then dataset suites whose data is not under
    ``data`` are left out, and named on stderr)."""
    if suite == "all":
        if data is None:
            raise ValueError("suite 'all' asks the dataset suites too; give --data DIR, a folder holding "
                             "VSI-Bench, VisualWebBench, MMStar and MMBench (or run 'balrog' alone).")
        planned = [_balrog(environments)]
        for name in DATASETS:
            try:
                planned.append(_datasets(name, data, questions_per_subtask, frames))
            except FileNotFoundError as error:
                print(f"bench all: {name} left out: {error}", file=sys.stderr)
        return planned
    if suite == "balrog":
        return [_balrog(environments)]
    if suite == "cards":
        from vldac.bench.cards import card_worlds

        return [Suite("cards", BALROG_LAYOUT, worlds=card_worlds(environments))]
    if suite not in DATASETS:
        raise ValueError(f"suite '{suite}' is unknown; use one of {', '.join([*SUITES, 'all'])}.")
    if data is None:
        raise ValueError(f"suite '{suite}' asks a local copy of its dataset; give --data DIR.")
    return [_datasets(suite, data, questions_per_subtask, frames)]


def _balrog(names: list[str] | None) -> Suite:
    environments = []
    for environment in environments_named(names):
        environment, reasons = playable(environment)
        for reason in reasons:
            print(f"bench balrog: left out: {reason}.", file=sys.stderr)
        if environment.tasks:
            environments.append(environment)
    return Suite("balrog", BALROG_LAYOUT, environments=environments)


def _datasets(suite: str, data: Path, questions_per_subtask: int | None, frames: int) -> Suite:
    if not data.is_dir():
        raise FileNotFoundError(f"--data {data} is not a folder; point it at a local copy of the datasets.")
    planned = Suite(suite, LAYOUTS.get(suite, DATASET_LAYOUT))
    missing = []
    for module, name in DATASETS[suite]:
        cls = getattr(importlib.import_module(module), name)
        folder = data / cls.name if cls.holds(data / cls.name) else data
        if not cls.holds(folder):
            missing.append(f"{cls.name} (expected {data / cls.name}/{cls.question_files})")
            continue
        dataset = cls(folder, **({"frames": frames} if cls.takes_frames else {}))
        questions = dataset.questions()
        if not questions:
            raise ValueError(f"{folder} holds no {cls.name} questions; replace its files with the dataset's copy.")
        planned.datasets.append((dataset, dataset.limited(questions, questions_per_subtask)))
    if not planned.datasets:
        raise FileNotFoundError(f"no copy of {', '.join(missing)} was found under --data {data}.")
    for description in missing:
        print(f"bench {suite}: {description} not found: left out.", file=sys.stderr)
    return planned


def run(policy, suite: Suite, settings, progress: bool = True) -> list[Result]:
    """The suite's results with ``policy`` (a VLMPolicy) under ``settings`` (BenchSettings)."""
    if suite.worlds:
        from vldac.bench.cards import play_cards

        return play_cards(policy, suite.worlds, settings, progress=progress)
    if suite.environments:
        from vldac.bench.playing import play

        return play(policy, suite.environments, settings, progress=progress)
    from vldac.bench.asking import answer

    return [result for dataset, questions in suite.datasets
            for result in answer(policy, dataset, questions, settings, progress=progress)]
