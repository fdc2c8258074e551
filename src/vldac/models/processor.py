"""Processors: load any VLM's processor, including the families whose video processor needs torchvision.

The stock Qwen2-VL / Qwen2.5-VL / Qwen3-VL, LLaVA-OneVision and InternVL processors always build a
video processor, and those need torchvision, which from PyPI does not import beside the CPU torch
wheel. vldac feeds frames as images only, so on such machines it assembles a video-free processor
from the tokenizer, the image processor, the chat template and the stock processor's own options.
What it saves is what the stock class reads (``processor_class`` names the family's own processor,
with a nested video processor configuration), so ``AutoProcessor.from_pretrained(checkpoint)``
works wherever torchvision does.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer, ProcessorMixin
from transformers.models.internvl.processing_internvl import InternVLProcessor
from transformers.models.llava_onevision.processing_llava_onevision import LlavaOnevisionProcessor
from transformers.models.qwen2_vl.processing_qwen2_vl import Qwen2VLProcessor
from transformers.models.qwen3_vl.processing_qwen3_vl import Qwen3VLProcessor
from transformers.utils import PROCESSOR_NAME

SUB_PROCESSORS = ("self", "image_processor", "tokenizer", "video_processor", "chat_template", "kwargs")
"""The stock processors' ``__init__`` parameters that are not options saved in processor_config.json."""

PATCH_SETTINGS = ("patch_size", "temporal_patch_size", "merge_size")
"""Image processor fields a video processor shares where the image processor has them (Qwen-VL)."""


class VideoFreeProcessor(ProcessorMixin):
    """Mixin put before a stock processor class: that processor with no video processor, saved as
    the stock class (``stock_class_name``) with a ``video_processor_type`` configuration matching
    the image processor. The stock ``__init__`` runs with ``video_processor=None``; its options
    (e.g. LLaVA-OneVision's ``num_image_tokens``) pass through ``kwargs`` and are saved as the stock
    class saves them."""

    stock_class_name: str
    video_processor_type: str

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)

    @classmethod
    def option_names(cls) -> list[str]:
        """The stock ``__init__``'s options (every parameter but the sub-processors)."""
        stock_class = next(base for base in cls.__mro__ if not issubclass(base, VideoFreeProcessor))
        return [name for name in inspect.signature(stock_class.__init__).parameters if name not in SUB_PROCESSORS]

    @classmethod
    def from_folder(cls, path: str | Path) -> VideoFreeProcessor:
        """The processor saved at ``path``: its tokenizer (left padding), PIL image processor,
        chat template and the stock options in processor_config.json (where there is one)."""
        tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
        image_processor = AutoImageProcessor.from_pretrained(path, backend="pil")
        config_file = Path(path) / PROCESSOR_NAME
        saved = json.loads(config_file.read_text()) if config_file.is_file() else {}
        options = {name: saved[name] for name in cls.option_names() if name in saved}
        return cls(image_processor, tokenizer, chat_template=tokenizer.chat_template, **options)

    def video_processor_settings(self) -> dict:
        """The stock video processor's configuration, matching the image processor's pixels and
        (for the Qwen-VL families) patches; the fields not given take that class's defaults when
        it is loaded."""
        image = self.image_processor
        patches = {name: getattr(image, name) for name in PATCH_SETTINGS if getattr(image, name, None) is not None}
        return {
            "video_processor_type": self.video_processor_type,
            "size": dict(image.size),
            **patches,
            "image_mean": list(image.image_mean),
            "image_std": list(image.image_std),
        }

    def to_dict(self) -> dict:
        output = super().to_dict()
        output.update({name: getattr(self, name) for name in self.option_names() if hasattr(self, name)})
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


class VideoFreeQwen2VLProcessor(VideoFreeProcessor, Qwen2VLProcessor):
    """Qwen2-VL's processor with no video processor; saved as a stock ``Qwen2VLProcessor``."""

    stock_class_name = "Qwen2VLProcessor"
    video_processor_type = "Qwen2VLVideoProcessor"


class VideoFreeQwen2_5_VLProcessor(VideoFreeQwen2VLProcessor):
    """Qwen2.5-VL's processor with no video processor; saved as a stock ``Qwen2_5_VLProcessor``
    (it expands images as Qwen2-VL's does, and its video processor is Qwen2-VL's)."""

    stock_class_name = "Qwen2_5_VLProcessor"


class VideoFreeQwen3VLProcessor(VideoFreeProcessor, Qwen3VLProcessor):
    """Qwen3-VL's processor with no video processor; saved as a stock ``Qwen3VLProcessor``."""

    stock_class_name = "Qwen3VLProcessor"
    video_processor_type = "Qwen3VLVideoProcessor"


class VideoFreeLlavaOnevisionProcessor(VideoFreeProcessor, LlavaOnevisionProcessor):
    """LLaVA-OneVision's processor with no video processor; saved as a stock ``LlavaOnevisionProcessor``."""

    stock_class_name = "LlavaOnevisionProcessor"
    video_processor_type = "LlavaOnevisionVideoProcessor"


class VideoFreeInternVLProcessor(VideoFreeProcessor, InternVLProcessor):
    """InternVL's processor with no video processor; saved as a stock ``InternVLProcessor``."""

    stock_class_name = "InternVLProcessor"
    video_processor_type = "InternVLVideoProcessor"


def load_processor(path: str | Path, video_free: type[VideoFreeProcessor] | None = None) -> ProcessorMixin:
    """The multimodal processor saved at ``path`` (a local folder): assembled by ``video_free`` for
    a family whose stock processor needs torchvision (see the module docstring), else through
    AutoProcessor, which must return a processor with an image processor (without one it silently
    returns only the tokenizer, which is refused here)."""
    if video_free is not None:
        return video_free.from_folder(path)
    processor = AutoProcessor.from_pretrained(path, padding_side="left")
    if not isinstance(processor, ProcessorMixin) or getattr(processor, "image_processor", None) is None:
        raise ValueError(
            f"The model at {path} has no image processor (AutoProcessor returned {type(processor).__name__}); "
            "point model.path at a vision-language checkpoint with its preprocessor_config.json."
        )
    return processor
