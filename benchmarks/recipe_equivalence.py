"""Does a change keep every algorithm's training bit-for-bit? Train the same short runs under two
trees (one thread each) and compare their metrics rows (timings aside) and final weights.

  PYTHONPATH=A/src python benchmarks/recipe_equivalence.py run OUT_A
  PYTHONPATH=B/src python benchmarks/recipe_equivalence.py run OUT_B
  python benchmarks/recipe_equivalence.py compare OUT_A OUT_B

The runs: the default recipe (VL-DAC on NumberLine) and the same recipe with RL4VLM and with LOOP,
each 3 updates with a greedy validation after the third.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from safetensors.torch import load_file

RUNS = {
    "vldac": [],
    "rl4vlm": ["algorithm.name=rl4vlm"],
    "loop": ["algorithm.name=loop", "algorithm.group_size=4"],
}
COMMON = ["train.total_env_steps=768", "train.threads=1", "train.eval_every=3", "train.eval_episodes=16",
          "train.checkpoint_every=3"]
TIMINGS = ("seconds", "elapsed", "env_steps_per_s", "tokens_per_s")
"""Metrics columns that measure the machine, not the computation."""


def run(out: Path) -> None:
    for name, overrides in RUNS.items():
        command = [sys.executable, "-m", "vldac", "train", "numberline_tiny", f"output_dir={out / name}", *COMMON,
                   *overrides]
        print(" ".join(command[1:]), flush=True)
        subprocess.run(command, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def run_folder(out: Path, name: str) -> Path:
    (folder,) = (out / name).iterdir()
    return folder


def compare(a: Path, b: Path) -> bool:
    same = True
    for name in RUNS:
        run_a, run_b = run_folder(a, name), run_folder(b, name)
        rows_a, rows_b = ([{k: v for k, v in json.loads(line).items() if k not in TIMINGS}
                           for line in (run / "metrics.jsonl").read_text().splitlines()] for run in (run_a, run_b))
        weights_a, weights_b = ({file.name: load_file(file) for file in (run / "checkpoints" / "last").glob("*.safetensors")}
                                for run in (run_a, run_b))
        rows_equal = rows_a == rows_b
        weights_equal = weights_a.keys() == weights_b.keys() and all(
            tensors.keys() == weights_b[file].keys() and all(tensors[k].equal(weights_b[file][k]) for k in tensors)
            for file, tensors in weights_a.items()
        )
        tensors = sum(len(t) for t in weights_a.values())
        print(f"{name}: {len(rows_a)} metrics rows {'identical' if rows_equal else 'DIFFER'}; "
              f"{tensors} trained tensors {'bit-identical' if weights_equal else 'DIFFER'}")
        same &= rows_equal and weights_equal
    return same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["run", "compare"])
    parser.add_argument("folders", nargs="+", type=Path)
    args = parser.parse_args()
    if args.step == "run":
        run(args.folders[0])
    else:
        sys.exit(0 if compare(*args.folders) else 1)


if __name__ == "__main__":
    main()
