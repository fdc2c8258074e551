"""VL-DAC training throughput and peak GPU memory of a Qwen2-VL-7B-sized model (issue 11).

A random-weight model with Qwen2-VL-7B's dimensions (28 decoder layers of 3584, a 32-block vision
tower of 1280, vocabulary 152,064) is built from a config on the device (no download), saved in
bfloat16 and trained through vldac's own path (``build_policy``: LoRA r 16 on the language model's
projections, value head [3072, 2048], KL to the reference, 2 PPO epochs) at the paper's MiniWorld
settings: 4 frames of 224x224 history per prompt, exactly 128 generated tokens per step (end tokens
blocked for this benchmark), 8 and 64 environments. The frames come from a synthetic world (new
random blocks every step), so MiniWorld's OpenGL is not needed on the GPU machine.

    python benchmarks/gpu_throughput.py                  # on a CUDA device: 8 and 64 envs
    python benchmarks/gpu_throughput.py --preset tiny    # the same path on a CPU, in a minute

Prints, per environment count, env steps/s and generated tokens/s (median of ``--repeats``
rollout + update cycles after a warm-up) and the peak GPU memory (torch.cuda.max_memory_allocated).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gymnasium as gym
import numpy as np
import torch
from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

from vldac.agents import LanguageInterface
from vldac.config import AlgorithmSettings, LoraSettings, ModelSettings, OptimSettings
from vldac.models.loading import build_policy
from vldac.models.families import build_tiny_vlm
from vldac.models.tiny import TinyVLMSpec
from vldac.rollout.collector import LockstepEnvs, RolloutSettings, collect_rollout
from vldac.train.trainer import build_optimizer
from vldac.train.distributed import Ranks
from vldac.train.update import UpdateBatch, ppo_update

FRAME_SIZE = 224
HISTORY = 4
NEW_TOKENS = 128

PRESETS = {
    "7b": dict(text=dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                         num_key_value_heads=4, vocab_size=152064, mrope_section=[16, 24, 24]),
               vision=dict(depth=32, embed_dim=1280, num_heads=16, mlp_ratio=4)),
    "tiny": dict(text=dict(hidden_size=128, intermediate_size=384, num_hidden_layers=2, num_attention_heads=4,
                           num_key_value_heads=2, vocab_size=4096, mrope_section=[4, 6, 6]),
                 vision=dict(depth=2, embed_dim=64, num_heads=2, mlp_ratio=2)),
}
"""Model dimensions: Qwen2-VL-7B-Instruct's config.json, and a CPU-sized check of the same path."""

INSTRUCTION = (
    "You are an agent in a 3D room. Your task: go to the red box. The images are your last views, "
    "oldest first. Choose one action: 1 turn left, 2 turn right, 3 move forward. Think briefly, then "
    'answer as {"thoughts": "...", "action": "<action>"}.'
)


