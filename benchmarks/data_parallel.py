"""Env steps/s of the default recipe with 1 process and with 2 processes (torchrun, gloo), each of
1 thread, side by side and alternating (A B A B ...), on this machine.

Each rank steps the recipe's env.num_envs (32) environments, so 2 processes collect twice the
steps per update. The rate is the median over the updates after the value warm-up (the first
two updates train the value head alone) of every repetition, from the runs' own metrics.jsonl.

    python benchmarks/data_parallel.py [--updates 6] [--repeats 2] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROLLOUT_STEPS, NUM_ENVS, WARMUP_UPDATES = 8, 32, 2


def run(processes: int, updates: int, folder: Path, name: str) -> dict:
    steps = processes * NUM_ENVS * ROLLOUT_STEPS * updates
    settings = [f"train.total_env_steps={steps}", "train.eval_every=0", "train.checkpoint_every=1000",
                "train.threads=1", f"output_dir={folder}", f"name={name}"]
    launcher = [sys.executable, "-m", "vldac"] if processes == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes), "-m", "vldac"]
    started = time.perf_counter()
    subprocess.run([*launcher, "train", *settings], check=True, capture_output=True,
                   env=dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1"))
    wall = time.perf_counter() - started
    rows = [json.loads(line) for line in (folder / name / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["env_steps"] == steps
    return {"wall_s": wall, "rates": [row["env_steps_per_s"] for row in rows[WARMUP_UPDATES:]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json")
    args = parser.parse_args()
    results = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(args.repeats):
            for processes in (1, 2):
                result = run(processes, args.updates, Path(folder), f"p{processes}-r{repeat}")
                results[processes].append(result)
                print(f"{processes} process(es), repeat {repeat}: {statistics.median(result['rates']):.1f} env steps/s "
                      f"(wall {result['wall_s']:.0f} s)", file=sys.stderr)
    summary = {
        f"{processes}_processes": {
            "env_steps_per_s": statistics.median([rate for r in runs for rate in r["rates"]]),
            "wall_s": [round(r["wall_s"], 1) for r in runs],
        }
        for processes, runs in results.items()
    }
    summary["speedup"] = summary["2_processes"]["env_steps_per_s"] / summary["1_processes"]["env_steps_per_s"]
    print(json.dumps(summary, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
