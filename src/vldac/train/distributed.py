"""The ranks of a run: one process per device through Hugging Face accelerate, and the few
collectives the trainer needs.

``vldac train`` alone is one rank, without a process group: every collective here returns its
input. ``accelerate launch [--config_file F] -m vldac train ...`` (GPUs: DDP, FSDP, DeepSpeed) or
``torchrun --nproc_per_node K -m vldac train ...`` (CPUs, gloo) starts one process per device;
each runs the same loop on its own environments, and accelerate's engine (DDP, FSDP or DeepSpeed)
wraps the scorer, so the gradients of the LoRA adapters and the value head are all-reduced by
the engine.
"""

from __future__ import annotations

import importlib.util
import os
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator, DistributedDataParallelKwargs
from accelerate.utils import DistributedType, broadcast_object_list, gather_object

from vldac.config import ConfigError
from vldac.models.loading import resolve_device

SHARDING_ENGINES = (DistributedType.FSDP, DistributedType.DEEPSPEED)
"""Engines that shard the optimiser state (and, FSDP and ZeRO-3, the weights) across ranks:
their checkpoints go through the engine's own save_state / load_state."""


def check_engine_installed() -> None:
    """One sentence when the accelerate config names an engine whose package is missing."""
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true" and importlib.util.find_spec("deepspeed") is None:
        raise ConfigError("This accelerate config uses DeepSpeed, which is not installed; "
                          "pip install 'vldac[deepspeed]' (or pick a DDP or FSDP config).")


class Ranks:
    """This process's place among the run's processes (``rank`` of ``world_size``), its device,
    and the collectives of one update. Rank 0 (``is_main``) alone writes files."""

    def __init__(self, model_device: str):
        check_engine_installed()
        cpu = model_device == "cpu" or not torch.cuda.is_available()
        # The value-head warm-up updates train no adapter: DDP must expect unused parameters.
        handlers = [DistributedDataParallelKwargs(find_unused_parameters=True)]
        self.accelerator = Accelerator(cpu=cpu, kwargs_handlers=handlers, device_placement=False)
        self.rank = self.accelerator.process_index
        self.world_size = self.accelerator.num_processes
        self.is_main = self.accelerator.is_main_process
        self.device = resolve_device(model_device) if self.world_size == 1 else self.accelerator.device

    @property
    def engine(self) -> DistributedType:
        return self.accelerator.distributed_type

    @property
    def shards_state(self) -> bool:
        """Whether the engine shards the optimiser state, so checkpoints hold its own sharded state."""
        return self.engine in SHARDING_ENGINES

    def save_engine_state(self, folder: Path) -> None:
        """Every rank writes its shards of the wrapped scorer and optimiser to ``folder``."""
        self.accelerator.save_state(str(folder))

    def load_engine_state(self, folder: Path) -> None:
        self.accelerator.load_state(str(folder))

    def prepare(self, scorer: torch.nn.Module, optimizer: torch.optim.Optimizer):
        """The scorer (LoRA adapters or full weights, and the value head: one module) and its
        optimiser, wrapped by the engine."""
        return self.accelerator.prepare(scorer, optimizer)

    def backward(self, loss: torch.Tensor) -> None:
        self.accelerator.backward(loss)

    def clip_grad_norm_(self, parameters: list[torch.nn.Parameter], max_norm: float) -> torch.Tensor | None:
        """Clip the gradient of ``parameters`` to ``max_norm`` over all ranks' shards; returns the
        norm before clipping, or None under DeepSpeed, which clips (its config's
        gradient_clipping) and steps inside ``backward``."""
        return self.accelerator.clip_grad_norm_(parameters, max_norm)

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sums of ``values`` over the ranks (float64)."""
        if self.world_size == 1:
            return list(values)
        total = self.accelerator.reduce(torch.tensor(values, dtype=torch.float64, device=self.device), "sum")
        return total.tolist()

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` holds on one of them (a decision all ranks share)."""
        return self.sum([float(flag)])[0] > 0

    def cat(self, tensor: torch.Tensor) -> torch.Tensor:
        """The ranks' tensors of one shape, concatenated along dim 0 in rank order, on every rank."""
        if self.world_size == 1:
            return tensor
        return self.accelerator.gather(tensor.to(self.device)).cpu()

    def gather(self, value) -> list:
        """Every rank's ``value`` (any picklable object), in rank order, on every rank."""
        if self.world_size == 1:
            return [value]
        return gather_object([value])

    def broadcast(self, value):
        """Rank 0's ``value``, on every rank."""
        if self.world_size == 1:
            return value
        return broadcast_object_list([value], from_process=0)[0]

    @contextmanager
    def inference(self, module: torch.nn.Module):
        """A context for generation and the no-gradient passes (bootstrap values, the reference,
        validation) and for saving weights, computed as the engine's training forward computes:
        under its mixed-precision autocast, with ``module``'s weights whole on every rank, gathered
        ONCE (not per token) under FSDP and DeepSpeed ZeRO-3; nothing to gather under DDP or on one
        rank."""
        with self._whole_weights(module), self.accelerator.autocast():
            yield

    def _whole_weights(self, module: torch.nn.Module):
        if self.engine == DistributedType.DEEPSPEED and self.accelerator.state.deepspeed_plugin.zero_stage == 3:
            import deepspeed

            return deepspeed.zero.GatheredParameters(list(module.parameters()))
        if self.engine == DistributedType.FSDP:
            from torch.distributed.fsdp import FullyShardedDataParallel

            return FullyShardedDataParallel.summon_full_params(module, writeback=False)
        return nullcontext()

    def end(self) -> None:
        """Leave the process group (every rank, also after an error), so the launcher exits 0."""
        self.accelerator.end_training()


def rank_random_streams(seed: int, rank: int, world_size: int) -> tuple[np.random.Generator, np.random.Generator, int | None]:
    """(episode-seed stream, mini-batch stream, torch seed for sampling) of one rank, reproducible
    from ``config.seed`` and the rank. One process keeps the streams vldac has always used (and
    torch's state as the policy's construction left it: None)."""
    if world_size == 1:
        return np.random.default_rng(seed), np.random.default_rng(seed + 1), None
    episodes, minibatches, sampling = np.random.SeedSequence(seed, spawn_key=(rank,)).spawn(3)
    return np.random.default_rng(episodes), np.random.default_rng(minibatches), int(sampling.generate_state(1)[0])


def rank_seed_range(seed_limit: int, rank: int, world_size: int) -> tuple[int, int]:
    """[start, stop) of the episode seeds rank ``rank`` draws from: disjoint slices of
    [0, seed_limit), the whole range for one process."""
    span = seed_limit // world_size
    return rank * span, (rank + 1) * span
