"""Peak memory of one rollout with a Qwen-sized vocabulary, this tree against an earlier commit.

A tiny Qwen2-VL (hidden 128, 4 layers) whose vocabulary is widened to 150,000 tokens (as Qwen's;
ids past the tokenizer's own few hundred decode to nothing), 32 NumberLine environments,
max_new_tokens 128, one rollout of ``--steps`` environment steps (``collect_rollout``, bootstrap
values included). Each side runs in its own process, one after the other, importing vldac from its
own source tree; the figure is the peak RSS during the rollout (VmHWM, reset through
/proc/self/clear_refs after loading) minus the RSS after the model was loaded. The sides alternate
``--repeats`` times and the medians are compared (glibc's allocator makes single runs vary).

    python benchmarks/rollout_memory.py --against a7591d6 [--json OUT]

needs git (the earlier commit is checked out into a temporary worktree) and Linux's /proc.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VOCABULARY = 150_000


def build_model(folder: Path) -> None:
    """The benchmark's model: the tiny NumberLine VLM's architecture with a 150,000-token vocabulary."""
    from vldac.agents import NumberLineInterface
    from vldac.models.families import build_tiny_vlm
    from vldac.models.tiny import TinyVLMSpec

    interface = NumberLineInterface()
    corpus = ["user", "assistant", interface.instruction({})] + [
        interface.demonstration({"target": g, "current": c}, a) for g in range(6) for c in range(6) for a in range(2)
    ]
    model, processor = build_tiny_vlm(corpus * 4, TinyVLMSpec(frame_size=56), seed=0)
    model.resize_token_embeddings(VOCABULARY)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)


def rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def measure(model_dir: str, num_envs: int, max_new_tokens: int, steps: int) -> dict:
    """Runs inside the child process, with the side's vldac first on sys.path."""
    import torch

    import vldac
    from vldac.agents import NumberLineInterface
    from vldac.config import ModelSettings
    from vldac.models.loading import build_policy
    from vldac.rollout.collector import LockstepEnvs, RolloutSettings, collect_rollout

    torch.set_num_threads(2)
    torch.manual_seed(0)
    policy = build_policy(ModelSettings(path=model_dir, value_head_hidden=[64]))
    seeds = iter(range(10_000))
    envs = LockstepEnvs(
        "vldac/NumberLine-v0", num_envs, NumberLineInterface(), history=1, invalid_penalty=-1.0,
        next_seed=lambda: next(seeds), env_kwargs={"frame_size": 56},
    )
    loaded = rss_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    buffer, _, timing = collect_rollout(envs, policy, RolloutSettings(1.0, max_new_tokens), num_steps=steps)
    peak = rss_kib("VmHWM")
    tokens = sum(len(record.token_ids) for record in buffer.flat_records())
    return {
        "vldac": str(Path(vldac.__file__).parent),
        "rss_after_load_mib": round(loaded / 1024, 1),
        "rollout_peak_rss_mib": round(peak / 1024, 1),
        "rollout_extra_mib": round((peak - loaded) / 1024, 1),
        "generated_tokens": tokens,
        "generation_seconds": round(timing.generation_seconds, 1),
    }


def run_side(src: Path, model_dir: Path, args: argparse.Namespace) -> dict:
    code = (
        f"import sys, json; sys.path.insert(0, {str(src)!r}); sys.path.insert(1, {str(ROOT / 'benchmarks')!r}); "
        f"import rollout_memory; print(json.dumps(rollout_memory.measure({str(model_dir)!r}, {args.num_envs}, "
        f"{args.max_new_tokens}, {args.steps})))"
    )
    environment = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="2", PYTHONPATH="")
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=environment)
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", required=True, help="the earlier commit to compare with, e.g. a7591d6")
    parser.add_argument("--num-envs", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="runs per side, alternating (the median is reported)")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        sys.path.insert(0, str(ROOT / "src"))
        build_model(scratch / "model")
        worktree = scratch / "earlier"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree), args.against],
                       check=True, capture_output=True)
        runs = {"earlier": [], "current": []}
        try:
            for _ in range(args.repeats):
                runs["earlier"].append(run_side(worktree / "src", scratch / "model", args))
                runs["current"].append(run_side(ROOT / "src", scratch / "model", args))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)], check=True)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    medians = {side: statistics.median(run["rollout_extra_mib"] for run in rows) for side, rows in runs.items()}
    results = {"against": args.against, "this_tree_at": commit, "vocabulary": VOCABULARY, "num_envs": args.num_envs,
               "max_new_tokens": args.max_new_tokens, "steps": args.steps, "runs": runs,
               "median_rollout_extra_mib": medians, "ratio": round(medians["earlier"] / max(medians["current"], 1e-9), 1)}
    print(f"{'side':10s} {'after load MiB':>15s} {'rollout peak MiB':>17s} {'rollout extra MiB':>18s} {'tokens':>7s} {'gen s':>6s}")
    for side, rows in runs.items():
        for row in rows:
            print(f"{side:10s} {row['rss_after_load_mib']:15.1f} {row['rollout_peak_rss_mib']:17.1f} "
                  f"{row['rollout_extra_mib']:18.1f} {row['generated_tokens']:7d} {row['generation_seconds']:6.1f}")
    print(f"median rollout extra: earlier {medians['earlier']:.0f} MiB, current {medians['current']:.0f} MiB; "
          f"earlier / current = {results['ratio']}x")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
