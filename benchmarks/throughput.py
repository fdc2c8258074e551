"""vldac's training throughput on the published pipeline's own workload (issue 10).

The workload of ../shared/bench/official_pipeline/bench_official.py, through vldac's collector and
update: the same tiny Qwen2-VL folders (built there by build_tiny.py into $TINY_MODELS), one
300x300 frame per environment step (different per environment: target and current numbers drawn
per step; resized to 308x308 as the published pipeline does), the same ~200-token NumberLine instruction for every environment, exactly 32 generated
tokens sampled at temperature 1 (end-of-turn tokens blocked for this benchmark only), LoRA r 16 /
alpha 32 on the 7 language-model projections, value head [3072, 2048], KL to the reference on,
2 PPO epochs, 32 environments, mini-batch 16, 8 steps per rollout with one bootstrap-value pass,
fp32 (``--dtype bfloat16``: the frozen weights in bfloat16, LoRA, value head and optimiser state
float32), 2 threads.

    export TINY_MODELS=...   # as in ../shared/bench/official_pipeline/README.md
    python benchmarks/throughput.py --size M [--dtype bfloat16] [--json OUT]

vldac's settings for this workload: the instruction before the frame, so that its tokens are computed
once per batch in the scorer's forwards (``--frames-first`` / ``--no-sharing`` measure without), and
eager attention kernels in the scorer's forwards, sdpa in generation (``--scoring-attention sdpa``
measures sdpa throughout).
Prints env steps/s (median of ``--repeats`` rollout + update cycles after ``--warmup``), the split
into generation / scoring (bootstrap values and the reference pass) / update (forward, backward and
optimiser steps), and the achieved GFLOP/s (FLOPs counted by torch.utils.flop_counter on one extra
cycle) against a matmul of the run's dtype timed in the same run with torch.utils.benchmark, and
the largest first-mini-batch PPO ratio error |ratio - 1| of the timed cycles (generation and
scoring agree: 0 up to kernel rounding).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gymnasium as gym
import numpy as np
import torch
from PIL import Image, ImageDraw
from torch.utils import benchmark as torch_benchmark
from torch.utils.flop_counter import FlopCounterMode

from vldac.agents import LanguageInterface
from vldac.config import AlgorithmSettings, LoraSettings, ModelSettings, OptimSettings
from vldac.models.loading import build_policy
from vldac.rollout.collector import LockstepEnvs, RolloutSettings, collect_rollout
from vldac.train.trainer import build_optimizer
from vldac.train.distributed import Ranks
from vldac.train.update import UpdateBatch, ppo_update

INSTRUCTION = (
    "You are playing a game called number line. You will see a target number and a current number "
    "in the image. Your goal is to move the current number closer to the target by choosing either "
    "adding or subtracting one to the current number. You can return one of two actions: '-' or '+'. "
    "Before you answer, briefly describe the current observation, say which number is larger, and "
    "explain your reasoning in one short sentence. Do not repeat the instructions. "
    "The output format should be as follows: "
    '{"thoughts": <any thoughts that will lead you to the goal>, "action": <"+" or "-">}'
)
"""The published pipeline's NumberLine instruction, word for word (bench_official.py's common.py)."""


class NumberLineFrames(gym.Env):
    """300x300 frames as the published benchmark draws them (target and current numbers as text
    above a number line), new numbers every step; never ends on its own. Each frame is then resized
    to 308x308, as the published pipeline's qwen_vl_utils step does before its processor, so that
    both prompts hold the same 64 image tokens (265 tokens in all)."""

    observation_space = gym.spaces.Box(0, 255, (308, 308, 3), np.uint8)
    action_space = gym.spaces.Discrete(2)
    action_names = ["-", "+"]
    max_steps = 10_000

    def _frame(self) -> np.ndarray:
        target, current = (int(n) for n in self.np_random.integers(0, 10, size=2))
        image = Image.new("RGB", (300, 300), (255, 255, 255))
        draw = ImageDraw.Draw(image)
        draw.text((20, 120), f"Target: {target}  Current: {current}", fill=(0, 0, 0))
        draw.line((20, 200, 280, 200), fill=(0, 0, 0), width=2)
        draw.ellipse((20 + 26 * current - 5, 195, 20 + 26 * current + 5, 205), fill=(255, 0, 0))
        return np.asarray(image.resize((308, 308)))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self._frame(), {"success": False}

    def step(self, action):
        return self._frame(), 0.0, False, False, {"success": False}


gym.register("vldac-bench/NumberLineFrames-v0", entry_point=NumberLineFrames)


class PublishedInstruction(LanguageInterface):
    action_names = ["-", "+"]

    def instruction(self, info: dict) -> str:
        return INSTRUCTION

    def thoughts(self, info: dict) -> str:
        return ""


class Stopwatch:
    """Seconds spent inside wrapped methods, by name."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def wrap(self, name: str, function):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
        return timed