class RandomBlocks(gym.Env):
    """224x224 frames of random coloured blocks, new every step; never ends on its own."""

    observation_space = gym.spaces.Box(0, 255, (FRAME_SIZE, FRAME_SIZE, 3), np.uint8)
    action_space = gym.spaces.Discrete(3)
    max_steps = 10_000

    def _frame(self) -> np.ndarray:
        blocks = self.np_random.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        return np.kron(blocks, np.ones((FRAME_SIZE // 8, FRAME_SIZE // 8, 1), dtype=np.uint8))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self._frame(), {"success": False}

    def step(self, action):
        return self._frame(), 0.0, False, False, {"success": False}


gym.register("vldac-bench/RandomBlocks-v0", entry_point=RandomBlocks)


class NavigationPrompt(LanguageInterface):
    action_names = ["turn left", "turn right", "move forward"]

    def instruction(self, info: dict) -> str:
        return INSTRUCTION

    def thoughts(self, info: dict) -> str:
        return ""


def save_random_model(folder: Path, preset: str, device: torch.device, dtype: torch.dtype) -> None:
    """A random-weight Qwen2-VL of ``preset``'s dimensions with a processor for 224x224 frames (the
    tokenizer is vldac's tiny one; the extra embedding rows are never sampled)."""
    _, processor = build_tiny_vlm([INSTRUCTION, '{"thoughts": "the box is ahead", "action": "move forward"}'] * 8,
                                  TinyVLMSpec(frame_size=FRAME_SIZE))
    tokenizer = processor.tokenizer
    ids = {token: tokenizer.convert_tokens_to_ids(token)
           for token in ("<|endoftext|>", "<|im_end|>", "<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")}
    text, vision = PRESETS[preset]["text"], PRESETS[preset]["vision"]
    config = Qwen2VLConfig(
        text_config=dict(
            **{key: value for key, value in text.items() if key != "mrope_section"},
            max_position_embeddings=32768, rope_parameters=dict(rope_type="default", rope_theta=1e6,
                                                                mrope_section=text["mrope_section"]),
            bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
        ),
        vision_config=dict(**vision, hidden_size=text["hidden_size"], patch_size=14, spatial_merge_size=2,
                           temporal_patch_size=2),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )
    with torch.device(device):
        model = Qwen2VLForConditionalGeneration._from_config(config, dtype=dtype)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    del model


def measure(folder: Path, num_envs: int, args: argparse.Namespace, device: torch.device) -> dict:
    policy = build_policy(
        ModelSettings(path=str(folder), dtype=args.dtype, value_head_hidden=[3072, 2048], lora=LoraSettings(r=16, alpha=32),
                      device=str(device)),
        device=device,
    )
    blocked = tuple(sorted({*policy.tokens.blocked_ids, *policy.tokens.end_ids}))  # exactly NEW_TOKENS per answer
    policy.tokens = policy.engine.tokens = dataclasses.replace(policy.tokens, blocked_ids=blocked)
    policy.scorer.blocked_ids = list(blocked)
    optimizer, parameters = build_optimizer(policy, OptimSettings(lr=1e-5, value_lr=1e-4))
    ranks = Ranks(str(device))
    settings = AlgorithmSettings(minibatch_size=args.minibatch_size, ppo_epochs=2, kl_coef=0.05)
    seeds = iter(range(1_000_000))
    envs = LockstepEnvs("vldac-bench/RandomBlocks-v0", num_envs, NavigationPrompt(), HISTORY, -1.0, seeds.__next__)
    rng = np.random.default_rng(0)
    for _ in range(HISTORY - 1):  # fill every env's history before timing
        envs.step(['{"action": "move forward"}'] * num_envs, type("Stats", (), {"add": lambda *a: None})())

    def cycle() -> dict[str, float]:
        policy.forget_frames()
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        buffer, _, timing = collect_rollout(envs, policy, RolloutSettings(1.0, NEW_TOKENS), args.steps)
        records = buffer.flat_records()
        advantages = torch.from_numpy(rng.standard_normal(len(records)).astype(np.float32))
        ppo_update(policy, optimizer, parameters, UpdateBatch(records, advantages, torch.zeros(len(records))),
                   settings, 1.0, value_only=False, rng=rng, ranks=ranks, scorer=policy.scorer)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return {"seconds": time.perf_counter() - started, "generation_seconds": timing.generation_seconds,
                "generated_tokens": timing.generated_tokens}

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    cycle()
    cycles = [cycle() for _ in range(args.repeats)]
    steps = num_envs * args.steps
    seconds = statistics.median(c["seconds"] for c in cycles)
    result = {
        "num_envs": num_envs, "env_steps_per_s": steps / seconds,
        "generated_tokens_per_s": statistics.median(c["generated_tokens"] / c["seconds"] for c in cycles),
        "generation_share": statistics.median(c["generation_seconds"] / c["seconds"] for c in cycles),
        "peak_gpu_memory_mb": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None,
        "prompt_tokens": int(policy.prompts(envs.frame_histories()[:1], envs.instructions()[:1])["input_ids"].shape[1]),
        "cycles_seconds": [c["seconds"] for c in cycles],
    }
    del policy, optimizer
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=list(PRESETS), default="7b")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--steps", type=int, default=2, help="environment steps per rollout")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--minibatch-size", type=int, default=8)
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.preset == "7b" and device.type != "cuda":
        sys.exit("The 7b preset needs a CUDA device; on a CPU run --preset tiny.")
    torch.manual_seed(0)
    results = {"preset": args.preset, "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
               "dtype": args.dtype, "frames": f"{HISTORY} x {FRAME_SIZE}x{FRAME_SIZE}", "new_tokens": NEW_TOKENS,
               "rollout_steps": args.steps, "minibatch_size": args.minibatch_size, "torch": torch.__version__, "runs": []}
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        save_random_model(Path(scratch), args.preset, device, getattr(torch, args.dtype))
        print(f"model built and saved in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        for num_envs in args.num_envs:
            run = measure(Path(scratch), num_envs, args, device)
            results["runs"].append(run)
            memory = "" if run["peak_gpu_memory_mb"] is None else f", peak GPU memory {run['peak_gpu_memory_mb']:.0f} MiB"
            print(f"{num_envs} envs: {run['env_steps_per_s']:.2f} env steps/s, {run['generated_tokens_per_s']:.0f} "
                  f"generated tokens/s (generation {run['generation_share']:.0%} of the time; prompt "
                  f"{run['prompt_tokens']} tokens){memory}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
