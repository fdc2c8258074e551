"""Atomic checkpoints in Hugging Face layout, and everything a resumed run needs.

A checkpoint folder holds the adapter (or full model) and processor via save_pretrained,
``value_head.safetensors``, ``optimizer.pt`` (optimiser state, read back with
``torch.load(weights_only=True)``), ``trainer_state.json`` (counters, and each rank's random states
and episodes in flight), ``provenance.json`` (what produced it: see vldac.provenance) and
``manifest.json`` (every file's size and SHA-256, checked when the checkpoint is read back).
It is written under a temporary name and renamed into place; ``checkpoints/last`` is a
symlink swapped atomically, so a run killed at any moment leaves a complete last checkpoint.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
from pathlib import Path
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from peft import PeftModel, set_peft_model_state_dict
from safetensors.torch import load_file

from vldac.config import PlaySettings
from vldac.models.loading import TRAINER_STATE, VALUE_HEAD_FILE, load_base_model, save_policy, save_play_settings
from vldac.models.manifest import MANIFEST, manifest_problem, unreadable_file, write_manifest
from vldac.models.policy import VLMPolicy
from vldac.provenance import write_provenance

OPTIMIZER_STATE = "optimizer.pt"
ENGINE_STATE = "engine_state"
"""Under FSDP and DeepSpeed, the engine's own checkpoint of its sharded weights and optimiser
state (every rank's shards, accelerate's save_state), in place of optimizer.pt."""


class CheckpointNotWritten(RuntimeError):
    """The file system refused a checkpoint (a full disk, say); the previous one is intact."""


class NonFiniteWeights(RuntimeError):
    """A checkpoint was about to be written from NaN or infinite weights."""


def torch_rng_state() -> str:
    return base64.b64encode(torch.get_rng_state().numpy().tobytes()).decode()


def restore_torch_rng_state(encoded: str) -> None:
    torch.set_rng_state(torch.from_numpy(np.frombuffer(base64.b64decode(encoded), dtype=np.uint8).copy()))


def save_checkpoint(
    policy: VLMPolicy,
    optimizer: torch.optim.Optimizer,
    state: dict[str, Any],
    checkpoints: Path,
    name: str,
    play_settings: PlaySettings,
    provenance: dict[str, Any],
    keep: int | None = None,
    engine_state: Path | None = None,
) -> Path:
    """Write checkpoint ``checkpoints/name`` atomically, with a manifest of its files' sizes and
    checksums, and point ``checkpoints/last`` at it; with ``keep``, only the newest ``keep``
    checkpoints stay.

    ``play_settings`` (world, generation settings, dtype) are saved with it for ``vldac eval``;
    ``provenance`` (vldac.provenance's block) as provenance.json.
    ``engine_state``: a folder the engine wrote its sharded state to, moved into the checkpoint
    (and covered by its manifest) instead of writing optimizer.pt.
    Refuses (``NonFiniteWeights``, nothing written) when a trained weight is not finite."""
    trained = [(n, p) for n, p in policy.model.named_parameters() if p.requires_grad]
    trained += [(f"value_head.{n}", p) for n, p in policy.value_head.named_parameters()]
    broken = next((n for n, p in trained if not torch.isfinite(p).all()), None)
    if broken is not None:
        raise NonFiniteWeights(
            f"Not writing checkpoint {name}: weight {broken} is not finite; the run stopped here, "
            f"and checkpoints/last still points at the last finite weights."
        )
    final = checkpoints / name
    staging = checkpoints / f".{name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        save_policy(policy, staging)
        save_play_settings(staging, play_settings)
        if engine_state is None:
            torch.save({"optimizer": optimizer.state_dict()}, staging / OPTIMIZER_STATE)
        else:
            os.replace(engine_state, staging / ENGINE_STATE)
        (staging / TRAINER_STATE).write_text(json.dumps(state))
        write_provenance(staging, provenance)
        write_manifest(staging)
        for file in staging.rglob("*"):
            if file.is_file():
                with open(file, "rb") as handle:
                    os.fsync(handle.fileno())
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        free = shutil.disk_usage(checkpoints).free / 2**20
        raise CheckpointNotWritten(
            f"Could not write checkpoint {name} in {checkpoints} ({error.strerror or error}; {free:,.0f} MiB free there); "
            "checkpoints/last still points at the previous checkpoint: make room, then vldac train --resume the run."
        ) from None
    shutil.rmtree(final, ignore_errors=True)
    os.replace(staging, final)
    link = checkpoints / ".last.partial"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(name)
    os.replace(link, checkpoints / "last")
    if keep is not None:
        for old in saved_checkpoints(checkpoints)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def saved_checkpoints(checkpoints: Path) -> list[Path]:
    """The checkpoint folders of a run, oldest first (``update_00001``, ...)."""
    return sorted(path for path in checkpoints.glob("update_*") if path.is_dir())


def newest_intact_checkpoint(checkpoints: Path, accept_unverified: bool = False) -> Path | None:
    """The checkpoint a resumed run continues from: ``last`` when it is intact, else the newest
    intact one (what was wrong with the others is printed); None when the run has no checkpoint
    yet (no checkpoint folder, no ``last`` and no summary of a finished run); one sentence when it
    had some and none is intact (``checkpoint_problem``)."""
    last = checkpoints / "last"
    candidates = [last.resolve()] if last.is_symlink() else []
    candidates += [path for path in reversed(saved_checkpoints(checkpoints)) if path not in candidates]
    damaged = [] if last.is_symlink() or not last.exists() else [
        f"{last} is not a link to a checkpoint (vldac writes it as one)"]
    for candidate in candidates:
        problem = checkpoint_problem(candidate, accept_unverified)
        if problem is None:
            if damaged:
                print(f"Resuming from {candidate.name}: {'; '.join(damaged)}.", file=sys.stderr)
            return candidate
        damaged.append(problem)
    if not candidates and not damaged and not (checkpoints.parent / "summary.json").exists():
        return None  # the run stopped before its first checkpoint
    raise FileNotFoundError(f"No intact checkpoint in {checkpoints} ({'; '.join(damaged)}); start the run again.")


def checkpoint_problem(folder: Path, accept_unverified: bool = False) -> str | None:
    """Why a run's checkpoint cannot be resumed (None when it can): a file its manifest does not
    vouch for, no manifest at all (unverified: its files cannot be checked, unless
    ``accept_unverified``), or a file whose content cannot be read (an empty or cut safetensors,
    optimiser state or trainer state, even with a manifest rewritten to match)."""
    problem = manifest_problem(folder)
    if problem is not None:
        return problem
    if not (folder / MANIFEST).is_file() and not accept_unverified:
        return (f"{folder} has no {MANIFEST}, so its files cannot be verified "
                "(vldac train --resume RUN --accept-unverified resumes such a checkpoint anyway)")
    return unreadable_file(folder)


def load_checkpoint(
    policy: VLMPolicy,
    optimizer: torch.optim.Optimizer,
    folder: Path,
    load_engine_state: Callable[[Path], None] | None = None,
) -> dict[str, Any]:
    """Restore weights and optimiser; returns the trainer state (the learning-rate schedule
    follows from its environment-step count; the random states are the trainer's to restore).
    A checkpoint with an engine state is restored by ``load_engine_state`` (every rank its shards)."""
    folder = folder.resolve()
    problem = manifest_problem(folder)
    if problem is not None:
        raise FileNotFoundError(f"Checkpoint {folder} is damaged: {problem}.")
    if (folder / ENGINE_STATE).is_dir():
        if load_engine_state is None:
            raise ValueError(f"Checkpoint {folder} holds a sharded FSDP / DeepSpeed state; resume it with "
                             "accelerate launch and the same config file and number of processes.")
        load_engine_state(folder / ENGINE_STATE)
        return read_trainer_state(folder)
    if isinstance(policy.model, PeftModel):
        result = set_peft_model_state_dict(policy.model, load_file(folder / "adapter_model.safetensors"))
        mismatched = result.unexpected_keys + [key for key in result.missing_keys if "lora_" in key]
        if mismatched:
            raise ValueError(
                f"The adapter in {folder} does not fit this run's LoRA settings (weights such as {mismatched[0]} "
                "are missing or unexpected); resume with the config the run was started with."
            )
    else:
        # save_pretrained writes the family's on-disk key names, which differ from the module's own
        # (e.g. model.layers.* for model.language_model.layers.*): from_pretrained maps them back.
        # The trained copy is loaded on the CPU for the copy, so resuming costs one model's worth of
        # host memory for a moment, and no accelerator memory.
        trained = load_base_model(folder, next(policy.model.parameters()).dtype)
        policy.model.load_state_dict(trained.state_dict(), strict=True)
        del trained
    policy.value_head.load_state_dict(load_file(folder / VALUE_HEAD_FILE))
    saved = torch.load(folder / OPTIMIZER_STATE, weights_only=True)
    optimizer.load_state_dict(saved["optimizer"])
    return read_trainer_state(folder)


def read_trainer_state(folder: Path) -> dict[str, Any]:
    """A checkpoint's trainer state (counters, and each rank's random states and episodes)."""
    return json.loads((folder / TRAINER_STATE).read_text())
