"""``vldac sweep``: a grid of training runs (algorithms x settings x seeds) under one budget.

Every cell is one ``vldac train`` process followed by one greedy ``vldac eval`` of its final
checkpoint on the same held-out seeds; its result is written to ``results/<cell>.json`` and a
finished cell is never rerun, so a sweep can be stopped and continued in several sittings (a
cell that was killed mid-run resumes from its last checkpoint). Cells run one after another,
or ``parallel`` at a time (one process per cell, ``threads_per_cell`` threads each, and
``devices`` handed out round-robin as CUDA_VISIBLE_DEVICES where there are accelerators).
The summary is ``results.md`` (one row per algorithm and setting, and the robustness table)
and ``learning_curves.png``.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vldac.algorithms import REGISTERED
from vldac.config import ConfigError, SweepConfig, TrainConfig, check_output_folder, load_config, read_recipe
from vldac.models.loading import ModelLoadError
from vldac.train.trainer import check_config

SUCCESS_THRESHOLD = 0.9


class CellFailed(RuntimeError):
    """One cell's ``vldac`` process exited with an error (its log says why)."""


@dataclass(frozen=True)
class Cell:
    """One run of the grid: an algorithm, its overrides, a seed."""

    algorithm: str
    overrides: tuple[tuple[str, object], ...]
    seed: int

    @property
    def setting(self) -> str:
        return " ".join(f"{key}={value}" for key, value in self.overrides) or "defaults"

    @property
    def name(self) -> str:
        text = "-".join([self.algorithm, *(f"{key.rsplit('.', 1)[-1]}{value}" for key, value in self.overrides)])
        return re.sub(r"[^A-Za-z0-9_.=-]+", "_", f"{text}-seed{self.seed}")


def expand_cells(config: SweepConfig) -> list[Cell]:
    """The grid: for each entry of ``config.cells``, every combination of its grid values, per seed."""
    cells = []
    for entry in config.cells:
        entry = dict(entry)
        algorithm = entry.pop("algorithm", None)
        if algorithm is None:
            raise ValueError(f"Every sweep cell needs an 'algorithm' key (one of the registered algorithms: {', '.join(REGISTERED)}).")
        fixed = entry.pop("fixed", {}) or {}
        grid = entry.pop("grid", {}) or {}
        if entry:
            raise ValueError(f"Sweep cell keys {sorted(entry)} are unknown; use algorithm, fixed and grid.")
        keys = sorted(grid)
        for key in keys:
            if not isinstance(grid[key], list):
                raise ValueError(f"Sweep grid entry {key} must be a list of values, not {grid[key]!r}.")
        for values in itertools.product(*(grid[key] for key in keys)):
            overrides = tuple(sorted(fixed.items())) + tuple(zip(keys, values))
            for seed in config.seeds:
                cells.append(Cell(algorithm, overrides, seed))
    return cells


def cell_overrides(config: SweepConfig, cell: Cell, sweep_dir: Path) -> list[str]:
    """The ``vldac train`` overrides of one cell."""
    return [
        *config.overrides, f"algorithm.name={cell.algorithm}", *(f"{key}={json.dumps(value)}" for key, value in cell.overrides),
        f"seed={cell.seed}", f"train.total_env_steps={config.budget_env_steps}", f"train.threads={config.threads_per_cell}",
        f"name={cell.name}", f"output_dir={sweep_dir / 'cells'}",
    ]


def check_cells(config: SweepConfig, cells: list[Cell]) -> None:
    """Every cell's training config, resolved and checked as ``vldac train`` would, before any cell
    starts: a bad algorithm name, grid key or value is one sentence naming the cell."""
    checked = set()
    for cell in cells:
        if (cell.algorithm, cell.overrides) in checked:
            continue
        checked.add((cell.algorithm, cell.overrides))
        try:
            check_config(load_config(TrainConfig, read_recipe(config.recipe, config.recipe),
                                     cell_overrides(config, cell, Path(config.output_dir) / config.name)))
        except (ConfigError, ModelLoadError, ValueError) as error:
            raise ConfigError(f"Sweep cell {cell.name}: {error}") from None


def _vldac(arguments: list[str], threads: int, device: str | None, log: Path) -> str:
    """Run one vldac command as its own process; its stderr goes to ``log``, its stdout is returned."""
    environment = dict(os.environ, HF_HUB_OFFLINE="1")
    if threads:
        environment["OMP_NUM_THREADS"] = str(threads)
    if device is not None:
        environment["CUDA_VISIBLE_DEVICES"] = device
    with open(log, "a") as handle:
        completed = subprocess.run(
            [sys.executable, "-m", "vldac", *arguments], env=environment, stdout=subprocess.PIPE, stderr=handle, text=True
        )
    if completed.returncode != 0:
        raise CellFailed(f"'vldac {arguments[0]}' failed (exit {completed.returncode}); see {log}.")
    return completed.stdout


