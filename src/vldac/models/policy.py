"""A VLM as a policy: batched sampling with exact log-probs, and re-scoring for the update.

Shapes used throughout: B prompts, P padded prompt length (left padding, so column P-1 is the
last prompt token of every row), L generated tokens (right padding after the first end-of-turn).
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from transformers import BatchFeature, GenerationConfig, PreTrainedModel, ProcessorMixin

from vldac.agents.base import build_messages
from vldac.models.value_head import ValueHead


VISION_PLACEHOLDERS = (
    "<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>",
    "<image>", "<start_of_image>", "<end_of_image>", "<image_soft_token>", "<fake_token_around_image>",
)
"""Tokens that mark images in a prompt: an answer containing one would break the next forward."""


@dataclass
class Samples:
    """What one batched generation produced.

    token_ids [B, L] long (pad after the end), token_logprobs [B, L] float32 (0 where masked),
    token_mask [B, L] bool (tokens up to and including the first end-of-turn), values [B] float32,
    cut_off [B] bool (no end-of-turn within the token limit), texts: decoded answers.
    """

    token_ids: torch.Tensor
    token_logprobs: torch.Tensor
    token_mask: torch.Tensor
    values: torch.Tensor
    cut_off: torch.Tensor
    texts: list[str]


def sampling_config(
    temperature: float, max_new_tokens: int, eos_id: int, pad_id: int, greedy: bool, blocked_ids: list[int]
) -> GenerationConfig:
    """A generation configuration that samples exactly from softmax(logits / temperature) over
    the vocabulary minus ``blocked_ids`` (vision placeholders, which an answer must never hold).

    Every knob that would add a logits processor is set to its neutral value explicitly, so
    nothing from a model's own generation_config.json (Qwen2-VL-Instruct ships top_k=1,
    top_p=0.001) or from transformers' global defaults (top_k=50) can leak into rollouts.
    """
    return GenerationConfig(
        do_sample=not greedy,
        temperature=1.0 if greedy else temperature,
        top_k=0,
        top_p=1.0,
        min_p=None,
        typical_p=1.0,
        epsilon_cutoff=0.0,
        eta_cutoff=0.0,
        repetition_penalty=1.0,
        encoder_repetition_penalty=1.0,
        no_repeat_ngram_size=0,
        bad_words_ids=None,
        suppress_tokens=blocked_ids or None,
        begin_suppress_tokens=None,
        forced_bos_token_id=None,
        forced_eos_token_id=None,
        sequence_bias=None,
        min_new_tokens=0,
        max_new_tokens=max_new_tokens,
        num_beams=1,
        renormalize_logits=False,
        remove_invalid_values=False,
        exponential_decay_length_penalty=None,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        use_cache=True,
        return_dict_in_generate=True,
        output_logits=True,
        output_hidden_states=True,
    )


@contextmanager
def neutral_model_generation_config(model: PreTrainedModel):
    """Hide the model's own generation_config while generating (its values fill unset fields)."""
    saved = model.generation_config
    model.generation_config = GenerationConfig()
    try:
        yield
    finally:
        model.generation_config = saved


