"""Plot a run's learning curve (success vs environment steps) from its metrics.jsonl, or several
runs' curves side by side (e.g. one recipe on several seeds, or two code versions).

Usage: python benchmarks/learning_curve.py RUN_DIR [RUN_DIR ...] [--labels NAME ...] [--output PNG]
Prints each curve as a table too, for RESULTS.md. Needs matplotlib for the PNG.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def read_metrics(run: Path) -> list[dict]:
    path = run / "metrics.jsonl"
    if not path.is_file():
        sys.exit(f"No metrics.jsonl in {run}: give the run folder that vldac train wrote (it holds metrics.jsonl).")
    return [json.loads(line) for line in path.read_text().splitlines()]


def print_table(rows: list[dict]) -> None:
    print("| update | env steps | sampled success | greedy success (validation) | invalid rate | env steps/s |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        greedy = row.get("greedy_success_rate")
        sampled = row["success_rate"]
        print(
            f"| {row['update']} | {row['env_steps']} | {'-' if sampled is None else f'{sampled:.2f}'} | "
            f"{'' if greedy is None else f'{greedy:.2f}'} | {row['invalid_rate']:.3f} | {row['env_steps_per_s']:.1f} |"
        )


def sampled_curve(rows: list[dict]) -> tuple[list[int], list[float]]:
    kept = [row for row in rows if row["success_rate"] is not None]
    return [row["env_steps"] for row in kept], [row["success_rate"] for row in kept]


def greedy_curve(rows: list[dict]) -> list[tuple[int, float]]:
    return [(row["env_steps"], row["greedy_success_rate"]) for row in rows if row.get("greedy_success_rate") is not None]


def plot_one(plt, rows: list[dict], title: str):
    """Sampled and greedy success, and the mean return, of one run."""
    steps, sampled = sampled_curve(rows)
    greedy = greedy_curve(rows)
    returns = [row["mean_return"] for row in rows if row["success_rate"] is not None]
    figure, (axis, return_axis) = plt.subplots(1, 2, figsize=(10, 4))
    axis.plot(steps, sampled, label="sampled (training episodes)", alpha=0.7)
    if greedy:
        axis.plot(*zip(*greedy), "o-", label="greedy (validation seeds)")
    axis.set_ylabel("success rate")
    axis.set_ylim(0, 1.02)
    axis.legend()
    axis.set_title(title)
    return_axis.plot(steps, returns, alpha=0.7, color="tab:green")
    return_axis.set_ylabel("mean return (training episodes)")
    return figure, (axis, return_axis)


def plot_several(plt, runs: list[list[dict]], labels: list[str]):
    """Greedy validation success and sampled training success of several runs, one line each."""
    figure, (greedy_axis, sampled_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for rows, label in zip(runs, labels, strict=True):
        greedy = greedy_curve(rows)
        if greedy:
            greedy_axis.plot(*zip(*greedy), "o-", label=label)
        sampled_axis.plot(*sampled_curve(rows), label=label, alpha=0.7)
    greedy_axis.set_title("greedy success (validation seeds)")
    sampled_axis.set_title("sampled success (training episodes)")
    for axis in (greedy_axis, sampled_axis):
        axis.set_ylabel("success rate")
        axis.set_ylim(0, 1.02)
        axis.legend()
    return figure, (greedy_axis, sampled_axis)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", type=Path, nargs="+", metavar="run")
    parser.add_argument("--labels", nargs="+", help="one name per run for the legend (default: the folders' names)")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    labels = args.labels or [run.name for run in args.runs]
    if len(labels) != len(args.runs):
        sys.exit(f"--labels gives {len(labels)} names for {len(args.runs)} runs: give one name per run.")
    runs = [read_metrics(run) for run in args.runs]
    for rows, label in zip(runs, labels, strict=True):
        if len(runs) > 1:
            print(f"\n{label}\n")
        print_table(rows)
    if args.output is None:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if len(runs) == 1:
        figure, axes = plot_one(plt, runs[0], args.runs[0].name)
    else:
        figure, axes = plot_several(plt, runs, labels)
    for axis in axes:
        axis.set_xlabel("environment steps")
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(args.output, dpi=120)
    print(f"saved {args.output}")


if __name__ == "__main__":
    main()
