"""Plot a run's learning curve (success vs environment steps) from its metrics.jsonl.

Usage: python benchmarks/learning_curve.py RUN_DIR [--output PNG]
Prints the curve as a table too, for RESULTS.md. Needs matplotlib for the PNG.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run", type=Path)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    rows = [json.loads(line) for line in (args.run / "metrics.jsonl").read_text().splitlines()]
    print("| update | env steps | sampled success | greedy success (validation) | invalid rate | env steps/s |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        greedy = row.get("greedy_success_rate")
        sampled = row["success_rate"]
        print(
            f"| {row['update']} | {row['env_steps']} | {'-' if sampled is None else f'{sampled:.2f}'} | "
            f"{'' if greedy is None else f'{greedy:.2f}'} | {row['invalid_rate']:.3f} | {row['env_steps_per_s']:.1f} |"
        )
    if args.output is None:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["env_steps"] for r in rows if r["success_rate"] is not None]
    sampled = [r["success_rate"] for r in rows if r["success_rate"] is not None]
    greedy = [(r["env_steps"], r["greedy_success_rate"]) for r in rows if r.get("greedy_success_rate") is not None]
    returns = [r["mean_return"] for r in rows if r["success_rate"] is not None]
    figure, (axis, return_axis) = plt.subplots(1, 2, figsize=(10, 4))
    axis.plot(steps, sampled, label="sampled (training episodes)", alpha=0.7)
    if greedy:
        axis.plot(*zip(*greedy), "o-", label="greedy (validation seeds)")
    axis.set_xlabel("environment steps")
    axis.set_ylabel("success rate")
    axis.set_ylim(0, 1.02)
    axis.grid(alpha=0.3)
    axis.legend()
    axis.set_title(args.run.name)
    return_axis.plot(steps, returns, alpha=0.7, color="tab:green")
    return_axis.set_xlabel("environment steps")
    return_axis.set_ylabel("mean return (training episodes)")
    return_axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(args.output, dpi=120)
    print(f"saved {args.output}")


if __name__ == "__main__":
    main()
