"""What vldac knows of VLM families: the model under a peft wrapper, and which families take its
performance paths (every other family runs the plain forward, which is always correct)."""

from __future__ import annotations

from peft import PeftModel
from transformers import PreTrainedModel

QWEN_VL_FAMILIES = ("qwen2_vl", "qwen2_5_vl")
"""Multimodal RoPE from ``get_rope_index`` and ``get_image_features(pixel_values, image_grid_thw)``
with per-image patch rows: what the shared prefix and the vision-feature cache rely on."""


def backbone(model: PreTrainedModel) -> PreTrainedModel:
    """The Hugging Face model itself, below any peft wrapper."""
    return model.get_base_model() if isinstance(model, PeftModel) else model


def model_type(model: PreTrainedModel) -> str:
    return backbone(model).config.model_type


def supports_shared_prefix(model: PreTrainedModel) -> bool:
    return model_type(model) in QWEN_VL_FAMILIES


def supports_vision_cache(model: PreTrainedModel) -> bool:
    return model_type(model) in QWEN_VL_FAMILIES
