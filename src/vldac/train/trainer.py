"""The training loop: collect -> advantages -> update -> log -> checkpoint, resumable."""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import yaml
from tqdm import tqdm

from vldac.agents import interface_for
from vldac.algorithms import explained_variance, gae, group_normalized, leave_one_out, normalize_advantages
from vldac.config import AlgorithmSettings, ConfigError, OptimSettings, TrainConfig, load_config, save_config
from vldac.envs import make_world
from vldac.evaluate import TRAINING_SEED_LIMIT, evaluate
from vldac.models.loading import build_policy, check_precision, resolve_device, resolve_model_path
from vldac.models.policy import VLMPolicy
from vldac.rollout.buffer import StepRecord
from vldac.rollout.collector import LockstepEnvs, RolloutSettings, collect_group_episodes, collect_rollout
from vldac.train.checkpoints import load_checkpoint, newest_intact_checkpoint, save_checkpoint
from vldac.train.run_log import MetricsLog, check_wandb
from vldac.train.trajectories import TrajectoryLog
from vldac.train.update import CRITIC_ALGORITHMS, GROUP_ALGORITHMS, UpdateBatch, ppo_update

VALIDATION_SEED_START = 2_000_000
"""In-training greedy checks use seeds from here: held out from training, and apart from the
evaluation seeds that `vldac eval` uses by default (from 1,000,000)."""


def new_run_dir(config: TrainConfig) -> Path:
    """``output_dir/name``, or ``name-2``, ``name-3``... when that folder is taken."""
    base = Path(config.output_dir) / config.name
    candidate, index = base, 1
    while candidate.exists():
        index += 1
        candidate = base.with_name(f"{config.name}-{index}")
    candidate.mkdir(parents=True)
    return candidate


@dataclass
class Progress:
    update: int = 0
    env_steps: int = 0
    total_episodes: int = 0
    elapsed: float = 0.0


def check_config(config: TrainConfig) -> None:
    """Settings that are well-typed but do not fit together, caught before anything is written."""
    algorithm = config.algorithm
    if algorithm.name not in CRITIC_ALGORITHMS + GROUP_ALGORITHMS:
        raise ConfigError(
            f"algorithm.name '{algorithm.name}' is unknown; use one of {', '.join(CRITIC_ALGORITHMS + GROUP_ALGORITHMS)}."
        )
    for key, value, fits, requirement in (
        ("env.num_envs", config.env.num_envs, config.env.num_envs >= 1, "at least 1"),
        ("env.history", config.env.history, config.env.history >= 1, "at least 1 (frames per prompt)"),
        ("env.reward_clip", config.env.reward_clip, config.env.reward_clip is None or config.env.reward_clip > 0,
         "a positive number, or null to stop on non-finite rewards"),
        ("env.step_timeout", config.env.step_timeout, config.env.step_timeout is None or config.env.step_timeout > 0,
         "a positive number of seconds, or null to wait"),
        ("generation.temperature", config.generation.temperature, config.generation.temperature > 0,
         "positive (sampling divides the logits by it)"),
        ("generation.max_new_tokens", config.generation.max_new_tokens, config.generation.max_new_tokens >= 1, "at least 1"),
        ("train.total_env_steps", config.train.total_env_steps, config.train.total_env_steps >= 1, "at least 1"),
        ("train.rollout_steps", config.train.rollout_steps, config.train.rollout_steps >= 1, "at least 1"),
        ("train.checkpoint_every", config.train.checkpoint_every, config.train.checkpoint_every >= 1,
         "at least 1 (updates between checkpoints)"),
        ("train.keep_checkpoints", config.train.keep_checkpoints, config.train.keep_checkpoints >= 1,
         "at least 1 (the newest checkpoints kept)"),
        ("train.log_trajectories", config.train.log_trajectories, config.train.log_trajectories >= 0,
         "0 (off) or more (envs whose rollouts are saved at each checkpoint)"),
        ("train.eval_every", config.train.eval_every, config.train.eval_every >= 0, "0 (off) or more"),
        ("train.eval_episodes", config.train.eval_episodes, config.train.eval_episodes >= 1, "at least 1"),
        ("algorithm.ppo_epochs", algorithm.ppo_epochs, algorithm.ppo_epochs >= 1, "at least 1"),
        ("algorithm.minibatch_size", algorithm.minibatch_size, algorithm.minibatch_size >= 1, "at least 1"),
        ("algorithm.group_size", algorithm.group_size, algorithm.name not in GROUP_ALGORITHMS or algorithm.group_size >= 2,
         f"at least 2 for {algorithm.name}"),
        ("model.lora.r", config.model.lora.r, config.model.lora.r >= 1, "at least 1"),
        ("model.scoring_chunk_size", config.model.scoring_chunk_size, config.model.scoring_chunk_size >= 1, "at least 1"),
        ("model.vision_cache_frames", config.model.vision_cache_frames, config.model.vision_cache_frames >= 0, "0 (off) or more"),
    ):
        if not fits:
            raise ConfigError(f"{key}={value} does not work: it must be {requirement}.")
    if algorithm.name in GROUP_ALGORITHMS and config.env.num_envs % algorithm.group_size:
        raise ConfigError(
            f"env.num_envs ({config.env.num_envs}) must be a multiple of algorithm.group_size "
            f"({algorithm.group_size}) for {algorithm.name}."
        )
    interface_for(config.env.id, config.env.kwargs)
    make_world(config.env.id, **config.env.kwargs).close()
    resolve_model_path(config.model.path)
    check_precision(config.model)
    if config.train.wandb:
        check_wandb()


