"""The built-in tiny VLM: a Qwen2-VL-architecture model small enough to train on a CPU.

Everything is created offline by this module: a byte-level BPE tokenizer trained on the
worlds' own prompt and answer texts (with Qwen's special tokens and chat template), a
Qwen2-VL image processor sized for small frames, and a randomly initialised
Qwen2VLForConditionalGeneration. The result saves with ``save_pretrained`` and loads back
through the same generic path as any Hugging Face VLM (see ``vldac.models.loading``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    PreTrainedTokenizerFast,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
)
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from vldac.models.processor import VIDEO_FREE_PROCESSORS

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass(frozen=True)
class TinyVLMSpec:
    """Sizes of the built-in model. Defaults: about 1M parameters, 84x84 frames -> 9 image tokens.

    ``family`` picks the architecture: "qwen2_vl" (the built-in model) or "qwen2_5_vl" (used by
    the tests to run the same code on a second model family).
    """

    vocab_size: int = 512
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 384
    vision_embed_dim: int = 64
    vision_depth: int = 2
    vision_heads: int = 2
    frame_size: int = 84
    family: str = "qwen2_vl"


def train_tokenizer(corpus: list[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on ``corpus`` with Qwen's special tokens."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        padding_side="left",
        model_max_length=4096,
        extra_special_tokens={"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"},
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _vision_config(spec: TinyVLMSpec) -> dict:
    common = dict(
        depth=spec.vision_depth,
        num_heads=spec.vision_heads,
        patch_size=14,
        spatial_merge_size=2,
        temporal_patch_size=2,
    )
    if spec.family == "qwen2_5_vl":
        return dict(
            common,
            hidden_size=spec.vision_embed_dim,
            intermediate_size=2 * spec.vision_embed_dim,
            out_hidden_size=spec.hidden_size,
            window_size=56,
            fullatt_block_indexes=[spec.vision_depth - 1],
        )
    return dict(common, embed_dim=spec.vision_embed_dim, hidden_size=spec.hidden_size, mlp_ratio=2)


FAMILIES = {
    "qwen2_vl": (Qwen2VLConfig, Qwen2VLForConditionalGeneration),
    "qwen2_5_vl": (Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration),
}


def build_tiny_vlm(corpus: list[str], spec: TinyVLMSpec = TinyVLMSpec(), seed: int = 0):
    """Create the tiny model and its processor from scratch (no download): (model, processor)."""
    if spec.family not in FAMILIES:
        raise ValueError(f"Tiny model family '{spec.family}' is unknown; use one of {', '.join(FAMILIES)}.")
    config_class, model_class = FAMILIES[spec.family]
    tokenizer = train_tokenizer(corpus, spec.vocab_size)
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    head_dim = spec.hidden_size // spec.num_heads
    quarter = head_dim // 4
    config = config_class(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=spec.hidden_size,
            intermediate_size=spec.intermediate_size,
            num_hidden_layers=spec.num_layers,
            num_attention_heads=spec.num_heads,
            num_key_value_heads=spec.num_kv_heads,
            max_position_embeddings=4096,
            rope_parameters=dict(
                rope_type="default",
                rope_theta=10000.0,
                mrope_section=[head_dim // 2 - 2 * quarter, quarter, quarter],
            ),
            bos_token_id=ids["<|endoftext|>"],
            eos_token_id=ids["<|im_end|>"],
            pad_token_id=ids["<|endoftext|>"],
            tie_word_embeddings=True,
        ),
        vision_config=_vision_config(spec),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = model_class(config)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    pixels = spec.frame_size * spec.frame_size
    image_processor = Qwen2VLImageProcessorPil(min_pixels=pixels, max_pixels=pixels)
    processor = VIDEO_FREE_PROCESSORS[spec.family](
        image_processor=image_processor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE
    )
    return model, processor
