"""The last decoder layer computed only where its output is read.

A causal VLM's last decoder layer feeds nothing but the final norm and the output embedding, and
vldac reads them at a few positions only: the scorer at the last prompt token and the answer's
tokens (the last ``logits_to_keep`` columns), a generation's prefill at its last column. Every
layer's keys and values, the last layer's included, come from the layer's input, so no position's
attention changes when the last layer's attention output projection and its MLP run only on the
read columns. Elsewhere their outputs are zeros, which nothing reads (the layer's output there is
its input plus its attention, without the projection).

This saves (1 - kept / columns) of those two parts of the last layer: about 15% of a forward on a
4-layer model with 33 of 101 columns read. Families whose last layer has no ``mlp`` and
``self_attn.o_proj``, and layers under activation checkpointing (their recomputation in the
backward runs after the block has ended), run unchanged. Shapes: B rows, W columns, K kept
columns, H hidden size.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel

from vldac.models.families import backbone


KEPT_SHARE_THAT_PAYS = 0.5
"""Above this share of kept columns the slicing, copies and padding cost about what the skipped
columns would (measured on the built-in tiny model, where 24 of about 40 columns are read), and
the layer runs whole."""


def last_layer_parts(model: PreTrainedModel) -> list[nn.Module]:
    """The last decoder layer's MLP and attention output projection (position-wise modules whose
    outputs feed only the layer's output), or [] where the family names them otherwise or the
    layer is recomputed in the backward (activation checkpointing)."""
    layers = getattr(backbone(model).get_decoder(), "layers", None)
    if not layers:
        return []
    last = layers[-1]
    if getattr(last, "gradient_checkpointing", False):
        return []
    mlp = getattr(last, "mlp", None)
    projection = getattr(getattr(last, "self_attn", None), "o_proj", None)
    return [mlp, projection] if mlp is not None and projection is not None else []


@contextmanager
def last_layer_only_at(model: PreTrainedModel, keep: int) -> Iterator[None]:
    """Within the block, the last decoder layer's MLP and attention output projection take only
    the last ``keep`` columns of their input [B, W, H] (when they are at most half of W) and
    return [B, W, H] with zeros before them. Exact at those columns, forward and backward, under
    peft and the engines that wrap the scorer."""
    widths: list[int] = []

    def take_kept_columns(module: nn.Module, args: tuple) -> tuple:
        hidden = args[0]
        widths.append(hidden.shape[1])
        if keep > hidden.shape[1] * KEPT_SHARE_THAT_PAYS:
            return args
        return (hidden[:, -keep:].contiguous(), *args[1:])

    def pad_to_width(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        skipped = widths.pop() - output.shape[1]
        return F.pad(output, (0, 0, skipped, 0)) if skipped else output

    handles = []
    for part in last_layer_parts(model):
        handles.append(part.register_forward_pre_hook(take_kept_columns))
        handles.append(part.register_forward_hook(pad_to_width))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