def train(config: TrainConfig, resume: Path | None = None, progress_bar: bool = True) -> Path:
    """Run (or resume) training; returns the run folder."""
    check_config(config)
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    torch.manual_seed(config.seed)
    seed_rng = np.random.default_rng(config.seed)
    minibatch_rng = np.random.default_rng(config.seed + 1)

    algorithm = config.algorithm
    grouped = algorithm.name in GROUP_ALGORITHMS
    policy = build_policy(
        config.model, device=resolve_device(config.model.device), value_stop_gradient=algorithm.value_stop_gradient,
        instruction_first=config.env.instruction_first,
    )
    interface = interface_for(config.env.id, config.env.kwargs)
    optimizer, policy_parameters = build_optimizer(policy, config.optim)
    total_steps = config.train.total_env_steps
    if resume is None:
        run_dir = new_run_dir(config)
        save_config(config, run_dir / "config.yaml")
    else:
        run_dir = resume

    checkpoints = run_dir / "checkpoints"
    checkpoints.mkdir(exist_ok=True)
    progress = Progress()
    if resume is not None:
        state = load_checkpoint(policy, optimizer, newest_intact_checkpoint(checkpoints))
        progress = Progress(**state["progress"])
        minibatch_rng.bit_generator.state = state["minibatch_rng"]
        print(f"Resuming {run_dir} after update {progress.update} ({progress.env_steps} env steps).", file=sys.stderr)
    resume_after = progress.update if resume is not None else None
    metrics = MetricsLog(run_dir, resume_after, wandb_config=asdict(config) if config.train.wandb else None)
    trajectory_log = TrajectoryLog(run_dir, config.train.log_trajectories, resume_after)

    envs = LockstepEnvs(
        config.env.id,
        config.env.num_envs,
        interface,
        config.env.history,
        config.env.invalid_penalty,
        next_seed=lambda: int(seed_rng.integers(TRAINING_SEED_LIMIT)),
        env_kwargs=config.env.kwargs,
        autoreset=not grouped,
        reward_clip=config.env.reward_clip,
        step_timeout=config.env.step_timeout,
    )
    if resume is not None:
        seed_rng.bit_generator.state = state["seed_rng"]
        if "episodes" in state:
            envs.restore(state["episodes"])
    rollout_settings = RolloutSettings(config.generation.temperature, config.generation.max_new_tokens)
    initial_checkpoint = str(resolve_model_path(config.model.path).resolve())

    def checkpoint() -> Path:
        state = {
            "progress": progress.__dict__,
            "seed_rng": seed_rng.bit_generator.state,
            "minibatch_rng": minibatch_rng.bit_generator.state,
            "episodes": envs.episodes_in_flight(),
        }
        run_settings = {
            "env_id": config.env.id, "env_kwargs": config.env.kwargs, "history": config.env.history,
            "invalid_penalty": config.env.invalid_penalty, "instruction_first": config.env.instruction_first,
            "max_new_tokens": config.generation.max_new_tokens,
            "temperature": config.generation.temperature, "dtype": config.model.dtype,
        }
        return save_checkpoint(policy, optimizer, state, checkpoints, f"update_{progress.update:05d}", run_settings,
                               keep=config.train.keep_checkpoints)

    bar = tqdm(
        total=total_steps, initial=progress.env_steps, unit="step",
        desc=f"train {run_dir.name}", disable=not progress_bar, file=sys.stderr,
    )
    invalid_streak = 0
    while progress.env_steps < total_steps:
        started = time.perf_counter()
        policy.forget_frames()
        lr = set_cosine_learning_rates(optimizer, progress.env_steps / total_steps, config.optim)
        if grouped:
            trajectories, episodes, timing = collect_group_episodes(envs, policy, rollout_settings, algorithm.group_size)
            logged_trajectories = trajectories
            if config.generation.recompute_logprobs:
                rescore(policy, [record for trajectory in trajectories for record in trajectory], config.generation.temperature)
            records, flat_advantages = group_advantages(trajectories, algorithm)
            returns = torch.zeros(len(records))
            explained = None
        else:
            buffer, episodes, timing = collect_rollout(envs, policy, rollout_settings, config.train.rollout_steps)
            logged_trajectories = buffer.env_trajectories()
            if config.generation.recompute_logprobs:
                rescore(policy, buffer.flat_records(), config.generation.temperature)
            steps = buffer.step_tensors()
            advantages, returns = gae(
                steps["rewards"], steps["values"], steps["next_values"], steps["terminated"], steps["truncated"],
                algorithm.gamma, algorithm.gae_lambda,
            )
            flat_advantages = advantages.reshape(-1)
            if algorithm.normalize_advantages:
                flat_advantages = normalize_advantages(flat_advantages)
            records = buffer.flat_records()
            returns = returns.reshape(-1)
            explained = explained_variance(steps["values"].reshape(-1), returns)
        value_only = not grouped and progress.update < algorithm.value_warmup_updates
        losses = ppo_update(
            policy, optimizer, policy_parameters, UpdateBatch(records, flat_advantages, returns),
            algorithm, config.generation.temperature, value_only, minibatch_rng,
        )
        seconds = time.perf_counter() - started
        if losses["skipped_steps"]:
            print(f"Warning: update {progress.update + 1} skipped {losses['skipped_steps']} optimiser step(s) whose loss or "
                  "gradient was not finite; the weights are unchanged by them.", file=sys.stderr)
        progress.update += 1
        progress.env_steps += len(records)
        progress.total_episodes += len(episodes.returns)
        progress.elapsed += seconds
        row = {
            "update": progress.update,
            "env_steps": progress.env_steps,
            "episodes_completed": len(episodes.returns),
            "total_episodes": progress.total_episodes,
            "success_rate": float(np.mean(episodes.successes)) if episodes.successes else None,
            "mean_return": float(np.mean(episodes.returns)) if episodes.returns else None,
            "mean_length": float(np.mean(episodes.lengths)) if episodes.lengths else None,
            "invalid_rate": sum(r.invalid for r in records) / len(records),
            "nonfinite_rewards": envs.nonfinite_rewards,
            "world_restarts": envs.world_restarts,
            **losses,
            "value_only": value_only,
            "explained_variance": explained,
            "env_steps_per_s": len(records) / seconds,
            "tokens_per_s": timing.generated_tokens / max(timing.generation_seconds, 1e-9),
            "lr": lr,
            "seconds": seconds,
            "elapsed": progress.elapsed,
        }
        invalid_streak = invalid_streak + 1 if row["invalid_rate"] == 1.0 else 0
        if invalid_streak == ALL_INVALID_WARNING_UPDATES:
            print(f"Warning: {all_invalid_cause(records, config.generation.max_new_tokens)}", file=sys.stderr)
        finished = progress.env_steps >= total_steps
        every = config.train.eval_every
        if every and (progress.update % every == 0 or finished):
            result = evaluate(
                policy, config.env.id, config.train.eval_episodes, VALIDATION_SEED_START,
                num_envs=config.env.num_envs, max_new_tokens=config.generation.max_new_tokens,
                history=config.env.history, invalid_penalty=config.env.invalid_penalty,
                env_kwargs=config.env.kwargs, progress=False,
            )
            row["greedy_success_rate"] = result["success_rate"]
        metrics.write(row)
        bar.update(len(records))
        bar.set_postfix(success=_fmt(row["success_rate"]), greedy=_fmt(row.get("greedy_success_rate")),
                        invalid=f"{row['invalid_rate']:.2f}")
        if progress.update % config.train.checkpoint_every == 0 or finished:
            trajectory_log.write(progress.update, progress.env_steps, logged_trajectories, policy.answer_text, interface)
            checkpoint()
    bar.close()
    envs.close()
    metrics.close()
    final = (checkpoints / "last").resolve()
    summary = {
        "run_dir": str(run_dir.resolve()),
        "initial_checkpoint": initial_checkpoint,
        "final_checkpoint": str(final),
        "updates": progress.update,
        "env_steps": progress.env_steps,
        "episodes": progress.total_episodes,
        "train_seconds": round(progress.elapsed, 1),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return run_dir


ALL_INVALID_WARNING_UPDATES = 3
"""Updates in a row with every answer invalid before the trainer warns."""


def all_invalid_cause(records: list[StepRecord], max_new_tokens: int) -> str:
    """One sentence on why every answer of the last updates was invalid, from the last rollout."""
    cut_off = sum(r.cut_off for r in records) / len(records)
    if cut_off >= 0.5:
        return (f"every answer of the last {ALL_INVALID_WARNING_UPDATES} updates was invalid, and {cut_off:.0%} of them "
                f"reached generation.max_new_tokens={max_new_tokens} without an end token; raise generation.max_new_tokens.")
    return (f"every answer of the last {ALL_INVALID_WARNING_UPDATES} updates was invalid although most ended before the "
            "token limit: the model does not write the world's answer format; start from a warm start that does "
            "(vldac sft) or check the prompt.")


def build_optimizer(policy: VLMPolicy, optim: OptimSettings) -> tuple[torch.optim.AdamW, list[torch.nn.Parameter]]:
    """AdamW over the policy's trainable parameters (``optim.lr``) and the value head
    (``optim.value_lr``), and the list of the former (for gradient clipping). PyTorch's fused
    kernel where the parameters live on a CPU or a CUDA device: one pass over each tensor, where
    the default loop makes a dozen."""
    policy_parameters = [p for p in policy.model.parameters() if p.requires_grad]
    groups = [{"params": policy_parameters, "lr": optim.lr}, {"params": list(policy.value_head.parameters()), "lr": optim.value_lr}]
    fused = policy.device.type in ("cpu", "cuda")
    return torch.optim.AdamW(groups, weight_decay=optim.weight_decay, fused=fused), policy_parameters


def set_cosine_learning_rates(optimizer: torch.optim.Optimizer, fraction: float, optim: OptimSettings) -> float:
    """One cosine decay over the run's environment-step budget, from each group's initial rate
    (policy: optim.lr, value head: optim.value_lr) to optim.final_lr; returns the policy's rate."""
    decay = 0.5 * (1 + math.cos(math.pi * min(fraction, 1.0)))
    for group, initial in zip(optimizer.param_groups, (optim.lr, optim.value_lr)):
        group["lr"] = optim.final_lr + (initial - optim.final_lr) * decay
    return optimizer.param_groups[0]["lr"]


def rescore(policy: VLMPolicy, records: list[StepRecord], temperature: float) -> None:
    """Replace each record's behaviour log-probs and value by the training forward's (no grad)."""
    logprobs, values = policy.rescore([(r.frames, r.text) for r in records], [r.token_ids for r in records], temperature)
    for record, token_logprobs, value in zip(records, logprobs, values.tolist(), strict=True):
        record.logprobs = token_logprobs
        record.value = value


def group_advantages(
    trajectories: list[list[StepRecord]], algorithm: AlgorithmSettings
) -> tuple[list[StepRecord], torch.Tensor]:
    """LOOP / GRPO: each trajectory's undiscounted return, turned into one advantage per
    trajectory within its group (consecutive envs of group_size), given to all of its steps.
    Returns the flattened records and their advantages [B]."""
    returns = torch.tensor([sum(record.reward for record in trajectory) for trajectory in trajectories])
    group_ids = torch.arange(len(trajectories)) // algorithm.group_size
    if algorithm.name == "loop":
        per_trajectory = leave_one_out(returns, group_ids)
    else:
        per_trajectory = group_normalized(returns, group_ids)
    records = [record for trajectory in trajectories for record in trajectory]
    advantages = torch.cat([per_trajectory[i].expand(len(t)) for i, t in enumerate(trajectories)])
    return records, advantages


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def resume_config(run_dir: Path) -> TrainConfig:
    """The resolved config saved in a run folder."""
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} has no config.yaml; --resume takes a run folder written by vldac train.")
    newest_intact_checkpoint(run_dir / "checkpoints")
    return load_config(TrainConfig, yaml.safe_load(path.read_text()))
