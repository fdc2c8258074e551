"""The training loop, one named step at a time: collect -> advantages -> update -> record -> validate -> log
-> checkpoint; resumable exactly from any checkpoint.

The same loop runs on every rank of a multi-process run (see ``vldac.train.distributed``); where
the ranks meet is visible in the steps: collect (each rank its own envs and seeds), advantages
(normalised over the global batch), update (the engine all-reduces the gradients), record and
validate (numbers summed over ranks), log and checkpoint (rank 0 writes, with every rank's
environments and random states)."""

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
from accelerate.utils import DistributedType
from tqdm import tqdm

from vldac.agents import interface_for
from vldac.algorithms import Advantages, algorithm_named
from vldac.config import ConfigError, check_output_folder, check_ranges, OptimSettings, TrainConfig, load_config, save_config, to_dict
from vldac.envs import make_world
from vldac.evaluate import evaluate
from vldac.models.loading import build_policy, check_precision, resolve_device, resolve_model_path
from vldac.models.policy import VLMPolicy
from vldac.preflight import check_before_training
from vldac.provenance import provenance
from vldac.rollout.buffer import StepRecord
from vldac.rollout.collector import LockstepEnvs, RolloutSettings
from vldac.rollout.modes import ROLLOUT_MODES, Rollout
from vldac.seeds import EVAL_SEED_START, TRAINING_SEED_LIMIT, VALIDATION_SEED_START
from vldac.train.checkpoints import (
    load_checkpoint,
    newest_intact_checkpoint,
    read_trainer_state,
    restore_torch_rng_state,
    save_checkpoint,
    torch_rng_state,
)
from vldac.train.distributed import SHARDING_ENGINES, Ranks, rank_random_streams, rank_seed_range
from vldac.train.image_probe import (
    IGNORED_KL,
    IGNORED_PROBES,
    IGNORED_SUCCESS_RISE,
    ignores_image,
    image_kl_per_step,
    probed_steps,
    summarize_probe,
)
from vldac.train.run_log import MetricsLog, check_wandb
from vldac.train.transfer import (
    bench_results,
    bench_row,
    planned_suite,
    process_cpu_seconds,
    read_warm_start,
    save_warm_start,
    transfer_costs,
)
from vldac.train.trajectories import TrajectoryLog
from vldac.train.update import UpdateBatch, ppo_update



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
    cpu_seconds: float = 0.0
    """CPU time of this rank's process over the run's updates (user + system, every thread)."""


def check_config(config: TrainConfig, resuming: bool = False) -> None:
    """Settings that are well-typed but do not fit together, caught before anything is written (a
    resumed run writes into its own folder, so its output folder is not checked again)."""
    algorithm = config.algorithm
    problems = algorithm_named(algorithm.name).problems(algorithm, config.env.num_envs)
    check_ranges(config)
    if not resuming:
        check_output_folder("output_dir", config.output_dir, "name", config.name)
    if problems:
        raise ConfigError(problems[0])
    interface_for(config.env.id, config.env.kwargs)
    make_world(config.env.id, **config.env.kwargs).close()
    resolve_model_path(config.model.path)
    resolve_device(config.model.device)
    check_precision(config.model)
    if config.train.wandb:
        check_wandb()


def train(
    config: TrainConfig, resume: Path | None = None, accept_unverified: bool = False
) -> Path | None:
    """Run (or resume) training; returns the run folder (None on the ranks after 0 of a
    multi-process run, which leave the folder to rank 0). Each update is the same named steps:
    collect, advantages, update, record, validate, log, checkpoint. A resumed run continues from
    its newest intact checkpoint (one without a manifest only with ``accept_unverified``), or
    starts again in its folder when it stopped before its first."""
    ranks = Ranks(config.model.device)
    try:
        run = TrainingRun(config, resume, ranks, accept_unverified)
        while not run.finished:
            started = time.perf_counter()
            lr = run.start_update()
            rollout = run.collect()
            image_probe = run.probe_image(rollout)
            advantages = run.advantages(rollout)
            losses = run.update(rollout, advantages)
            row = run.record(rollout, losses, advantages.explained_variance, lr, seconds=time.perf_counter() - started)
            run.note_image_probe(row, image_probe)
            run.validate(row)
            run.benchmark(row)
            run.log(row)
            run.checkpoint(rollout)
        return run.finish()
    finally:
        ranks.end()


