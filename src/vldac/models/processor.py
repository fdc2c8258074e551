"""Processors: load any VLM's processor, including the Qwen-VL families where torchvision is missing.

The stock Qwen2-VL / Qwen2.5-VL processors always build a video processor, which needs
torchvision, and torchvision from PyPI does not import beside the CPU torch wheel. vldac feeds
frames as images only, so on such machines it assembles a video-free processor from the tokenizer,
the image processor and the chat template. What it saves is what the stock class reads
(``processor_class`` names the family's own processor, with a nested video processor
configuration), so ``AutoProcessor.from_pretrained(checkpoint)`` works wherever torchvision does.
"""

from __future__ import annotations

import json
from pathlib import Path

from transformers import AutoConfig, AutoImageProcessor, AutoProcessor, AutoTokenizer, ProcessorMixin
from transformers.models.qwen2_vl.processing_qwen2_vl import Qwen2VLProcessor


class VideoFreeQwen2VLProcessor(Qwen2VLProcessor):
    """Qwen2-VL's processor with no video processor; saved as a stock ``Qwen2VLProcessor``."""

    stock_class_name = "Qwen2VLProcessor"
    video_processor_type = "Qwen2VLVideoProcessor"

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
        self.video_token = getattr(tokenizer, "video_token", None) or "<|video_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

    def video_processor_settings(self) -> dict:
        """The stock video processor's configuration, matching the image processor's pixels and
        patches (the fields not given take that class's defaults when it is loaded)."""
        image = self.image_processor
        return {
            "video_processor_type": self.video_processor_type,
            "size": dict(image.size),
            "patch_size": image.patch_size,
            "temporal_patch_size": image.temporal_patch_size,
            "merge_size": image.merge_size,
            "image_mean": list(image.image_mean),
            "image_std": list(image.image_std),
        }

    def to_dict(self) -> dict:
        output = super().to_dict()
        output["processor_class"] = self.stock_class_name
        output["video_processor"] = self.video_processor_settings()
        return output

    def save_pretrained(self, save_directory, **kwargs):
        saved = super().save_pretrained(save_directory, **kwargs)
        tokenizer_config = Path(save_directory) / "tokenizer_config.json"
        settings = json.loads(tokenizer_config.read_text())
        settings["processor_class"] = self.stock_class_name
        tokenizer_config.write_text(json.dumps(settings, indent=2, ensure_ascii=False) + "\n")
        return saved


class VideoFreeQwen2_5_VLProcessor(VideoFreeQwen2VLProcessor):
    """Qwen2.5-VL's processor with no video processor; saved as a stock ``Qwen2_5_VLProcessor``."""

    stock_class_name = "Qwen2_5_VLProcessor"


VIDEO_FREE_PROCESSORS: dict[str, type[VideoFreeQwen2VLProcessor]] = {
    "qwen2_vl": VideoFreeQwen2VLProcessor,
    "qwen2_5_vl": VideoFreeQwen2_5_VLProcessor,
}


def load_processor(path: str | Path, model_type: str | None = None) -> ProcessorMixin:
    """The multimodal processor saved at ``path`` (a local folder) for a model of ``model_type``
    (read from the folder's config.json when not given).

    Qwen-VL families are assembled video-free (see the module docstring); for the others
    AutoProcessor must return a processor with an image processor (without one it silently
    returns only the tokenizer, which is refused here).
    """
    if model_type is None:
        try:
            model_type = AutoConfig.from_pretrained(path).model_type
        except (OSError, ValueError) as error:
            raise ValueError(
                f"The model config {Path(path) / 'config.json'} cannot be read ({str(error).splitlines()[0]}); "
                "restore the checkpoint's config.json or point model.path at an intact model folder."
            ) from None
    if model_type in VIDEO_FREE_PROCESSORS:
        tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
        image_processor = AutoImageProcessor.from_pretrained(path, backend="pil")
        return VIDEO_FREE_PROCESSORS[model_type](image_processor, tokenizer, chat_template=tokenizer.chat_template)
    processor = AutoProcessor.from_pretrained(path, padding_side="left")
    if not isinstance(processor, ProcessorMixin) or getattr(processor, "image_processor", None) is None:
        raise ValueError(
            f"The model at {path} has no image processor (AutoProcessor returned {type(processor).__name__}); "
            "point model.path at a vision-language checkpoint with its preprocessor_config.json."
        )
    return processor
