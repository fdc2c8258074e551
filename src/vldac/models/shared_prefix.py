"""The prompt prefix every row of a batch shares (system text, instruction), computed once.

With the instruction before the frames (``env.instruction_first``), the rows of a batch begin
with the same tokens up to their first image. The scorer then runs that prefix once, for one
row, keeps its keys and values, repeats them over the batch and runs only each row's own part
(frames, answer) on top. Gradients flow through the repeated keys and values into the prefix's
single computation, so LoRA learns from every row's use of it exactly as without sharing (the
log-probs agree to float rounding; tests pin 1e-5).

Layout: the processor left-pads ([pad][prefix][rest]); here each row becomes
[prefix][pad][rest], the padding moved between the shared part and the row's own part, with the
positions computed from the valid tokens only (as the model does for left padding).

The rollout engine does the same for generation: Hugging Face ``generate`` continues from the
repeated prefix cache (its supported way to reuse a prompt cache), with the re-laid inputs.

Families: the Qwen-VL families (multimodal RoPE positions from ``get_rope_index``). Others run
the plain forward (``vldac.models.families.supports_shared_prefix`` is False), as does any batch
whose shared part is shorter than ``MIN_SHARED_TOKENS``, and any model under activation checkpointing (which turns
the cache off). Shapes: B rows, P prompt columns, S shared tokens.
"""

from __future__ import annotations

import torch
from transformers import PreTrainedModel

from vldac.models.families import backbone

MIN_SHARED_TOKENS = 16
"""A shorter shared part saves less than the second model call costs."""


def shared_prefix_length(prompts: dict) -> int:
    """S: the tokens every row begins with, before any row's first image token and leaving every
    row at least one token of its own (the last prompt token, where logits and value start)."""
    mask = prompts["attention_mask"].bool()
    rows = [ids[valid] for ids, valid in zip(prompts["input_ids"], mask)]
    types = [kinds[valid] for kinds, valid in zip(prompts["mm_token_type_ids"], mask)]
    limit = min(len(row) for row in rows) - 1
    for kinds in types:
        vision = (kinds != 0).nonzero()
        if len(vision):
            limit = min(limit, int(vision[0]))
    first = rows[0][:limit]
    length = limit
    for row in rows[1:]:
        differs = (row[:limit] != first).nonzero()
        if len(differs):
            length = min(length, int(differs[0]))
    return max(length, 0)


def align_after_prefix(prompts: dict, shared: int, pad_id: int) -> dict:
    """The prompt tensors re-laid [prefix][pad][rest] per row (images unchanged): input_ids,
    attention_mask and mm_token_type_ids [B, S + R], R the longest row's own part."""
    mask = prompts["attention_mask"].bool()
    lengths = mask.sum(dim=1)
    own = int(lengths.max()) - shared
    aligned = dict(prompts)
    for key, fill in (("input_ids", pad_id), ("attention_mask", 0), ("mm_token_type_ids", 0)):
        source = prompts[key]
        target = torch.full((source.shape[0], shared + own), fill, dtype=source.dtype, device=source.device)
        for row in range(source.shape[0]):
            valid = source[row][mask[row]]
            target[row, :shared] = valid[:shared]
            target[row, shared + own - (len(valid) - shared) :] = valid[shared:]
        aligned[key] = target
    return aligned


def shared_prefix_cache(model: PreTrainedModel, inputs: dict, shared: int):
    """The keys and values of the first ``shared`` columns of row 0 (text only: multimodal RoPE
    positions 0..S-1 in every axis), repeated over the batch; a transformers Cache of length S."""
    positions = torch.arange(shared, device=inputs["input_ids"].device).view(1, 1, shared).expand(3, 1, shared)
    prefix = backbone(model).model(
        input_ids=inputs["input_ids"][:1, :shared], attention_mask=inputs["attention_mask"][:1, :shared],
        position_ids=positions, use_cache=True,
    )
    cache = prefix.cache
    cache.batch_repeat_interleave(inputs["input_ids"].shape[0])
    return cache


def forward_with_shared_prefix(model: PreTrainedModel, inputs: dict, shared: int, logits_to_keep: int):
    """One forward of prompt + answer inputs [B, W] laid out [prefix][pad][rest][answer] whose first
    ``shared`` columns are the same in every row: the prefix runs once, its cache is repeated over
    the batch, the rest runs on top. Returns the model's output (logits of the last
    ``logits_to_keep`` positions)."""
    positions, _ = backbone(model).model.get_rope_index(
        inputs["input_ids"], mm_token_type_ids=inputs["mm_token_type_ids"],
        image_grid_thw=inputs.get("image_grid_thw"), attention_mask=inputs["attention_mask"],
    )
    cache = shared_prefix_cache(model, inputs, shared)
    own = {key: value[:, shared:] for key, value in inputs.items() if key in ("input_ids", "mm_token_type_ids")}
    images = {key: value for key, value in inputs.items() if key in ("pixel_values", "image_grid_thw", "mm_encoder_outputs")}
    return model(
        **own, **images, attention_mask=inputs["attention_mask"], position_ids=positions[:, :, shared:],
        cache=cache, logits_to_keep=logits_to_keep, use_cache=True,
    )
