"""Transfer evaluation during training (``train.bench_every``), and what each point cost.

Before the first update (the warm start), every ``train.bench_every`` updates and at the end, the
current policy plays ``train.bench`` (a ``vldac bench`` suite, planned once before training so
that a missing extra or data folder is one sentence before anything runs). Its scores go into
that update's metrics row as ``bench/<suite>/<environment>`` (x100, as vldac bench reports them)
with ``bench/<suite>/<environment>_stderr`` and ``bench_seconds``; the warm start's scores and
results are kept in ``RUN_DIR/bench_warm_start.json`` (per episode, so that the end can be
compared with it pair by pair: summary.json's ``transfer``). A point draws from no random stream the training uses: torch's, numpy's and Python's
global generators are restored after it (the suites seed their own), so exact resume holds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import random
import resource
import time
from pathlib import Path

import numpy as np
import torch

from vldac.bench.scoring import Result, paired_differences, summarize
from vldac.bench.settings import BenchSettings
from vldac.bench.suites import Suite, plan, run
from vldac.config import TrainingBench
from vldac.models.policy import VLMPolicy

WARM_START_FILE = "bench_warm_start.json"


@contextlib.contextmanager
def untouched_random_streams():
    """Run a block and restore torch's (CPU and CUDA), numpy's and Python's global generators."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        yield
    random.setstate(python_state)
    np.random.set_state(numpy_state)


def planned_suite(settings: TrainingBench) -> Suite:
    """The suite ``settings`` names, planned (its games' packages imported, its data read)."""
    data = Path(settings.data).expanduser() if settings.data else None
    if settings.suite == "all":
        raise ValueError("train.bench.suite=all would play every suite at every point; name one suite.")
    (suite,) = plan(settings.suite, settings.environments or None, data, settings.episodes)
    return suite


def bench_results(policy: VLMPolicy, suite: Suite, settings: TrainingBench) -> list[Result]:
    """The suite played (or asked) by ``policy``, greedy, within ``settings.budget`` seconds when set."""
    bench_settings = BenchSettings(episodes=settings.episodes, max_steps=settings.max_steps,
                                   max_new_tokens=settings.max_new_tokens, image_history=settings.image_history)
    with untouched_random_streams():
        if not settings.budget:
            return run(policy, suite, bench_settings, progress=False)
        started, results = time.perf_counter(), []
        for part in parts_of(suite):
            if time.perf_counter() - started > settings.budget:
                break
            results += run(policy, part, bench_settings, progress=False)
        return results


def parts_of(suite: Suite) -> list[Suite]:
    """The suite split into one suite per environment, world or dataset (the units a budget counts)."""
    parts = [dataclasses.replace(suite, environments=[environment]) for environment in suite.environments]
    parts += [dataclasses.replace(suite, worlds=[world]) for world in suite.worlds]
    parts += [dataclasses.replace(suite, datasets=[dataset]) for dataset in suite.datasets]
    return parts


def bench_row(suite: Suite, results: list[Result]) -> dict[str, float]:
    """``bench/<suite>/<group>`` and ``..._stderr`` for every group the results hold."""
    groups = summarize(results, suite.layout)[suite.layout.groups]
    row = {}
    for name, scores in groups.items():
        row[f"bench/{suite.name}/{name}"] = scores["score"]
        row[f"bench/{suite.name}/{name}_stderr"] = scores["stderr"]
    return row


def save_warm_start(run_dir: Path, suite: Suite, results: list[Result]) -> None:
    """The warm start's scores (as a metrics row has them) and its results, one per episode or question."""
    document = {"scores": bench_row(suite, results), "results": [dataclasses.asdict(result) for result in results]}
    (run_dir / WARM_START_FILE).write_text(json.dumps(document))


def read_warm_start(run_dir: Path) -> list[Result] | None:
    """The warm start's results, or None when the run has none (started without a benchmark)."""
    path = run_dir / WARM_START_FILE
    if not path.is_file():
        return None
    return [Result(**fields) for fields in json.loads(path.read_text())["results"]]


def process_cpu_seconds() -> float:
    """CPU time this process has used: user + system, all its threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def transfer_costs(suite: Suite, warm: list[Result], final: list[Result], env_steps: int, device_hours: float) -> dict:
    """Per benchmark group: the final policy's paired difference with the warm start (same
    episodes or questions; x100, with its standard error), and that difference per 1,000 env steps
    and per device-hour of training."""
    differences = paired_differences(final, warm, suite.layout)[suite.layout.groups]
    costs = {}
    for name, difference in differences.items():
        costs[f"bench/{suite.name}/{name}"] = {
            "difference": difference["difference"], "stderr": difference["stderr"],
            "per_1000_env_steps": difference["difference"] / max(env_steps / 1000, 1e-9),
            "per_device_hour": difference["difference"] / max(device_hours, 1e-9),
        }
    return costs
