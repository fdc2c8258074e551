"""The rollout engine: prompts -> sampled answers, with float32 log-probs of exactly the sampling
distribution, cut-off flags and the value head's inputs. Hugging Face ``generate`` with its KV cache.

The prompt tokens every row begins with are computed once, for one row (see
``vldac.models.shared_prefix``); the KV cache reserves its room up front
(``vldac.models.reserved_cache``). Memory beyond the weights and the KV cache is O(B x L): the sampled tokens' log-probs are taken
step by step (one [B, V] row at a time), the value head's input is the prefill's last-layer state
at the last prompt token, and no per-step logits or hidden states are kept.

Shapes: B prompts, P padded prompt length (left padding), L generated tokens, V vocabulary, H hidden size.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from transformers import BatchFeature, GenerationConfig, LogitsProcessor, LogitsProcessorList, PreTrainedModel
from transformers import PreTrainedTokenizerBase

from vldac.models.final_states import captured_final_states
from vldac.models.families import backbone, forget_position_offsets, supports_shared_prefix
from vldac.models.read_positions import last_layer_only_at
from vldac.models.reserved_cache import reserved_cache
from vldac.models.shared_prefix import MIN_SHARED_TOKENS, align_after_prefix, shared_prefix_cache, shared_prefix_length
from vldac.models.tokens import AnswerTokens
from vldac.models.vision_cache import VisionFeatureCache, vision_inputs


@dataclass
class Samples:
    """What one batched generation produced.

    token_ids [B, L] long (pad after the end), token_logprobs [B, L] float32 (0 where masked),
    token_mask [B, L] bool (tokens up to and including the first end token), cut_off [B] bool (no
    end token within the token limit), texts: decoded answers; prompt_states [B, H] (the value
    head's inputs) from the engine, and values [B] float32 once the value head has read them.
    """

    token_ids: torch.Tensor
    token_logprobs: torch.Tensor
    token_mask: torch.Tensor
    cut_off: torch.Tensor
    texts: list[str]
    values: torch.Tensor | None = None
    prompt_states: torch.Tensor | None = None


class SampledTokenLogprobs(LogitsProcessor):
    """The generation's only logits processor, and its sampler: computes
    log softmax(logits / T) over the vocabulary minus ``blocked_ids``, draws the next token from
    exactly that distribution (or takes its most likely token when ``greedy``), records the drawn
    token's float32 log-prob, and returns scores whose argmax is the drawn token, for the
    generation loop's greedy step to take.

    The draw is the exponential race, argmax_v (log p_v - log E_v) with E_v = -log U_v and U_v
    uniform on [0, 1): the same distribution as ``torch.multinomial``, from one uniform draw per
    logit. Holds one [B] row of log-probs per step, never a [B, V] tensor per step.
    """

    def __init__(self, temperature: float, blocked_ids: tuple[int, ...], greedy: bool = False):
        self.temperature = temperature
        self.blocked_ids = list(blocked_ids)
        self.greedy = greedy
        self.recorded: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        logprobs = scores.float() / self.temperature
        if self.blocked_ids:
            logprobs[:, self.blocked_ids] = -torch.inf
        logprobs = torch.log_softmax(logprobs, dim=-1)
        if self.greedy:
            token = logprobs.argmax(dim=-1, keepdim=True)
        else:
            exponential_log = torch.rand_like(logprobs).log_().neg_().log_()
            token = (logprobs - exponential_log).argmax(dim=-1, keepdim=True)
        self.recorded.append(logprobs.gather(1, token).squeeze(1))
        return torch.full_like(scores, -torch.inf).scatter_(1, token, 0.0)

    def logprobs(self) -> torch.Tensor:
        """[B, L] log-probs of the L tokens drawn."""
        return torch.stack(self.recorded, dim=1)


def sampling_config(max_new_tokens: int, tokens: AnswerTokens) -> GenerationConfig:
    """A generation configuration that adds no logits processor of its own and decodes greedily
    from whatever ``SampledTokenLogprobs`` (the sampler) returns.

    Greedy decoding adds no sampling warper (temperature, top-k, top-p, ...), so those of a model's
    own generation_config.json (Qwen2-VL-Instruct ships top_k=1, top_p=0.001) or of transformers'
    global defaults (top_k=50) cannot reach rollouts; every knob that would add another processor
    is set to its neutral value explicitly.
    """
    return GenerationConfig(
        do_sample=False,
        repetition_penalty=1.0,
        encoder_repetition_penalty=1.0,
        no_repeat_ngram_size=0,
        bad_words_ids=None,
        suppress_tokens=None,
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
        eos_token_id=list(tokens.end_ids),
        pad_token_id=tokens.pad_id,
        use_cache=True,
        return_dict_in_generate=False,
    )


@contextmanager
def neutral_model_generation_config(model: PreTrainedModel) -> Iterator[None]:
    """Hide the model's own generation_config while generating (its values fill every field the
    given configuration leaves unset, such as min_p). Under peft the config generate reads is the
    base model's, so that is the one hidden."""
    target = backbone(model)
    saved = target.generation_config
    target.generation_config = GenerationConfig()
    try:
        yield
    finally:
        target.generation_config = saved


class RolloutEngine:
    """Batched sampling from a Hugging Face VLM in eval mode, under no_grad."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        tokens: AnswerTokens,
        share_prefix: bool = True,
        vision_cache: VisionFeatureCache | None = None,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.tokens = tokens
        self.share_prefix = share_prefix and supports_shared_prefix(model)
        self.vision_cache = vision_cache

    @torch.no_grad()
    def generate(self, prompts: BatchFeature, temperature: float, max_new_tokens: int, greedy: bool = False) -> Samples:
        """Sample (or decode greedily) up to ``max_new_tokens`` per prompt. Log-probs are those of
        softmax(logits / T) (T = 1 when greedy) minus the blocked tokens: the distribution sampled."""
        self.model.eval()
        recorder = SampledTokenLogprobs(1.0 if greedy else temperature, self.tokens.blocked_ids, greedy)
        config = sampling_config(max_new_tokens, self.tokens)
        inputs = vision_inputs(self.model, prompts, self.vision_cache)
        forget_position_offsets(self.model)
        shared = shared_prefix_length(inputs) if self.share_prefix else 0
        prefix = None
        if shared >= MIN_SHARED_TOKENS:
            inputs = align_after_prefix(inputs, shared, self.tokens.pad_id)
            prefix = shared_prefix_cache(self.model, inputs, shared)
        reserved = reserved_cache(self.model, inputs["input_ids"].shape[1] + max_new_tokens, prefix)
        if reserved is not None or prefix is not None:
            inputs["cache"] = prefix if reserved is None else reserved
        with (neutral_model_generation_config(self.model), captured_final_states(self.model, prefill_only=True) as states,
              last_layer_only_at(self.model, 1)):
            sequences = self.model.generate(**inputs, generation_config=config, logits_processor=LogitsProcessorList([recorder]))
        token_ids = sequences[:, inputs["input_ids"].shape[1] :]
        token_mask, cut_off = self.tokens.first_end_mask(token_ids)
        logprobs = torch.where(token_mask, recorder.logprobs(), 0.0)
        texts = self.tokenizer.batch_decode(token_ids.masked_fill(~token_mask, self.tokens.pad_id), skip_special_tokens=True)
        return Samples(token_ids.clone(), logprobs, token_mask, cut_off, texts, prompt_states=states[0])
