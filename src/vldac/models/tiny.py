"""The built-in tiny VLM: a Qwen2-VL-architecture model small enough to train on a CPU, and tiny
random models of other VLM families, for running the same code on each of them.

Everything is created offline by this module: a byte-level BPE tokenizer trained on the
worlds' own prompt and answer texts (with the family's special tokens and chat template), the
family's image processor sized for small frames, and a randomly initialised model of the class
``AutoModelForImageTextToText`` loads for that family. The result saves with ``save_pretrained``
and loads back through the same generic path as any Hugging Face VLM (see ``vldac.models.loading``).

Every family's vision side is sized so that a frame of ``frame_size`` pixels (a multiple of 28)
becomes (frame_size / 28)^2 image tokens: 9 for the default 84x84 frames, 4 for 56x56 ones
(LLaVA-OneVision adds its own newline and, for a prompt of one frame, any-resolution tokens).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    Gemma3Config,
    Gemma3Processor,
    Idefics3Config,
    Idefics3Processor,
    InternVLConfig,
    LlavaOnevisionConfig,
    PreTrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    ProcessorMixin,
    Qwen2_5_VLConfig,
    Qwen2VLConfig,
    Qwen3VLConfig,
)
from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil
from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil
from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil
from transformers.models.llava_onevision.image_processing_pil_llava_onevision import LlavaOnevisionImageProcessorPil
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from vldac.models.processor import (
    VideoFreeInternVLProcessor,
    VideoFreeLlavaOnevisionProcessor,
    VideoFreeQwen2_5_VLProcessor,
    VideoFreeQwen2VLProcessor,
    VideoFreeQwen3VLProcessor,
)

PATCH = 14
"""Every tiny vision tower's patch side in pixels; two patches a side make one image token."""


@dataclass(frozen=True)
class ChatTokens:
    """A family's special tokens (the first ids of the vocabulary, in this order), its end-of-answer
    (``eos``), padding and optional begin-of-text token, the named tokens its processor reads
    from the tokenizer (e.g. ``tokenizer.image_token``) and its chat template."""

    special: list[str]
    eos: str
    pad: str
    chat_template: str
    named: dict[str, str] = field(default_factory=dict)
    bos: str | None = None


def chat_template(header: str, turn_end: str, image: str, role: str = "message['role']",
                   assistant: str = "assistant", prefix: str = "") -> str:
    """A chat template: after ``prefix``, one turn per message, ``header`` (with
    the Jinja expression ``role`` in place of ROLE), the content and ``turn_end``, each
    ``{"type": "image"}`` item written as ``image`` (the processor expands it); the generation
    prompt is the header of the ``assistant`` role."""
    return (
        f"{prefix}{{% for message in messages %}}{header.replace('ROLE', '{{ ' + role + ' }}')}"
        "{% if message['content'] is string %}{{ message['content'] }}"
        "{% else %}{% for content in message['content'] %}"
        f"{{% if content['type'] == 'image' %}}{image}"
        "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
        f"{{% endfor %}}{{% endif %}}{turn_end}{{% endfor %}}"
        f"{{% if add_generation_prompt %}}{header.replace('ROLE', assistant)}{{% endif %}}"
    )


QWEN_TOKENS = ChatTokens(
    special=["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
             "<|video_pad|>"],
    eos="<|im_end|>",
    pad="<|endoftext|>",
    chat_template=chat_template("<|im_start|>ROLE\n", "<|im_end|>\n", "<|vision_start|><|image_pad|><|vision_end|>"),
    named={"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"},
)
"""Qwen2-VL, Qwen2.5-VL and Qwen3-VL: ChatML turns, each image <|vision_start|><|image_pad|><|vision_end|>."""

GEMMA3_TOKENS = ChatTokens(
    special=["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>",
             "<start_of_image>", "<end_of_image>", "<image_soft_token>"],
    eos="<end_of_turn>",
    pad="<pad>",
    bos="<bos>",
    chat_template=chat_template(
        "<start_of_turn>ROLE\n", "<end_of_turn>\n", "<start_of_image>",
        role="'model' if message['role'] == 'assistant' else message['role']", assistant="model", prefix="{{ bos_token }}",
    ),
    named={"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"},
)
"""Gemma 3: <start_of_turn>user / model turns ending in <end_of_turn>; the processor expands each
<start_of_image> into <start_of_image>, the <image_soft_token>s and <end_of_image>."""