def run_cell(config: SweepConfig, cell: Cell, sweep_dir: Path, device: str | None) -> dict:
    """Train and evaluate one cell (resuming a killed run); returns and saves its result."""
    result_file = sweep_dir / "results" / f"{cell.name}.json"
    if result_file.exists():
        return json.loads(result_file.read_text())
    run_dir = sweep_dir / "cells" / cell.name
    log = sweep_dir / "logs" / f"{cell.name}.log"
    started = time.time()
    if (run_dir / "checkpoints" / "last").exists():
        _vldac(["train", "--resume", str(run_dir)], config.threads_per_cell, device, log)
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
        _vldac(["train", config.recipe, *cell_overrides(config, cell, sweep_dir)], config.threads_per_cell, device, log)
    summary = json.loads((run_dir / "summary.json").read_text())
    evaluation = json.loads(
        _vldac(["eval", summary["final_checkpoint"], "--env", config.env_id, "--episodes", str(config.eval_episodes),
                "--seed", str(config.eval_seed)], config.threads_per_cell, device, log)
    )
    curve = [
        (row["env_steps"], row["greedy_success_rate"])
        for row in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
        if row.get("greedy_success_rate") is not None
    ]
    reached = [steps for steps, success in curve if success >= SUCCESS_THRESHOLD]
    result = {
        "cell": cell.name, "algorithm": cell.algorithm, "setting": cell.setting, "seed": cell.seed,
        "final_success": evaluation["success_rate"], "final_return": evaluation["mean_return"],
        "peak_validation_success": max((success for _, success in curve), default=None),
        "steps_to_0.9": reached[0] if reached else None, "curve": curve,
        "env_steps": summary["env_steps"], "wall_seconds": round(time.time() - started, 1),
    }
    result_file.write_text(json.dumps(result, indent=2))
    return result


def run_sweep(config: SweepConfig) -> Path:
    """Run every unfinished cell, then write the tables and the plot; returns the sweep folder."""
    check_output_folder("output_dir", config.output_dir, "name", config.name)
    for device in config.devices:
        if not (device.isdigit() or device.startswith(("GPU-", "MIG-"))):
            raise ConfigError(f"devices entry {device!r} does not work: each must be a CUDA_VISIBLE_DEVICES value "
                              "(a GPU index such as 0, or a GPU-/MIG- UUID).")
    sweep_dir = Path(config.output_dir) / config.name
    cells = expand_cells(config)
    check_cells(config, cells)
    for folder in ("results", "cells", "logs"):
        (sweep_dir / folder).mkdir(parents=True, exist_ok=True)
    pending = [cell for cell in cells if not (sweep_dir / "results" / f"{cell.name}.json").exists()]
    print(f"{len(cells)} cells, {len(cells) - len(pending)} already finished.", file=sys.stderr)
    devices = config.devices or [None]

    def work(indexed: tuple[int, Cell]) -> dict:
        index, cell = indexed
        result = run_cell(config, cell, sweep_dir, devices[index % len(devices)])
        print(f"[{cell.name}] final greedy success {result['final_success']:.3f}", file=sys.stderr)
        return result

    with ThreadPoolExecutor(max_workers=max(1, config.parallel)) as pool:
        list(pool.map(work, enumerate(pending)))
    results = [json.loads((sweep_dir / "results" / f"{cell.name}.json").read_text()) for cell in cells]
    (sweep_dir / "results.md").write_text(results_table(results))
    plot_learning_curves(results, sweep_dir / "learning_curves.png")
    return sweep_dir


def _mean_std(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}" if values else "-"


def results_table(results: list[dict]) -> str:
    """Markdown: one row per algorithm and setting (over seeds), then robustness per algorithm."""
    by_setting: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for result in results:
        by_setting[(result["algorithm"], result["setting"])].append(result)
    lines = [
        "| algorithm | setting | seeds | final greedy success | peak validation success | env steps to 0.9 | wall s (mean) |",
        "|---|---|---|---|---|---|---|",
    ]
    for (algorithm, setting), group in by_setting.items():
        reached = [r["steps_to_0.9"] for r in group if r["steps_to_0.9"] is not None]
        peaks = [r["peak_validation_success"] for r in group if r["peak_validation_success"] is not None]
        lines.append(
            f"| {algorithm} | {setting} | {len(group)} | {_mean_std([r['final_success'] for r in group])} | "
            f"{_mean_std(peaks)} | {f'{np.mean(reached):.0f} ({len(reached)}/{len(group)} reached)' if reached else 'never'} | "
            f"{np.mean([r['wall_seconds'] for r in group]):.0f} |"
        )
    lines += ["", "| algorithm | cells | cells with final success >= 0.9 | worst cell |", "|---|---|---|---|"]
    by_algorithm: dict[str, list[dict]] = defaultdict(list)
    for result in results:
        by_algorithm[result["algorithm"]].append(result)
    for algorithm, group in by_algorithm.items():
        good = sum(r["final_success"] >= SUCCESS_THRESHOLD for r in group)
        worst = min(group, key=lambda r: r["final_success"])
        lines.append(
            f"| {algorithm} | {len(group)} | {good}/{len(group)} = {good / len(group):.2f} | "
            f"{worst['final_success']:.3f} ({worst['cell']}) |"
        )
    return "\n".join(lines) + "\n"


def plot_learning_curves(results: list[dict], path: Path) -> None:
    """Validation greedy success against env steps, one panel per algorithm (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed, so no plot was drawn; pip install matplotlib.", file=sys.stderr)
        return
    algorithms = sorted({r["algorithm"] for r in results})
    figure, axes = plt.subplots(1, len(algorithms), figsize=(4 * len(algorithms), 3.2), squeeze=False, sharey=True)
    for axis, algorithm in zip(axes[0], algorithms):
        settings = sorted({r["setting"] for r in results if r["algorithm"] == algorithm})
        colours = plt.cm.viridis(np.linspace(0, 0.9, max(1, len(settings))))
        for colour, setting in zip(colours, settings):
            for index, result in enumerate(r for r in results if r["algorithm"] == algorithm and r["setting"] == setting):
                if result["curve"]:
                    steps, success = zip(*result["curve"])
                    axis.plot(steps, success, color=colour, alpha=0.8, label=setting if index == 0 else None)
        axis.set_title(algorithm)
        axis.set_xlabel("environment steps")
        axis.set_ylim(0, 1.02)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=6)
    axes[0][0].set_ylabel("greedy success (validation)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)