class TrainingRun:
    """Everything one rank of a run holds between updates (policy, optimiser, worlds, random
    states, logs), with one method per step of an update."""

    def __init__(self, config: TrainConfig, resume: Path | None, ranks: Ranks,
                 accept_unverified: bool = False):
        check_config(config, resuming=resume is not None)
        if config.train.threads:
            torch.set_num_threads(config.train.threads)
        torch.manual_seed(config.seed)  # the same initial adapters and value head on every rank
        self.config = config
        self.ranks = ranks
        self.settings = config.algorithm
        self.algorithm = algorithm_named(self.settings.name)
        self.rollout_mode = ROLLOUT_MODES[self.algorithm.rollout]
        self.seed_rng, self.minibatch_rng, sampling_seed = rank_random_streams(config.seed, ranks.rank, ranks.world_size)
        resume_from = mine = None
        if resume is not None:  # this rank's part of the checkpoint, checked before the model loads
            resume_from = newest_intact_checkpoint(resume / "checkpoints", accept_unverified)
            if resume_from is not None:
                mine = self.rank_state_of(read_trainer_state(resume_from), resume)
            elif ranks.is_main:
                print(f"{resume} stopped before its first checkpoint: starting it again from its saved config.yaml, "
                      "in the same folder.", file=sys.stderr)
        self.policy = build_policy(
            config.model, device=ranks.device,
            value_stop_gradient=self.settings.value_stop_gradient, instruction_first=config.env.instruction_first,
        )
        if config.model.preflight and not config.model.path.startswith("builtin:"):
            check_before_training(self.policy, config.model.path, config.env.id, config.env.kwargs, EVAL_SEED_START,
                                  report=ranks.is_main)
        self.bench_suite = planned_suite(config.train.bench) if config.train.bench_every else None
        if ranks.is_main and config.model.dtype != "float32" and not config.generation.recompute_logprobs:
            print(f"Note: with model.dtype={config.model.dtype} generation's cached decode steps round differently from "
                  "the update's forward, so the first PPO ratio is not exactly 1 (SmolLM2-135M in bfloat16 on a CPU: "
                  "0.05 nats per token on average); generation.recompute_logprobs=true makes it 1.", file=sys.stderr)
        if sampling_seed is not None:
            torch.manual_seed(sampling_seed)
        self.interface = interface_for(config.env.id, config.env.kwargs)
        optimizer, self.policy_parameters = build_optimizer(self.policy, config.optim)
        self.scorer, self.optimizer = ranks.prepare(self.policy.scorer, optimizer)
        if resume is not None:
            self.run_dir = resume
        elif ranks.is_main:
            self.run_dir = new_run_dir(config)
            save_config(config, self.run_dir / "config.yaml")
        self.run_dir = Path(ranks.broadcast(str(self.run_dir) if ranks.is_main else None))
        self.checkpoints = self.run_dir / "checkpoints"
        if ranks.is_main:
            self.checkpoints.mkdir(exist_ok=True)
        self.progress = Progress()
        if resume_from is not None:
            state = load_checkpoint(self.policy, self.optimizer, resume_from, self.ranks.load_engine_state)
            self.progress = Progress(**state["progress"])
            self.minibatch_rng.bit_generator.state = mine["minibatch_rng"]
            if ranks.is_main:
                print(f"Resuming {self.run_dir} after update {self.progress.update} ({self.progress.env_steps} env steps).",
                      file=sys.stderr)
        resume_after = self.progress.update if resume is not None else None
        self.metrics = self.trajectory_log = None
        if ranks.is_main:
            self.metrics = MetricsLog(self.run_dir, resume_after, wandb_config=asdict(config) if config.train.wandb else None)
            self.trajectory_log = TrajectoryLog(self.run_dir, config.train.log_trajectories, resume_after)
        first_seed, seed_stop = rank_seed_range(TRAINING_SEED_LIMIT, ranks.rank, ranks.world_size)
        self.envs = LockstepEnvs(
            config.env.id, config.env.num_envs, self.interface, config.env.history, config.env.invalid_penalty,
            next_seed=lambda: first_seed + int(self.seed_rng.integers(seed_stop - first_seed)), env_kwargs=config.env.kwargs,
            autoreset=self.rollout_mode.autoreset, reward_clip=config.env.reward_clip, step_timeout=config.env.step_timeout,
        )
        if mine is not None:
            self.seed_rng.bit_generator.state = mine["seed_rng"]
            if "episodes" in mine:
                self.envs.restore(mine["episodes"])
            if "torch_rng" in mine:
                restore_torch_rng_state(mine["torch_rng"])
        self.rollout_settings = RolloutSettings(config.generation.temperature, config.generation.max_new_tokens)
        self.initial_checkpoint = str(resolve_model_path(config.model.path).resolve())
        self.provenance = provenance(
            to_dict(config),
            seeds={"seed": config.seed, "training_episode_seeds": [0, TRAINING_SEED_LIMIT],
                   "validation_seeds": [VALIDATION_SEED_START, VALIDATION_SEED_START + config.train.eval_episodes]},
            worlds=[{"id": config.env.id, "kwargs": config.env.kwargs}],
            resumed_from=resume_from.name if resume_from is not None else None,
        )
        self.invalid_streak = 0
        self.image_probes: list[tuple[float, float | None]] = []
        self.warned_image_ignored = False
        self.cpu_clock = CpuClock()
        self.bench_warm = self.bench_last = None
        if self.bench_suite is not None:
            self.bench_warm = read_warm_start(self.run_dir) if resume_from is not None else None
            if self.bench_warm is None:
                self.bench_warm = self.play_bench()
                if ranks.is_main:
                    save_warm_start(self.run_dir, self.bench_suite, self.bench_warm)
        self.bar = tqdm(
            total=config.train.total_env_steps, initial=self.progress.env_steps, unit="step",
            desc=f"train {self.run_dir.name}", disable=not ranks.is_main, file=sys.stderr,
        )

    def rank_state_of(self, state: dict, run_dir: Path) -> dict:
        """This rank's part of a checkpoint's trainer state (its envs and random states); one
        sentence when the checkpoint was written by another number of ranks."""
        saved = state.get("ranks") or [state]  # a checkpoint of one process before ranks were saved
        engine = state.get("engine", DistributedType.NO.value)
        if (engine in (e.value for e in SHARDING_ENGINES)) != self.ranks.shards_state:
            raise ConfigError(
                f"{run_dir} was trained under the {engine} engine and this resume runs under {self.ranks.engine.value}; "
                "resume with the accelerate config file the run was started with."
            )
        if len(saved) != self.ranks.world_size:
            raise ConfigError(
                f"{run_dir} was trained by {len(saved)} process(es) and this resume has {self.ranks.world_size}; "
                f"every rank's environments and random states are in the checkpoint, so resume with the same number "
                f"(torchrun --nproc_per_node {len(saved)} -m vldac train --resume ..., or vldac train --resume ... for 1)."
            )
        return saved[self.ranks.rank]

    @property
    def finished(self) -> bool:
        return self.progress.env_steps >= self.config.train.total_env_steps

    def start_update(self) -> float:
        """Empty the per-rollout caches, start the update's CPU clock (validation, benchmarks and
        checkpoints are not training) and set this update's learning rates; returns the policy's."""
        self.policy.forget_frames()
        self.cpu_clock.lap()
        return set_cosine_learning_rates(
            self.optimizer, self.progress.env_steps / self.config.train.total_env_steps, self.config.optim
        )

    def collect(self) -> Rollout:
        """One rollout in the algorithm's mode (vldac.rollout.modes); behaviour log-probs recomputed
        by the training forward when generation.recompute_logprobs is set."""
        with self.ranks.inference(self.scorer):
            rollout = self.rollout_mode.collect(self.envs, self.policy, self.rollout_settings,
                                                rollout_steps=self.config.train.rollout_steps,
                                                group_size=self.settings.group_size)
            if self.config.generation.recompute_logprobs:
                rescore(self.policy, rollout.records, self.config.generation.temperature)
        return rollout

    def probe_image(self, rollout: Rollout) -> dict[str, float]:
        """At update 1 and every train.image_probe_every updates, image_kl of the policy that sampled
        the rollout (vldac.train.image_probe), over every rank's probed steps; {} at other updates.
        No random number is drawn."""
        every, update = self.config.train.image_probe_every, self.progress.update + 1
        if not every or (update != 1 and update % every):
            return {}
        with self.ranks.inference(self.scorer):
            kls = image_kl_per_step(self.policy, probed_steps(rollout.records), self.config.generation.temperature)
        return summarize_probe([kl for rank in self.ranks.gather(kls.tolist()) for kl in rank])

    def note_image_probe(self, row: dict, image_probe: dict[str, float]) -> None:
        """Add the probe's numbers to the row; warn once when the policy looks to have learned to
        ignore the image (vldac.train.image_probe.ignores_image)."""
        if not image_probe:
            return
        row.update(image_probe)
        self.image_probes.append((image_probe["image_kl"], row["success_rate"]))
        if ignores_image(self.image_probes) and not self.warned_image_ignored and self.ranks.is_main:
            self.warned_image_ignored = True
            print(f"Warning: image_kl has stayed below {IGNORED_KL} nats per answer for {IGNORED_PROBES} probes while "
                  f"training success rose by {IGNORED_SUCCESS_RISE} or more: the policy answers the same with blank "
                  "frames, so it has learned to act without looking at the image (check that the prompt does not give "
                  "the answer away).", file=sys.stderr)

    def advantages(self, rollout: Rollout) -> Advantages:
        """Advantages [B] and value targets [B] per record, and the critic's explained variance, as
        the algorithm computes them (vldac.algorithms)."""
        return self.algorithm.advantages(rollout, self.settings, self.ranks)

    def update(self, rollout: Rollout, advantages: Advantages) -> dict:
        """The PPO epochs over the rollout (the value head alone during the critic's warm-up)."""
        value_only = self.algorithm.has_critic and self.progress.update < self.settings.value_warmup_updates
        losses = ppo_update(
            self.policy, self.optimizer, self.policy_parameters, UpdateBatch(rollout.records, advantages.advantages, advantages.returns),
            self.settings, self.config.generation.temperature, value_only, self.minibatch_rng,
            ranks=self.ranks, scorer=self.scorer,
        )
        if losses["skipped_steps"] and self.ranks.is_main:
            print(f"Warning: update {self.progress.update + 1} skipped {losses['skipped_steps']} optimiser step(s) whose "
                  "loss or gradient was not finite; the weights are unchanged by them.", file=sys.stderr)
        return {**losses, "value_only": value_only}

    def record(self, rollout: Rollout, losses: dict, explained: float | None, lr: float, seconds: float) -> dict:
        """Count the update (over all ranks) and return its metrics row; warn when every answer
        has been invalid for several updates in a row."""
        progress, records, episodes = self.progress, rollout.records, rollout.episodes
        everyone = self.ranks.gather({
            "steps": len(records), "invalid": sum(r.invalid for r in records), "episodes": episodes,
            "nonfinite_rewards": self.envs.nonfinite_rewards, "world_restarts": self.envs.world_restarts,
            "generated_tokens": rollout.timing.generated_tokens, "generation_seconds": rollout.timing.generation_seconds,
            "losses": losses, "seconds": seconds,
        })
        steps = sum(rank["steps"] for rank in everyone)
        returns = [value for rank in everyone for value in rank["episodes"].returns]
        successes = [value for rank in everyone for value in rank["episodes"].successes]
        lengths = [value for rank in everyone for value in rank["episodes"].lengths]
        seconds = max(rank["seconds"] for rank in everyone)
        progress.update += 1
        progress.env_steps += steps
        progress.total_episodes += len(returns)
        progress.elapsed += seconds
        progress.cpu_seconds += self.cpu_clock.lap()
        row = {
            "update": progress.update,
            "env_steps": progress.env_steps,
            "episodes_completed": len(returns),
            "total_episodes": progress.total_episodes,
            "success_rate": float(np.mean(successes)) if successes else None,
            "mean_return": float(np.mean(returns)) if returns else None,
            "mean_length": float(np.mean(lengths)) if lengths else None,
            "invalid_rate": sum(rank["invalid"] for rank in everyone) / steps,
            "nonfinite_rewards": sum(rank["nonfinite_rewards"] for rank in everyone),
            "world_restarts": sum(rank["world_restarts"] for rank in everyone),
            **mean_over_ranks([rank["losses"] for rank in everyone]),
            "explained_variance": explained,
            "env_steps_per_s": steps / seconds,
            "tokens_per_s": sum(rank["generated_tokens"] for rank in everyone)
            / max(max(rank["generation_seconds"] for rank in everyone), 1e-9),
            "lr": lr,
            "seconds": seconds,
            "elapsed": progress.elapsed,
        }
        self.invalid_streak = self.invalid_streak + 1 if row["invalid_rate"] == 1.0 else 0
        if self.invalid_streak == ALL_INVALID_WARNING_UPDATES and self.ranks.is_main:
            print(f"Warning: {all_invalid_cause(records, self.config.generation.max_new_tokens)}", file=sys.stderr)
        return row

    def validate(self, row: dict) -> None:
        """Greedy success on the validation seeds every train.eval_every updates and at the end;
        each rank plays its slice of the seeds."""
        every = self.config.train.eval_every
        if not every or (self.progress.update % every and not self.finished):
            return
        config = self.config
        self.bar.set_postfix_str(f"greedy validation on {config.train.eval_episodes} episodes")
        share = np.array_split(np.arange(config.train.eval_episodes), self.ranks.world_size)[self.ranks.rank]
        successes = 0.0
        if len(share):
            with self.ranks.inference(self.scorer):
                result = evaluate(self.policy, config.play_settings(), len(share), VALIDATION_SEED_START + int(share[0]),
                                  num_envs=config.env.num_envs, progress=False)
            successes = round(result["success_rate"] * len(share))
        row["greedy_success_rate"] = self.ranks.sum([successes])[0] / config.train.eval_episodes

    def play_bench(self) -> list:
        """The transfer benchmark played by the current policy (vldac.train.transfer); every rank
        plays it whole (sharded engines need every rank in each forward)."""
        with self.ranks.inference(self.scorer):
            results = bench_results(self.policy, self.bench_suite, self.config.train.bench)
        self.policy.forget_frames()
        return results

    def benchmark(self, row: dict) -> None:
        """Every train.bench_every updates and at the end: the transfer benchmark's scores into the row."""
        every = self.config.train.bench_every
        if not every or (self.progress.update % every and not self.finished):
            return
        self.bar.set_postfix_str(f"transfer benchmark {self.bench_suite.name}")
        started = time.perf_counter()
        self.bench_last = self.play_bench()
        row.update(bench_row(self.bench_suite, self.bench_last))
        row["bench_seconds"] = time.perf_counter() - started

    def log(self, row: dict) -> None:
        if not self.ranks.is_main:
            return
        self.metrics.write(row)
        self.bar.update(row["env_steps"] - self.bar.n)
        self.bar.set_postfix(success=_fmt(row["success_rate"]), greedy=_fmt(row.get("greedy_success_rate")),
                             invalid=f"{row['invalid_rate']:.2f}")

    def checkpoint(self, rollout: Rollout) -> None:
        """Every train.checkpoint_every updates and at the end: the logged trajectories, then the
        checkpoint (weights, optimiser, random states and every episode in flight)."""
        progress, config = self.progress, self.config
        if progress.update % config.train.checkpoint_every and not self.finished:
            return
        name = f"update_{progress.update:05d}"
        every_rank = self.ranks.gather({
            "seed_rng": self.seed_rng.bit_generator.state,
            "minibatch_rng": self.minibatch_rng.bit_generator.state,
            "episodes": self.envs.episodes_in_flight(),
            "torch_rng": torch_rng_state(),
        })
        engine_state = None
        if self.ranks.shards_state:  # every rank writes its shards; rank 0 moves them into the checkpoint
            engine_state = self.checkpoints / f".{name}.engine"
            self.ranks.save_engine_state(engine_state)
        with self.ranks.inference(self.scorer):  # save_pretrained needs whole weights
            if self.ranks.is_main:
                self.write_checkpoint(name, rollout, every_rank, engine_state)

    def write_checkpoint(self, name: str, rollout: Rollout, every_rank: list[dict], engine_state: Path | None) -> None:
        """Rank 0: the logged trajectories, then checkpoint ``name``."""
        progress, config = self.progress, self.config
        self.trajectory_log.write(progress.update, progress.env_steps, rollout.trajectories, self.policy.answer_text,
                                  self.interface)
        state = {"progress": progress.__dict__, "world_size": self.ranks.world_size, "engine": self.ranks.engine.value,
                 "ranks": every_rank}
        save_checkpoint(self.policy, self.optimizer, state, self.checkpoints, name, config.play_settings(), self.provenance,
                        keep=config.train.keep_checkpoints, engine_state=engine_state)

    def costs(self) -> dict:
        """What the run cost (CPU seconds, GPU seconds: wall time x GPUs) and, with a transfer
        benchmark played at the warm start and at the end, each score's paired change against the
        warm start per 1,000 env steps and per device-hour (GPU hours, else CPU hours)."""
        progress = self.progress
        gpus = self.ranks.world_size if torch.cuda.is_available() else 0
        costs = {"cpu_seconds": round(progress.cpu_seconds, 1), "gpu_seconds": round(progress.elapsed * gpus, 1)}
        if self.bench_warm is not None and self.bench_last is not None:
            device_hours = (costs["gpu_seconds"] or costs["cpu_seconds"]) / 3600
            costs["transfer"] = transfer_costs(self.bench_suite, self.bench_warm, self.bench_last, progress.env_steps,
                                               device_hours)
        return costs

    def finish(self) -> Path | None:
        """Close the worlds and logs and write summary.json; returns the run folder (None on the
        ranks after 0)."""
        self.bar.close()
        self.envs.close()
        if not self.ranks.is_main:
            return None
        self.metrics.close()
        summary = {
            "run_dir": str(self.run_dir.resolve()),
            "initial_checkpoint": self.initial_checkpoint,
            "final_checkpoint": str((self.checkpoints / "last").resolve()),
            "updates": self.progress.update,
            "env_steps": self.progress.env_steps,
            "episodes": self.progress.total_episodes,
            "train_seconds": round(self.progress.elapsed, 1),
            **self.costs(),
        }
        (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        return self.run_dir


class CpuClock:
    """CPU seconds this process used (user + system, all threads) since the last lap."""

    def __init__(self):
        self.last = process_cpu_seconds()

    def lap(self) -> float:
        now = process_cpu_seconds()
        spent, self.last = now - self.last, now
        return spent


ALL_INVALID_WARNING_UPDATES = 3
"""Updates in a row with every answer invalid before the trainer warns."""


def all_invalid_cause(records: list[StepRecord], max_new_tokens: int) -> str:
    """One sentence on why every answer of the last updates was invalid, from the last rollout."""
    cut_off = sum(r.cut_off for r in records) / len(records)
    if cut_off >= 0.5:
        return (f"every answer of the last {ALL_INVALID_WARNING_UPDATES} updates was invalid, and {cut_off:.0%} of them "
                f"reached generation.max_new_tokens={max_new_tokens} without an end token; raise generation.max_new_tokens "
                "(a model with random weights, such as vldac tiny-model's, answers invalidly whatever the limit).")
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


def mean_over_ranks(losses: list[dict]) -> dict:
    """One rank's update diagnostics from every rank's: means (None where a rank took no step),
    the largest first-ratio error, and the counts and flags every rank shares."""
    combined = dict(losses[0])
    for key in ("policy_loss", "value_loss", "kl", "clip_fraction"):
        values = [rank[key] for rank in losses]
        combined[key] = None if None in values else sum(values) / len(values)
    combined["first_ratio_error"] = max(rank["first_ratio_error"] for rank in losses)
    return combined


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def resume_config(run_dir: Path) -> TrainConfig:
    """The resolved config saved in a run folder."""
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} has no config.yaml; --resume takes a run folder written by vldac train.")
    return load_config(TrainConfig, yaml.safe_load(path.read_text()))