IDEFICS3_TOKENS = ChatTokens(
    special=["<|endoftext|>", "<|im_start|>", "<fake_token_around_image>", "<image>", "<global-img>",
             "<end_of_utterance>"],
    eos="<end_of_utterance>",
    pad="<|endoftext|>",
    bos="<|im_start|>",
    chat_template=chat_template(
        "ROLE:", "<end_of_utterance>\n", "<image>", role="message['role'] | capitalize", assistant="Assistant",
        prefix="{{ bos_token }}",
    ),
    named={"image_token": "<image>"},
)
"""Idefics3 (SmolVLM): "User:" / "Assistant:" turns ending in <end_of_utterance>; the processor
expands each <image> into <fake_token_around_image><global-img>, the <image>s and
<fake_token_around_image>."""

LLAVA_ONEVISION_TOKENS = ChatTokens(
    special=["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"],
    eos="<|im_end|>",
    pad="<|endoftext|>",
    chat_template=chat_template("<|im_start|>ROLE\n", "<|im_end|>\n", "<image>"),
    named={"image_token": "<image>", "video_token": "<video>"},
)
"""LLaVA-OneVision: ChatML turns; the processor expands each <image> into its image tokens. (The
stock template writes a turn's images before its text; this one keeps the content's order.)"""

INTERNVL_TOKENS = ChatTokens(
    special=["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>", "<IMG_CONTEXT>", "<video>"],
    eos="<|im_end|>",
    pad="<|endoftext|>",
    chat_template=chat_template("<|im_start|>ROLE\n", "<|im_end|>\n", "<IMG_CONTEXT>\n"),
    named={"start_image_token": "<img>", "end_image_token": "</img>", "context_image_token": "<IMG_CONTEXT>",
           "video_token": "<video>"},
)
"""InternVL: ChatML turns; the processor expands each <IMG_CONTEXT> into <img>, the
<IMG_CONTEXT>s and </img>."""


@dataclass(frozen=True)
class TinyVLMSpec:
    """Sizes of the built-in model. Defaults: about 1M parameters, 84x84 frames -> 9 image tokens.

    ``family`` picks the architecture: "qwen2_vl" (the built-in model), or "qwen2_5_vl",
    "qwen3_vl", "gemma3", "idefics3", "llava_onevision", "internvl" (used to run the same code on
    other model families; their ``frame_size`` must be a multiple of 28).
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

    @property
    def tokens_per_side(self) -> int:
        """Image tokens along a frame's side (two patches make one)."""
        if self.frame_size % (2 * PATCH):
            raise ValueError(f"The tiny {self.family} model needs a frame_size that is a multiple of {2 * PATCH}, "
                             f"got {self.frame_size}.")
        return self.frame_size // (2 * PATCH)


def train_tokenizer(corpus: list[str], vocab_size: int, tokens: ChatTokens = QWEN_TOKENS) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on ``corpus`` with a family's special tokens and chat
    template (by default Qwen's), padding on the left."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=tokens.special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token=tokens.eos,
        pad_token=tokens.pad,
        padding_side="left",
        model_max_length=4096,
        extra_special_tokens=tokens.named,
        **({"bos_token": tokens.bos} if tokens.bos else {}),
    )
    fast.chat_template = tokens.chat_template
    return fast


def _ids(tokenizer: PreTrainedTokenizerFast, *tokens: str) -> list[int]:
    return [tokenizer.convert_tokens_to_ids(token) for token in tokens]


