"""Prompts: frame histories and instructions -> the model's left-padded inputs.

Image placeholders stay structured (``{"type": "image"}`` in the chat messages) until the model's
own processor expands them, so every family gets as many image tokens as its image features.

The processor's image step is the costliest part of encoding (about 7 ms per 308x308 frame on two
cores), and PPO meets each observation several times: at the rollout, in every epoch and in the
reference pass. ``PromptEncoder`` remembers the token rows of recent prompts, so that where every
frame's image features are in the vision cache a prompt met before is rebuilt from its tokens,
without pixels (the model reads the cached features instead).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from PIL import Image
from transformers import BatchFeature, ProcessorMixin

from vldac.agents.base import build_messages
from vldac.models.vision_cache import FRAME_KEYS, VisionFeatureCache, frame_key

IMAGE_ROWS_KEY = "image_grid_thw"
"""The one per-image tensor a remembered prompt keeps (the Qwen-VL families' patch grid)."""


def encode_prompts(
    processor: ProcessorMixin,
    frame_histories: list[list[np.ndarray]],
    instructions: list[str],
    instruction_first: bool = False,
    frame_keys: list[str] | None = None,
) -> BatchFeature:
    """One chat turn per (frames oldest first, instruction), tokenised and left-padded, so column
    P-1 is the last prompt token of every row: input_ids / attention_mask [B, P] and the
    processor's image tensors, and ``frame_keys``: one content key per image, in order (for the
    vision-feature cache; given as ``frame_keys`` when already computed). ``instruction_first``
    puts the text before the frames (the layout whose shared part the scorer computes once)."""
    texts, images = [], []
    for frames, instruction in zip(frame_histories, instructions, strict=True):
        messages = build_messages(instruction, len(frames), instruction_first)
        texts.append(processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))
        images.append([Image.fromarray(frame) for frame in frames])
    processor.tokenizer.padding_side = "left"
    batch = processor(text=texts, images=images, return_tensors="pt", padding=True)
    batch[FRAME_KEYS] = frame_keys or [frame_key(frame) for frames in frame_histories for frame in frames]
    return batch


def encode_conversations(
    processor: ProcessorMixin, conversations: list[list[dict]], images: list[list[np.ndarray]]
) -> BatchFeature:
    """Multi-turn chats (messages whose content holds ``{"type": "image"}`` placeholders, one per
    image of the row, in order) tokenised and left-padded like ``encode_prompts``."""
    texts = [processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
             for messages in conversations]
    processor.tokenizer.padding_side = "left"
    pictures = [[Image.fromarray(image) for image in row] for row in images]
    batch = processor(text=texts, images=pictures if any(pictures) else None, return_tensors="pt", padding=True)
    batch[FRAME_KEYS] = [frame_key(image) for row in images for image in row]
    return batch


def prompt_length(processor: ProcessorMixin, messages: list[dict], images: list[np.ndarray]) -> int:
    """Tokens of one conversation's prompt, image tokens included."""
    return int(encode_conversations(processor, [messages], [images])["input_ids"].shape[1])


def split_rows(batch: BatchFeature, images_per_row: list[int]) -> list[dict] | None:
    """Each row of an encoded batch without padding or pixels: its per-token tensors [P_b], its
    ``image_grid_thw`` rows [n_b, 3] and frame keys. None for a batch holding anything else (a
    family whose image tensors are laid out otherwise)."""
    shape = batch["input_ids"].shape
    token_keys = [key for key, value in batch.items() if torch.is_tensor(value) and value.shape == shape]
    if set(batch) - {*token_keys, IMAGE_ROWS_KEY, FRAME_KEYS, "pixel_values"}:
        return None
    lengths = batch["attention_mask"].sum(1).tolist()
    image_rows = torch.split(batch[IMAGE_ROWS_KEY], images_per_row) if IMAGE_ROWS_KEY in batch else [None] * shape[0]
    starts = np.cumsum([0, *images_per_row]).tolist()
    rows = []
    for row, (length, images) in enumerate(zip(lengths, image_rows, strict=True)):
        tokens = {key: batch[key][row, shape[1] - length :] for key in token_keys}
        rows.append({"tokens": tokens, IMAGE_ROWS_KEY: images, FRAME_KEYS: batch[FRAME_KEYS][starts[row] : starts[row + 1]]})
    return rows


def collate_rows(rows: list[dict], pad_id: int) -> BatchFeature:
    """The left-padded batch of rows from ``split_rows``, as the processor pads it (input_ids with
    ``pad_id``, every other per-token tensor with 0), without ``pixel_values``."""
    length = max(len(row["tokens"]["input_ids"]) for row in rows)
    batch = {}
    for key in rows[0]["tokens"]:
        pad = pad_id if key == "input_ids" else 0
        batch[key] = torch.stack([
            torch.nn.functional.pad(row["tokens"][key], (length - len(row["tokens"][key]), 0), value=pad) for row in rows
        ])
    if rows[0][IMAGE_ROWS_KEY] is not None:
        batch[IMAGE_ROWS_KEY] = torch.cat([row[IMAGE_ROWS_KEY] for row in rows])
    batch[FRAME_KEYS] = [key for row in rows for key in row[FRAME_KEYS]]
    return BatchFeature(batch)


class PromptEncoder:
    """``encode_prompts`` with the token rows of the last ``capacity`` prompts remembered, by
    (frame keys, instruction). A batch whose every row is remembered and whose every frame is in
    ``vision_cache`` is collated from those rows, with no image processing; any other batch is
    encoded by the processor (and its rows remembered). Without a vision cache nothing is
    remembered: the pixels are needed every time."""

    def __init__(
        self, processor: ProcessorMixin, instruction_first: bool, vision_cache: VisionFeatureCache | None, capacity: int
    ):
        self.processor = processor
        self.instruction_first = instruction_first
        self.vision_cache = vision_cache
        self.capacity = capacity if vision_cache is not None else 0
        self.rows: OrderedDict[tuple, dict] = OrderedDict()

    def __call__(self, frame_histories: list[list[np.ndarray]], instructions: list[str]) -> BatchFeature:
        if not self.capacity:
            return encode_prompts(self.processor, frame_histories, instructions, self.instruction_first)
        keys = [
            (tuple(frame_key(frame) for frame in frames), instruction)
            for frames, instruction in zip(frame_histories, instructions, strict=True)
        ]
        features = self.vision_cache.features
        if all(key in self.rows and all(frame in features for frame in key[0]) for key in keys):
            for key in keys:
                self.rows.move_to_end(key)
            return collate_rows([self.rows[key] for key in keys], self.processor.tokenizer.pad_token_id)
        batch = encode_prompts(self.processor, frame_histories, instructions, self.instruction_first,
                               frame_keys=[frame for frames, _ in keys for frame in frames])
        rows = split_rows(batch, [len(frames) for frames in frame_histories])
        for key, row in zip(keys, rows or [], strict=False):
            self.rows[key] = row
            self.rows.move_to_end(key)
        while len(self.rows) > self.capacity:
            self.rows.popitem(last=False)
        return batch
