"""What vldac knows of each VLM family (a transformers model_type), one record per family in one
table: how ``vldac tiny-model`` builds a random one (its chat tokens: image markers, end of turn,
template), the processor it is assembled with where the stock one needs torchvision, and whether
it takes the performance paths (the shared prompt prefix and the vision-feature cache) or why not.
Loading, the engine, the scorer, ``vldac tiny-model`` and the test matrix read this table; a family
added here is picked up by all of them. Every family not in it runs the plain forward, which is
always correct, and says so (``declined_fast_paths``) rather than falling back silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from peft import PeftModel
from transformers import (
    AutoConfig,
    Gemma3ForConditionalGeneration,
    Idefics3ForConditionalGeneration,
    InternVLForConditionalGeneration,
    LlavaOnevisionForConditionalGeneration,
    PreTrainedModel,
    ProcessorMixin,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2VLForConditionalGeneration,
    Qwen3VLForConditionalGeneration,
)

from vldac.models.processor import (
    VideoFreeInternVLProcessor,
    VideoFreeLlavaOnevisionProcessor,
    VideoFreeProcessor,
    VideoFreeQwen2_5_VLProcessor,
    VideoFreeQwen2VLProcessor,
    VideoFreeQwen3VLProcessor,
    load_processor,
)
from vldac.models.tiny import (
    GEMMA3_TOKENS,
    IDEFICS3_TOKENS,
    INTERNVL_TOKENS,
    LLAVA_ONEVISION_TOKENS,
    QWEN_TOKENS,
    TinyRecipe,
    TinyVLMSpec,
    build_from_recipe,
    tiny_gemma3,
    tiny_idefics3,
    tiny_internvl,
    tiny_llava_onevision,
    tiny_qwen3_vl,
    tiny_qwen_vl,
)


@dataclass(frozen=True)
class Family:
    """One VLM family. tiny: how ``vldac tiny-model`` builds a random one. video_free_processor: the
    class that assembles its processor without a video processor (None: AutoProcessor's own).
    declined_fast_paths: None when it takes the shared prompt prefix and the vision-feature cache
    (multimodal RoPE from ``get_rope_index`` and per-image patch rows from
    ``get_image_features(pixel_values, image_grid_thw)``, as the Qwen-VL families have), else why not."""

    model_type: str
    tiny: TinyRecipe
    video_free_processor: type[VideoFreeProcessor] | None = None
    declined_fast_paths: str | None = None


FAMILIES: dict[str, Family] = {family.model_type: family for family in (
    Family("qwen2_vl", TinyRecipe(QWEN_TOKENS, tiny_qwen_vl, Qwen2VLForConditionalGeneration), VideoFreeQwen2VLProcessor),
    Family("qwen2_5_vl", TinyRecipe(QWEN_TOKENS, tiny_qwen_vl, Qwen2_5_VLForConditionalGeneration),
           VideoFreeQwen2_5_VLProcessor),
    Family("qwen3_vl", TinyRecipe(QWEN_TOKENS, tiny_qwen3_vl, Qwen3VLForConditionalGeneration), VideoFreeQwen3VLProcessor,
           "its DeepStack vision features enter several decoder layers, which neither the cached features nor the "
           "shared-prefix forward carry"),
    Family("gemma3", TinyRecipe(GEMMA3_TOKENS, tiny_gemma3, Gemma3ForConditionalGeneration), None,
           "its image tokens attend to each other bidirectionally (token_type_ids), which the shared-prefix forward "
           "does not rebuild, and its image features are not cached per frame"),
    Family("idefics3", TinyRecipe(IDEFICS3_TOKENS, tiny_idefics3, Idefics3ForConditionalGeneration), None,
           "its pixel batch is padded per row (pixel_attention_mask), not laid out per frame"),
    Family("llava_onevision", TinyRecipe(LLAVA_ONEVISION_TOKENS, tiny_llava_onevision, LlavaOnevisionForConditionalGeneration),
           VideoFreeLlavaOnevisionProcessor, "its image tokens per frame depend on how many frames a prompt holds"),
    Family("internvl", TinyRecipe(INTERNVL_TOKENS, tiny_internvl, InternVLForConditionalGeneration), VideoFreeInternVLProcessor,
           "its image features are not cached per frame by vldac yet"),
)}
"""Every family vldac knows, by model_type."""

FAST_PATH_FAMILIES = tuple(name for name, family in FAMILIES.items() if family.declined_fast_paths is None)
"""The families that take the shared prompt prefix and the vision-feature cache."""


def backbone(model: PreTrainedModel) -> PreTrainedModel:
    """The Hugging Face model itself, below any peft wrapper."""
    return model.get_base_model() if isinstance(model, PeftModel) else model


def model_type(model: PreTrainedModel) -> str:
    return backbone(model).config.model_type


def supports_shared_prefix(model: PreTrainedModel) -> bool:
    return model_type(model) in FAST_PATH_FAMILIES


def supports_vision_cache(model: PreTrainedModel) -> bool:
    return model_type(model) in FAST_PATH_FAMILIES


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
    if family in FAST_PATH_FAMILIES:
        return None
    reason = FAMILIES[family].declined_fast_paths if family in FAMILIES else "vldac has not been taught its image layout"
    return (f"{family} runs without the shared prompt prefix and the vision-feature cache ({reason}); "
            "results are exact, only slower.")


def family_processor(path: str | Path, model_type: str | None = None) -> ProcessorMixin:
    """The processor saved at ``path`` for a model of ``model_type`` (read from the folder's
    config.json when not given), assembled as its family's record says."""
    if model_type is None:
        try:
            model_type = AutoConfig.from_pretrained(path).model_type
        except (OSError, ValueError) as error:
            raise ValueError(
                f"The model config {Path(path) / 'config.json'} cannot be read ({str(error).splitlines()[0]}); "
                "restore the checkpoint's config.json or point model.path at an intact model folder."
            ) from None
    family = FAMILIES.get(model_type)
    return load_processor(path, family.video_free_processor if family is not None else None)


def build_tiny_vlm(corpus: list[str], spec: TinyVLMSpec = TinyVLMSpec(), seed: int = 0):
    """A random-weight tiny model of ``spec.family`` and its processor, built offline from the
    family's record (vldac.models.tiny): (model, processor)."""
    if spec.family not in FAMILIES:
        raise ValueError(f"Tiny model family '{spec.family}' is unknown; use one of {', '.join(FAMILIES)}.")
    return build_from_recipe(corpus, spec, FAMILIES[spec.family].tiny, seed)