def first_end_mask(token_ids: torch.Tensor, end_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """token_ids [B, L] -> (mask [B, L] bool up to and including the first end token, cut_off [B] bool)."""
    is_end = token_ids == end_id
    ends_before = torch.cumsum(is_end.long(), dim=1) - is_end.long()
    return ends_before == 0, ~is_end.any(dim=1)


def token_logprobs(
    logits: torch.Tensor, token_ids: torch.Tensor, temperature: float, blocked_ids: list[int]
) -> torch.Tensor:
    """log softmax(logits / T) at token_ids over the vocabulary minus blocked_ids, in float32.

    logits [B, L, V], token_ids [B, L] -> [B, L].
    """
    logits = logits.float() / temperature
    if blocked_ids:
        logits[..., blocked_ids] = -torch.inf
    logprobs = torch.log_softmax(logits, dim=-1)
    return logprobs.gather(-1, token_ids.unsqueeze(-1)).squeeze(-1)


class VLMPolicy:
    """A Hugging Face VLM (optionally with LoRA) plus its processor and the step-level value head."""

    def __init__(
        self,
        model: PreTrainedModel,
        processor: ProcessorMixin,
        value_head: ValueHead,
        reference_model: PreTrainedModel | None = None,
    ):
        self.model = model
        self.processor = processor
        self.value_head = value_head
        self.reference_model = reference_model
        tokenizer = processor.tokenizer
        self.end_id = tokenizer.convert_tokens_to_ids("<|im_end|>") if "<|im_end|>" in tokenizer.get_vocab() else tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.end_id
        vocabulary = tokenizer.get_vocab()
        self.blocked_ids = sorted(vocabulary[token] for token in VISION_PLACEHOLDERS if token in vocabulary)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def prompts(self, frame_histories: list[list[np.ndarray]], instructions: list[str]) -> BatchFeature:
        """Tokenised, left-padded prompts: one chat turn per history of frames (oldest first) and
        its instruction text."""
        texts, images = [], []
        for frames, instruction in zip(frame_histories, instructions, strict=True):
            messages = build_messages(instruction, len(frames))
            texts.append(self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))
            images.append([Image.fromarray(frame) for frame in frames])
        self.processor.tokenizer.padding_side = "left"
        batch = self.processor(text=texts, images=images, return_tensors="pt", padding=True)
        return batch.to(self.device)

    @torch.no_grad()
    def sample(self, prompts: BatchFeature, temperature: float, max_new_tokens: int, greedy: bool = False) -> Samples:
        """One batched generation call in eval mode; log-probs of exactly the sampling distribution."""
        self.model.eval()
        config = sampling_config(temperature, max_new_tokens, self.end_id, self.pad_id, greedy, self.blocked_ids)
        with neutral_model_generation_config(self.model):
            output = self.model.generate(**prompts, generation_config=config)
        prompt_length = prompts["input_ids"].shape[1]
        token_ids = output.sequences[:, prompt_length:]
        token_mask, cut_off = first_end_mask(token_ids, self.end_id)
        logits = torch.stack(output.logits, dim=1)
        logprobs = token_logprobs(logits, token_ids, 1.0 if greedy else temperature, self.blocked_ids) * token_mask
        prompt_state = output.hidden_states[0][-1][:, -1]
        values = self.value_head(prompt_state)
        texts = self.processor.tokenizer.batch_decode(
            token_ids.masked_fill(~token_mask, self.pad_id), skip_special_tokens=True
        )
        return Samples(token_ids.clone(), logprobs, token_mask, values, cut_off, texts)

    def token_index_at(self, token_ids: torch.Tensor, char_offset: int) -> int:
        """Index of the answer token [L] whose decoded text covers character ``char_offset``
        (binary search over decoded prefixes, which grow with the prefix)."""
        low, high = 1, len(token_ids)
        while low < high:
            middle = (low + high) // 2
            decoded = self.processor.tokenizer.decode(token_ids[:middle], skip_special_tokens=True)
            if len(decoded) > char_offset:
                high = middle
            else:
                low = middle + 1
        return low - 1

    def _forward(self, model: PreTrainedModel, prompts: BatchFeature, token_ids: torch.Tensor, token_mask: torch.Tensor):
        prompt_length = prompts["input_ids"].shape[1]
        response_length = token_ids.shape[1]
        inputs = dict(prompts)
        for key, value in prompts.items():
            if torch.is_tensor(value) and value.dim() == 2 and value.shape == prompts["input_ids"].shape:
                pad = token_ids if key == "input_ids" else token_mask.to(value.dtype) if key == "attention_mask" else torch.zeros_like(token_ids, dtype=value.dtype)
                inputs[key] = torch.cat([value, pad], dim=1)
        output = model(**inputs, logits_to_keep=response_length + 1, output_hidden_states=True, use_cache=False)
        logits = output.logits[:, :response_length]
        prompt_state = output.hidden_states[-1][:, prompt_length - 1]
        return logits, prompt_state

    def score(
        self, prompts: BatchFeature, token_ids: torch.Tensor, token_mask: torch.Tensor, temperature: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Re-score sampled answers with gradients: (token_logprobs [B, L] float32, values [B] float32)."""
        logits, prompt_state = self._forward(self.model, prompts, token_ids, token_mask)
        return token_logprobs(logits, token_ids, temperature, self.blocked_ids), self.value_head(prompt_state)

    @torch.no_grad()
    def reference_logprobs(
        self, prompts: BatchFeature, token_ids: torch.Tensor, token_mask: torch.Tensor, temperature: float
    ) -> torch.Tensor:
        """Log-probs [B, L] under the frozen starting model (LoRA adapters disabled, or a frozen copy)."""
        if self.reference_model is not None:
            model, context = self.reference_model, nullcontext()
        else:
            model, context = self.model, self.model.disable_adapter()
        with context:
            logits, _ = self._forward(model, prompts, token_ids, token_mask)
        return token_logprobs(logits, token_ids, temperature, self.blocked_ids)

    @torch.no_grad()
    def prompt_values(self, prompts: BatchFeature) -> torch.Tensor:
        """V(s) [B] for prompts alone (bootstrap values of final or last observations)."""
        output = self.model(**prompts, logits_to_keep=1, output_hidden_states=True, use_cache=False)
        return self.value_head(output.hidden_states[-1][:, -1])
