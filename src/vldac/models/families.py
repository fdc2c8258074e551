"""What vldac knows of VLM families: the model under a peft wrapper, and which families take its
performance paths. Every other family runs the plain forward, which is always correct, and says
so (``declined_fast_paths``) rather than falling back silently."""

from __future__ import annotations

from peft import PeftModel
from transformers import PreTrainedModel

QWEN_VL_FAMILIES = ("qwen2_vl", "qwen2_5_vl")
"""Multimodal RoPE from ``get_rope_index`` and ``get_image_features(pixel_values, image_grid_thw)``
with per-image patch rows: what the shared prefix and the vision-feature cache rely on."""

FAST_PATH_DECLINED = {
    "qwen3_vl": "its DeepStack vision features enter several decoder layers, which neither the cached "
                "features nor the shared-prefix forward carry",
    "gemma3": "its image tokens attend to each other bidirectionally (token_type_ids), which the "
              "shared-prefix forward does not rebuild, and its image features are not cached per frame",
    "idefics3": "its pixel batch is padded per row (pixel_attention_mask), not laid out per frame",
    "llava_onevision": "its image tokens per frame depend on how many frames a prompt holds",
    "internvl": "its image features are not cached per frame by vldac yet",
}
"""Why a family runs without the shared prompt prefix and the vision-feature cache."""


def backbone(model: PreTrainedModel) -> PreTrainedModel:
    """The Hugging Face model itself, below any peft wrapper."""
    return model.get_base_model() if isinstance(model, PeftModel) else model


def model_type(model: PreTrainedModel) -> str:
    return backbone(model).config.model_type


def supports_shared_prefix(model: PreTrainedModel) -> bool:
    return model_type(model) in QWEN_VL_FAMILIES


def supports_vision_cache(model: PreTrainedModel) -> bool:
    return model_type(model) in QWEN_VL_FAMILIES


def forget_position_offsets(model: PreTrainedModel) -> None:
    """Drop the multimodal RoPE offsets (``rope_deltas``) a Qwen-VL model keeps from its last
    generation: it reuses them for a prompt continued from a cache whose new tokens hold no image
    (the shared-prefix path with text-only rows), where they belong to another batch."""
    inner = getattr(backbone(model), "model", None)
    if getattr(inner, "rope_deltas", None) is not None:
        inner.rope_deltas = None


def declined_fast_paths(model: PreTrainedModel) -> str | None:
    """One sentence on why ``model`` runs the plain forward, or None for a family that takes the
    fast paths."""
    family = model_type(model)
    if family in QWEN_VL_FAMILIES:
        return None
    reason = FAST_PATH_DECLINED.get(family, "vldac has not been taught its image layout")
    return (f"{family} runs without the shared prompt prefix and the vision-feature cache ({reason}); "
            "results are exact, only slower.")