def matmul_gflops(size: int = 2048, dtype: torch.dtype = torch.float32) -> float:
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    measurement = torch_benchmark.Timer("a @ b", globals={"a": a, "b": b}).blocked_autorange(min_run_time=2.0)
    return 2 * size**3 / measurement.median / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["M", "L"], default="M")
    parser.add_argument("--models", default=os.environ.get("TINY_MODELS"), help="folder of build_tiny.py's models")
    parser.add_argument("--num-envs", type=int, default=32)
    parser.add_argument("--steps", type=int, default=8, help="environment steps per rollout")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--frames-first", action="store_true", help="the frames before the instruction (the published layout)")
    parser.add_argument("--no-sharing", action="store_true", help="no shared prompt prefix (model.share_prompt_prefix=false)")
    parser.add_argument("--scoring-attention", default="eager", help="attention kernels of the scorer's forwards (model.scoring_attn_implementation)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32", help="the frozen weights' dtype (model.dtype)")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()
    if not args.models:
        sys.exit("Set TINY_MODELS (or --models) to the folder build_tiny.py wrote; see ../shared/bench/official_pipeline/README.md.")
    folder = Path(args.models) / f"tiny_qwen2vl_{args.size}"
    if not (folder / "config.json").is_file():
        sys.exit(f"No model at {folder}; build it with: TINY_MODELS={args.models} python build_tiny.py {args.size}")
    torch.set_num_threads(2)
    torch.manual_seed(0)

    policy = build_policy(
        ModelSettings(path=str(folder), dtype=args.dtype, value_head_hidden=[3072, 2048], lora=LoraSettings(r=16, alpha=32),
                      share_prompt_prefix=not args.no_sharing, scoring_attn_implementation=args.scoring_attention),
        instruction_first=not args.frames_first,
    )
    # Exactly 32 tokens per answer: the end tokens are blocked for this benchmark only.
    blocked = tuple(sorted({*policy.tokens.blocked_ids, *policy.tokens.end_ids}))
    policy.tokens = policy.engine.tokens = dataclasses.replace(policy.tokens, blocked_ids=blocked)
    policy.scorer.blocked_ids = list(blocked)
    stopwatch = Stopwatch()
    policy.observation_values = stopwatch.wrap("bootstrap", policy.observation_values)
    policy.reference_logprobs = stopwatch.wrap("reference", policy.reference_logprobs)

    optimizer, parameters = build_optimizer(policy, OptimSettings(lr=1e-5, value_lr=1e-4))
    ranks = Ranks("cpu")
    settings = AlgorithmSettings(minibatch_size=16, ppo_epochs=2, kl_coef=0.05)
    seeds = iter(range(1_000_000))
    envs = LockstepEnvs("vldac-bench/NumberLineFrames-v0", args.num_envs, PublishedInstruction(), 1, -1.0, seeds.__next__)
    rng = np.random.default_rng(0)

    def cycle() -> dict[str, float]:
        stopwatch.seconds.clear()
        started = time.perf_counter()
        policy.forget_frames()  # as the trainer does before every rollout
        buffer, _, timing = collect_rollout(envs, policy, RolloutSettings(1.0, 32), args.steps)
        collected = time.perf_counter()
        records = buffer.flat_records()
        advantages = torch.from_numpy(rng.standard_normal(len(records)).astype(np.float32))
        diagnostics = ppo_update(policy, optimizer, parameters, UpdateBatch(records, advantages, torch.zeros(len(records))),
                                 settings, 1.0, value_only=False, rng=rng, ranks=ranks, scorer=policy.scorer)
        finished = time.perf_counter()
        bootstrap, reference = stopwatch.seconds.get("bootstrap", 0.0), stopwatch.seconds.get("reference", 0.0)
        return {
            "seconds": finished - started, "generation": timing.generation_seconds, "scoring": bootstrap + reference,
            "update": finished - collected - reference,
            "environment_and_prompts": collected - started - timing.generation_seconds - bootstrap,
            "generated_tokens": sum(len(r.token_ids) for r in records),
            "first_ratio_error": diagnostics["first_ratio_error"],
        }

    for _ in range(args.warmup):
        cycle()
    cycles = []
    for repeat in range(args.repeats):
        cycles.append(cycle())
        print(f"cycle {repeat}: {args.num_envs * args.steps / cycles[-1]['seconds']:.2f} env steps/s", file=sys.stderr)
    with FlopCounterMode(display=False) as counter:
        cycle()
    flops_per_cycle = counter.get_total_flops()
    matmul = matmul_gflops(dtype=getattr(torch, args.dtype))

    prompts = policy.prompts(envs.frame_histories()[:1], envs.instructions()[:1])
    steps_per_cycle = args.num_envs * args.steps
    median_seconds = statistics.median(c["seconds"] for c in cycles)
    split = {key: statistics.median(c[key] for c in cycles) / steps_per_cycle
             for key in ("generation", "scoring", "update", "environment_and_prompts")}
    results = {
        "size": args.size, "env_steps_per_s": steps_per_cycle / median_seconds,
        "prompt_tokens": int(prompts["input_ids"].shape[1]),
        "image_tokens": int((prompts["input_ids"] == policy.processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")).sum()),
        "generated_tokens_per_step": cycles[0]["generated_tokens"] / steps_per_cycle,
        "num_envs": args.num_envs, "ppo_epochs": settings.ppo_epochs, "minibatch_size": settings.minibatch_size,
        "rollout_steps": args.steps, "seconds_per_env_step": split, "cycles_s": [c["seconds"] for c in cycles],
        "gflop_per_env_step": flops_per_cycle / steps_per_cycle / 1e9,
        "achieved_gflops": flops_per_cycle / median_seconds / 1e9, "matmul_gflops": matmul, "dtype": args.dtype,
        "first_ratio_error": max(c["first_ratio_error"] for c in cycles),
        "instruction_first": not args.frames_first, "shared_prefix": policy.scorer.share_prefix and not args.frames_first,
        "scoring_attention": args.scoring_attention, "torch": torch.__version__, "threads": torch.get_num_threads(),
    }
    print(f"size {args.size}: {results['env_steps_per_s']:.2f} env steps/s "
          f"(median of {args.repeats} cycles of {steps_per_cycle} steps; prompt {results['prompt_tokens']} tokens, "
          f"{results['image_tokens']} of them image tokens, {results['generated_tokens_per_step']:.0f} generated per step)")
    for key, seconds in split.items():
        print(f"  {key:24s} {seconds * 1000:8.1f} ms per env step")
    print(f"  achieved {results['achieved_gflops']:.0f} GFLOP/s ({results['gflop_per_env_step']:.1f} GFLOP per env step) "
          f"against a {args.dtype} matmul at {matmul:.0f} GFLOP/s")
    print(f"  first PPO ratio error (largest of the timed cycles): {results['first_ratio_error']:.2e}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
