"""What ``vldac bench`` prints: a table (per environment and task: score and standard error; overall;
with a base model, its scores and the paired differences) and one JSON object."""

from __future__ import annotations

import dataclasses

from vldac.bench.runner import BenchSettings
from vldac.bench.scoring import EpisodeResult, paired_differences, summarize


def bench_report(suite: str, model: str, results: list[EpisodeResult], settings: BenchSettings,
                 base: str | None = None, base_results: list[EpisodeResult] | None = None) -> dict:
    """The JSON object: ``environments`` (each with score, stderr, episodes, steps, invalid_rate and
    its ``tasks``), ``overall``; with a base, ``base`` (its scores) and ``difference`` (paired)."""
    report = {"suite": suite, "model": model, **summarize(results), "settings": dataclasses.asdict(settings)}
    if base is not None:
        report["base"] = {"model": base, **summarize(base_results)}
        report["difference"] = paired_differences(results, base_results)
    return report


def _cell(score: float, stderr: float) -> str:
    return f"{score:6.2f} ± {stderr:5.2f}"


def print_table(report: dict) -> None:
    """A plain-text table on stdout."""
    base = report.get("base")
    header = f"{'environment / task':32s} {'score':>15s} {'episodes':>8s} {'steps':>7s}"
    if base:
        header += f" {'base':>15s} {'difference':>15s}"
    print(f"{report['suite']}: {report['model']}" + (f" (base: {base['model']})" if base else ""))
    print(header)
    print("-" * len(header))
    for name, scores in report["environments"].items():
        rows = [(name, scores, base["environments"].get(name) if base else None,
                 report["difference"]["environments"].get(name) if base else None)]
        rows += [(f"  {task}", task_scores,
                  base["environments"].get(name, {}).get("tasks", {}).get(task) if base else None,
                  report["difference"]["environments"].get(name, {}).get("tasks", {}).get(task) if base else None)
                 for task, task_scores in scores["tasks"].items()]
        for label, row, base_row, difference in rows:
            line = f"{label:32s} {_cell(row['score'], row['stderr']):>15s} {row['episodes']:8d} {row['steps']:7d}"
            if base:
                line += f" {_cell(base_row['score'], base_row['stderr']) if base_row else '':>15s}"
                line += f" {_cell(difference['difference'], difference['stderr']) if difference else '':>15s}"
            print(line)
    line = f"{'overall':32s} {_cell(report['overall']['score'], report['overall']['stderr']):>15s}"
    if base:
        line += f" {'':>8s} {'':>7s} {_cell(base['overall']['score'], base['overall']['stderr']):>15s}"
        line += f" {_cell(report['difference']['overall']['difference'], report['difference']['overall']['stderr']):>15s}"
    print(line)
