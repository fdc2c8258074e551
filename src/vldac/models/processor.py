"""Processors: load any VLM's processor, including Qwen2-VL where torchvision is missing."""

from __future__ import annotations

from pathlib import Path

from transformers import AutoConfig, AutoImageProcessor, AutoProcessor, AutoTokenizer, ProcessorMixin
from transformers.models.qwen2_vl.processing_qwen2_vl import Qwen2VLProcessor

QWEN_VL_MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl")


class VideoFreeQwen2VLProcessor(Qwen2VLProcessor):
    """Qwen2-VL's processor with no video processor.

    The stock processor always builds a video processor, which needs torchvision; torchvision
    from PyPI does not import beside the CPU torch wheel. vldac feeds frames as images only,
    so this processor keeps the image processor, the tokenizer and the chat template.
    """

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
        self.video_token = getattr(tokenizer, "video_token", None) or "<|video_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)


def load_processor(path: str | Path, model_type: str | None = None) -> ProcessorMixin:
    """The multimodal processor saved at ``path`` (a local folder) for a model of ``model_type``
    (read from the folder's config.json when not given).

    AutoProcessor is tried first. When it cannot build a Qwen2-VL-family processor because
    torchvision is missing, it silently returns only the tokenizer; that case is assembled
    here from the tokenizer, the PIL image processor and the chat template.
    """
    model_type = model_type or AutoConfig.from_pretrained(path).model_type
    if model_type in QWEN_VL_MODEL_TYPES:
        tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
        image_processor = AutoImageProcessor.from_pretrained(path, backend="pil")
        return VideoFreeQwen2VLProcessor(image_processor, tokenizer, chat_template=tokenizer.chat_template)
    processor = AutoProcessor.from_pretrained(path, padding_side="left")
    if not isinstance(processor, ProcessorMixin) or getattr(processor, "image_processor", None) is None:
        raise RuntimeError(
            f"The model at {path} has no image processor (AutoProcessor returned {type(processor).__name__}); "
            "point model.path at a vision-language checkpoint with its preprocessor_config.json."
        )
    return processor