def _qwen_vision_tokens(tokenizer: PreTrainedTokenizerFast) -> dict[str, int]:
    """The config fields naming the Qwen-VL families' image and video markers."""
    image, video, start, end = _ids(tokenizer, "<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
    return dict(image_token_id=image, video_token_id=video, vision_start_token_id=start, vision_end_token_id=end)


def _qwen_image_processor(spec: TinyVLMSpec) -> Qwen2VLImageProcessorPil:
    """The Qwen2-VL image processor with its pixel budget fixed to one frame, 14-px patches."""
    pixels = spec.frame_size * spec.frame_size
    return Qwen2VLImageProcessorPil(min_pixels=pixels, max_pixels=pixels, patch_size=PATCH)


def _text_config(spec: TinyVLMSpec, tokenizer: PreTrainedTokenizerFast, **family_fields) -> dict:
    """The language model's sizes, its special ids (bos is the pad token where the family has no
    begin-of-text token, as in Qwen's configs) and tied embeddings, plus ``family_fields``."""
    return dict(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_kv_heads,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        **family_fields,
    )


def _vision_sizes(spec: TinyVLMSpec) -> dict:
    """A ViT of ``PATCH``-pixel patches over the whole frame (SigLIP / Idefics3 / InternViT field names)."""
    return dict(
        hidden_size=spec.vision_embed_dim,
        intermediate_size=2 * spec.vision_embed_dim,
        num_hidden_layers=spec.vision_depth,
        num_attention_heads=spec.vision_heads,
        image_size=spec.frame_size,
        patch_size=PATCH,
    )


Built = tuple[PreTrainedConfig, ProcessorMixin]


def tiny_qwen_vl(spec: TinyVLMSpec, tokenizer: PreTrainedTokenizerFast) -> Built:
    """Qwen2-VL / Qwen2.5-VL: multimodal RoPE sections in the text config; a vision tower of 14-px
    patches merged 2x2 into tokens; the Qwen2-VL image processor with its pixel budget fixed to
    one frame (so any frame size becomes a whole number of tokens)."""
    head_dim = spec.hidden_size // spec.num_heads
    quarter = head_dim // 4
    common = dict(depth=spec.vision_depth, num_heads=spec.vision_heads, patch_size=PATCH, spatial_merge_size=2,
                  temporal_patch_size=2)
    if spec.family == "qwen2_5_vl":
        config_class, processor_class = Qwen2_5_VLConfig, VideoFreeQwen2_5_VLProcessor
        vision_config = dict(
            common,
            hidden_size=spec.vision_embed_dim,
            intermediate_size=2 * spec.vision_embed_dim,
            out_hidden_size=spec.hidden_size,
            window_size=56,
            fullatt_block_indexes=[spec.vision_depth - 1],
        )
    else:
        config_class, processor_class = Qwen2VLConfig, VideoFreeQwen2VLProcessor
        vision_config = dict(common, embed_dim=spec.vision_embed_dim, hidden_size=spec.hidden_size, mlp_ratio=2)
    config = config_class(
        text_config=_text_config(
            spec, tokenizer,
            rope_parameters=dict(
                rope_type="default",
                rope_theta=10000.0,
                mrope_section=[head_dim // 2 - 2 * quarter, quarter, quarter],
            ),
        ),
        vision_config=vision_config,
        **_qwen_vision_tokens(tokenizer),
        tie_word_embeddings=True,
    )
    return config, processor_class(image_processor=_qwen_image_processor(spec), tokenizer=tokenizer,
                                   chat_template=tokenizer.chat_template)


def tiny_qwen3_vl(spec: TinyVLMSpec, tokenizer: PreTrainedTokenizerFast) -> Built:
    """Qwen3-VL: interleaved multimodal RoPE sections; a vision tower with learned position
    embeddings (one per patch of a frame) and a DeepStack merger after its first block feeding the
    first text layer; 14-px patches (the stock model's are 16) merged 2x2, so frames tokenise as
    in Qwen2-VL; the Qwen2-VL image processor with its pixel budget fixed to one frame."""
    half = spec.hidden_size // spec.num_heads // 2
    config = Qwen3VLConfig(
        text_config=_text_config(
            spec, tokenizer,
            head_dim=2 * half,
            rope_parameters=dict(rope_type="default", rope_theta=10000.0,
                                 mrope_section=[half - 2 * (half // 3), half // 3, half // 3], mrope_interleaved=True),
        ),
        vision_config=dict(
            depth=spec.vision_depth,
            hidden_size=spec.vision_embed_dim,
            intermediate_size=2 * spec.vision_embed_dim,
            num_heads=spec.vision_heads,
            out_hidden_size=spec.hidden_size,
            patch_size=PATCH,
            spatial_merge_size=2,
            temporal_patch_size=2,
            num_position_embeddings=(spec.frame_size // PATCH) ** 2,
            deepstack_visual_indexes=[0],
        ),
        **_qwen_vision_tokens(tokenizer),
        tie_word_embeddings=True,
    )
    return config, VideoFreeQwen3VLProcessor(_qwen_image_processor(spec), tokenizer, chat_template=tokenizer.chat_template)


def tiny_gemma3(spec: TinyVLMSpec, tokenizer: PreTrainedTokenizerFast) -> Built:
    """Gemma 3: a SigLIP tower without its pooling head, average-pooled 2x2 to
    ``mm_tokens_per_image`` tokens; text layers of sliding-window attention with a last global
    one; the Gemma 3 image processor (a square resize, no pan-and-scan crops), with
    ``image_seq_length`` = ``mm_tokens_per_image``."""
    tokens = spec.tokens_per_side**2
    boi, eoi, image = _ids(tokenizer, "<start_of_image>", "<end_of_image>", "<image_soft_token>")
    head_dim = spec.hidden_size // spec.num_heads
    config = Gemma3Config(
        text_config=_text_config(
            spec, tokenizer,
            head_dim=head_dim,
            query_pre_attn_scalar=head_dim,
            sliding_window=512,
            layer_types=["sliding_attention"] * (spec.num_layers - 1) + ["full_attention"],
        ),
        vision_config=dict(_vision_sizes(spec), vision_use_head=False),
        mm_tokens_per_image=tokens,
        boi_token_index=boi,
        eoi_token_index=eoi,
        image_token_index=image,
        tie_word_embeddings=True,
    )
    image_processor = Gemma3ImageProcessorPil(size={"height": spec.frame_size, "width": spec.frame_size})
    processor = Gemma3Processor(image_processor, tokenizer, chat_template=tokenizer.chat_template,
                                image_seq_length=tokens)
    return config, processor


def tiny_idefics3(spec: TinyVLMSpec, tokenizer: PreTrainedTokenizerFast) -> Built:
    """Idefics3 (SmolVLM): an Idefics3 vision tower whose patches a pixel shuffle (scale factor 2)
    merges 2x2 into tokens, and a Llama text model; the Idefics3 image processor resizing each
    frame to one tile, with no splitting into sub-images (so no <row_i_col_j> tokens)."""
    (image,) = _ids(tokenizer, "<image>")
    config = Idefics3Config(
        vision_config=_vision_sizes(spec),
        text_config=_text_config(spec, tokenizer, model_type="llama"),
        scale_factor=2,
        image_token_id=image,
        tie_word_embeddings=True,
    )
    edge = {"longest_edge": spec.frame_size}
    image_processor = Idefics3ImageProcessorPil(size=edge, max_image_size=edge, do_image_splitting=False)
    processor = Idefics3Processor(image_processor, tokenizer, image_seq_len=spec.tokens_per_side**2,
                                  chat_template=tokenizer.chat_template)
    return config, processor


def tiny_llava_onevision(spec: TinyVLMSpec, tokenizer: PreTrainedTokenizerFast) -> Built:
    """LLaVA-OneVision: a SigLIP tower of 28-px patches (one token each, all of them: the "full"
    feature strategy) and a Qwen2 text model; one any-resolution grid point, the frame itself, so a
    prompt of one frame gets the frame's tokens twice (base and tile) plus a newline per row, and a
    prompt of several frames one newline per frame; the LLaVA-OneVision image processor (PIL)."""
    image, video = _ids(tokenizer, "<image>", "<video>")
    grid = [[spec.frame_size, spec.frame_size]]
    config = LlavaOnevisionConfig(
        vision_config=dict(_vision_sizes(spec), model_type="siglip_vision_model", patch_size=2 * PATCH,
                           vision_use_head=False),
        text_config=_text_config(spec, tokenizer, model_type="qwen2"),
        image_token_index=image,
        video_token_index=video,
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        image_grid_pinpoints=grid,
        tie_word_embeddings=True,
    )
    image_processor = LlavaOnevisionImageProcessorPil(
        size={"height": spec.frame_size, "width": spec.frame_size}, image_grid_pinpoints=grid
    )
    processor = VideoFreeLlavaOnevisionProcessor(
        image_processor, tokenizer, chat_template=tokenizer.chat_template,
        num_image_tokens=spec.tokens_per_side**2, vision_feature_select_strategy="full",
    )
    return config, processor


def tiny_internvl(spec: TinyVLMSpec, tokenizer: PreTrainedTokenizerFast) -> Built:
    """InternVL: an InternViT tower whose patches a pixel shuffle (downsample ratio 0.5) merges 2x2
    into tokens, and a Qwen2 text model; the GOT-OCR2 image processor with one tile per frame
    (``max_patches`` 1: no crops, no thumbnail), with ``image_seq_length`` tokens per tile."""
    tokens = spec.tokens_per_side**2
    (image,) = _ids(tokenizer, "<IMG_CONTEXT>")
    config = InternVLConfig(
        vision_config=_vision_sizes(spec),
        text_config=_text_config(spec, tokenizer, model_type="qwen2"),
        image_token_id=image,
        image_seq_length=tokens,
        downsample_ratio=0.5,
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
        tie_word_embeddings=True,
    )
    image_processor = GotOcr2ImageProcessorPil(size={"height": spec.frame_size, "width": spec.frame_size},
                                               max_patches=1)
    processor = VideoFreeInternVLProcessor(image_processor, tokenizer, chat_template=tokenizer.chat_template,
                                           image_seq_length=tokens)
    return config, processor


@dataclass(frozen=True)
class TinyRecipe:
    """How to build a tiny model of one family: its chat tokens (image markers, end of turn,
    template), its config and processor builder, and its model class."""

    tokens: ChatTokens
    build: Callable[[TinyVLMSpec, PreTrainedTokenizerFast], Built]
    model_class: type[PreTrainedModel]


def build_from_recipe(corpus: list[str], spec: TinyVLMSpec, recipe: TinyRecipe, seed: int = 0):
    """Create the tiny model of ``recipe``'s family and its processor from scratch (no download):
    (model, processor). The model's generation_config ends answers with the family's end-of-answer
    token (the tokenizer's eos) and pads with the tokenizer's pad token."""
    tokenizer = train_tokenizer(corpus, spec.vocab_size, recipe.tokens)
    config, processor = recipe.build(spec, tokenizer)
    torch.manual_seed(seed)
    model = recipe.model_class(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, processor
