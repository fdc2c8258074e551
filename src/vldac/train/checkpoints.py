"""Atomic checkpoints in Hugging Face layout, and everything a resumed run needs.

A checkpoint folder holds the adapter (or full model) and processor via save_pretrained,
``value_head.safetensors``, ``optimizer.pt`` (optimiser state, read back with
``torch.load(weights_only=True)``) and ``trainer_state.json`` (counters and random states).
It is written under a temporary name and renamed into place; ``checkpoints/last`` is a
symlink swapped atomically, so a run killed at any moment leaves a complete last checkpoint.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from peft import PeftModel, set_peft_model_state_dict
from safetensors.torch import load_file

from vldac.models.loading import VALUE_HEAD_FILE, save_policy, save_world_settings
from vldac.models.policy import VLMPolicy

TRAINER_STATE = "trainer_state.json"
OPTIMIZER_STATE = "optimizer.pt"


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
    world: dict[str, Any],
) -> Path:
    """Write checkpoint ``checkpoints/name`` atomically and point ``checkpoints/last`` at it.

    ``world`` (env_id, env_kwargs, history) is saved with it for ``vldac eval``."""
    final = checkpoints / name
    staging = checkpoints / f".{name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    save_policy(policy, staging)
    save_world_settings(staging, **world)
    torch.save({"optimizer": optimizer.state_dict()}, staging / OPTIMIZER_STATE)
    (staging / TRAINER_STATE).write_text(json.dumps({**state, "torch_rng": torch_rng_state()}))
    for file in staging.iterdir():
        with open(file, "rb") as handle:
            os.fsync(handle.fileno())
    shutil.rmtree(final, ignore_errors=True)
    os.replace(staging, final)
    link = checkpoints / ".last.partial"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(name)
    os.replace(link, checkpoints / "last")
    return final


def load_checkpoint(
    policy: VLMPolicy,
    optimizer: torch.optim.Optimizer,
    folder: Path,
) -> dict[str, Any]:
    """Restore weights, optimiser and torch's random state; returns the trainer state (the
    learning-rate schedule follows from its environment-step count)."""
    if isinstance(policy.model, PeftModel):
        set_peft_model_state_dict(policy.model, load_file(folder / "adapter_model.safetensors"))
    else:
        weights = {}
        for file in sorted(folder.glob("model*.safetensors")):
            weights.update(load_file(file))
        policy.model.load_state_dict(weights, strict=False)
    policy.value_head.load_state_dict(load_file(folder / VALUE_HEAD_FILE))
    saved = torch.load(folder / OPTIMIZER_STATE, weights_only=True)
    optimizer.load_state_dict(saved["optimizer"])
    state = json.loads((folder / TRAINER_STATE).read_text())
    restore_torch_rng_state(state.pop("torch_rng"))
    return state
