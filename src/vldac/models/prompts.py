"""Prompts: frame histories and instructions -> the model's left-padded inputs.

Image placeholders stay structured (``{"type": "image"}`` in the chat messages) until the model's
own processor expands them, so every family gets as many image tokens as its image features.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from transformers import BatchFeature, ProcessorMixin

from vldac.agents.base import build_messages
from vldac.models.vision_cache import FRAME_KEYS, frame_key


def encode_prompts(
    processor: ProcessorMixin,
    frame_histories: list[list[np.ndarray]],
    instructions: list[str],
    instruction_first: bool = False,
) -> BatchFeature:
    """One chat turn per (frames oldest first, instruction), tokenised and left-padded, so column
    P-1 is the last prompt token of every row: input_ids / attention_mask [B, P] and the
    processor's image tensors, and ``frame_keys``: one content key per image, in order (for the
    vision-feature cache). ``instruction_first`` puts the text before the frames (the layout whose
    shared part the scorer computes once)."""
    texts, images = [], []
    for frames, instruction in zip(frame_histories, instructions, strict=True):
        messages = build_messages(instruction, len(frames), instruction_first)
        texts.append(processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))
        images.append([Image.fromarray(frame) for frame in frames])
    processor.tokenizer.padding_side = "left"
    batch = processor(text=texts, images=images, return_tensors="pt", padding=True)
    batch[FRAME_KEYS] = [frame_key(frame) for frames in frame_histories for frame in frames]
    return batch
