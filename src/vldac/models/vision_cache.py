"""Vision features computed once per frame.

With LoRA on the language model the vision tower is frozen, so a frame's image features never
change during a run. The cache keeps them by the frame's content (a hash of its pixels, computed
when the prompt is encoded) and hands the model pre-computed features (transformers'
``mm_encoder_outputs``) instead of pixels: the vision tower runs only on frames not seen before,
once, whichever of the rollout, the bootstrap values, the PPO epochs or the reference pass meets
them first. A frame history of k frames then costs one frame's vision work per step, not k per
forward.

Families: the Qwen-VL families (``get_image_features(pixel_values, image_grid_thw)``, per-image
patch rows of ``image_grid_thw.prod(-1)``). Others, and any model whose vision tower trains, run
the vision tower every time. Shapes: N images, F patch rows, T image tokens, H hidden size.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np
import torch
from transformers import PreTrainedModel
from transformers.modeling_outputs import BaseModelOutputWithPooling

from vldac.models.families import backbone

FRAME_KEYS = "frame_keys"
"""The prompts' entry holding one content key per image, in the processor's image order."""


def frame_key(frame: np.ndarray) -> str:
    return hashlib.blake2b(frame.tobytes(), digest_size=16).hexdigest() + str(frame.shape)


class VisionFeatureCache:
    """Image features [T_i, H] of the last ``capacity`` frames met, by frame key (least recently
    used dropped first)."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.features: OrderedDict[str, torch.Tensor] = OrderedDict()
        self.misses = 0

    @torch.no_grad()
    def model_inputs(self, model: PreTrainedModel, prompts: dict) -> dict:
        """``prompts`` with ``pixel_values`` replaced by ``mm_encoder_outputs`` built from the cache;
        the vision tower runs once on the frames it does not hold."""
        keys = prompts[FRAME_KEYS]
        inputs = {key: value for key, value in prompts.items() if key not in (FRAME_KEYS, "pixel_values")}
        if not keys:
            return inputs
        grid = prompts["image_grid_thw"]
        first_seen = {key: index for index, key in reversed(list(enumerate(keys)))}
        missing = [index for key, index in first_seen.items() if key not in self.features]
        self.misses += len(missing)
        if missing:
            rows = torch.split(prompts["pixel_values"], grid.prod(-1).tolist())
            encoded = backbone(model).model.get_image_features(
                torch.cat([rows[i] for i in missing]), grid[missing], return_dict=True
            ).pooler_output
            for index, features in zip(missing, encoded, strict=True):
                self.features[keys[index]] = features.detach()
        pooled = tuple(self.features[key] for key in keys)
        for key in keys:
            self.features.move_to_end(key)
        while len(self.features) > self.capacity:
            self.features.popitem(last=False)
        inputs["mm_encoder_outputs"] = {"image": BaseModelOutputWithPooling(pooler_output=pooled)}
        return inputs


def vision_inputs(model: PreTrainedModel, prompts: dict, cache: VisionFeatureCache | None) -> dict:
    """The model's inputs from encoded prompts: cached image features in place of pixels where
    there is a cache, else the pixels (the frame keys dropped either way)."""
    if cache is not None:
        return cache.model_inputs(model, prompts)
    return {key: value for key, value in prompts.items() if key != FRAME_KEYS}
