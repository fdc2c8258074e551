"""The tokens that bound an answer: where it ends, how it is padded, what it may never hold.

Shapes: B answers, L answer tokens (right padding after the first end token).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn.utils.rnn import pad_sequence
from jinja2.exceptions import TemplateError
from transformers import PreTrainedModel, PreTrainedTokenizerBase, ProcessorMixin

VISION_PLACEHOLDERS = (
    "<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>",
    "<image>", "<video>", "<start_of_image>", "<end_of_image>", "<image_soft_token>", "<fake_token_around_image>",
    "<global-img>", "<img>", "</img>", "<IMG_CONTEXT>",
)
"""Tokens that mark images in a prompt (Qwen-VL, LLaVA, Gemma 3, Idefics3, InternVL), blocked
wherever the vocabulary has them: an answer containing one would break the next forward."""

PROCESSOR_IMAGE_TOKENS = (
    "image_token", "video_token", "boi_token", "eoi_token", "start_image_token", "end_image_token",
    "context_image_token", "fake_image_token", "global_image_tag",
)
"""Processor attributes naming image markers (blocked too, whatever the family calls them)."""


def _as_list(ids: int | list[int] | None) -> list[int]:
    if ids is None:
        return []
    return [int(ids)] if isinstance(ids, int) else [int(i) for i in ids]


def end_of_turn_id(processor: ProcessorMixin) -> int | None:
    """The added token the chat template closes an assistant turn with (Qwen's <|im_end|>,
    Gemma's <end_of_turn>), found by rendering one turn; None without such a template."""
    marker = "vldac answer"
    turn = [{"role": "user", "content": [{"type": "text", "text": "q"}]},
            {"role": "assistant", "content": [{"type": "text", "text": marker}]}]
    try:
        text = processor.apply_chat_template(turn, tokenize=False)
    except (ValueError, TemplateError):
        return None
    if marker not in text:
        return None
    tokenizer = processor.tokenizer
    following = tokenizer(text.split(marker, 1)[1], add_special_tokens=False)["input_ids"]
    if following and tokenizer.convert_ids_to_tokens(following[0]) in tokenizer.get_added_vocab():
        return int(following[0])
    return None


@dataclass(frozen=True)
class AnswerTokens:
    """end_ids: every token that ends an answer: the chat template's end-of-turn token first (the
    one demonstrations are written with), then every id of the model's generation_config eos list
    (e.g. Qwen's <|im_end|> and <|endoftext|>); pad_id: fills answers after their end;
    blocked_ids: vision placeholders, never sampled."""

    end_ids: tuple[int, ...]
    pad_id: int
    blocked_ids: tuple[int, ...]

    @classmethod
    def of(cls, model: PreTrainedModel, processor: ProcessorMixin) -> AnswerTokens:
        """The end tokens from the model's own configuration: its chat template's end-of-turn token
        and its generation_config's eos list, else its text config's eos id, else the tokenizer's."""
        tokenizer = processor.tokenizer
        end_ids = _as_list(getattr(model.generation_config, "eos_token_id", None))
        if not end_ids:
            end_ids = _as_list(model.config.get_text_config().eos_token_id)
        if not end_ids:
            end_ids = _as_list(tokenizer.eos_token_id)
        end_of_turn = end_of_turn_id(processor)
        if end_of_turn is not None:
            end_ids = [end_of_turn, *end_ids]
        if not end_ids:
            raise ValueError(
                "The model names no end-of-answer token (no eos_token_id in its generation_config.json, "
                "config.json or tokenizer, and no end-of-turn token in its chat template); set "
                "generation_config.eos_token_id in the model folder."
            )
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else end_ids[0]
        vocabulary = tokenizer.get_vocab()
        named = [getattr(processor, name, None) for name in PROCESSOR_IMAGE_TOKENS]
        markers = {*VISION_PLACEHOLDERS, *(token for token in named if isinstance(token, str))}
        blocked = sorted(vocabulary[token] for token in markers if token in vocabulary)
        return cls(tuple(dict.fromkeys(end_ids)), int(pad_id), tuple(blocked))

    def first_end_mask(self, token_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """token_ids [B, L] -> (mask [B, L] bool: tokens up to and including the first end token,
        cut_off [B] bool: no end token within the L tokens)."""
        is_end = torch.isin(token_ids, torch.tensor(self.end_ids, device=token_ids.device))
        ends_before = torch.cumsum(is_end.long(), dim=1) - is_end.long()
        return ends_before == 0, ~is_end.any(dim=1)


def token_index_at(tokenizer: PreTrainedTokenizerBase, token_ids: torch.Tensor, char_offset: int) -> int:
    """Index of the answer token [L] whose decoded text covers character ``char_offset``
    (binary search over decoded prefixes, which grow with the prefix)."""
    low, high = 1, len(token_ids)
    while low < high:
        middle = (low + high) // 2
        decoded = tokenizer.decode(token_ids[:middle], skip_special_tokens=True)
        if len(decoded) > char_offset:
            high = middle
        else:
            low = middle + 1
    return low - 1


def answer_token_ids(tokenizer: PreTrainedTokenizerBase, tokens: AnswerTokens, answers: list[str]) -> list[torch.Tensor]:
    """Token ids of each answer followed by the end token, as the model would write them."""
    encoded = tokenizer(answers, add_special_tokens=False)["input_ids"]
    return [torch.tensor(ids + [tokens.end_ids[0]]) for ids in encoded]


def pad_answers(answers: list[torch.Tensor], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad answers [L_b] each: (token_ids [B, L] long, token_mask [B, L] bool)."""
    token_ids = pad_sequence(answers, batch_first=True, padding_value=pad_id)
    token_mask = pad_sequence([torch.ones(len(tokens), dtype=torch.bool) for tokens in answers], batch_first=True)
    return token_ids, token_mask
