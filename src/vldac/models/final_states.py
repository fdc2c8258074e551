"""The last layer's states where the value head reads them, without asking for every layer's.

The output embedding (lm_head) of every causal VLM takes the last layer's normalised hidden
states at the positions the model turns into logits; a forward pre-hook on it sees them. This
works the same for every family, under peft, and under activation checkpointing (lm_head is not
recomputed). Shapes: B rows, T kept positions, H hidden size.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from transformers import PreTrainedModel


@contextmanager
def captured_final_states(model: PreTrainedModel, prefill_only: bool = False) -> Iterator[list[torch.Tensor]]:
    """Collect the lm_head's input [B, T, H] on each forward call; with ``prefill_only`` (a
    generation) only the first call's last position [B, H], copied so that the prefill's
    activations are not held for the whole generation."""
    captured: list[torch.Tensor] = []

    def keep(module, args):
        if not prefill_only:
            captured.append(args[0])
        elif not captured:
            captured.append(args[0][:, -1].clone())

    handle = model.get_output_embeddings().register_forward_pre_hook(keep)
    try:
        yield captured
    finally:
        handle.remove()
