"""A VLM as a policy: the prompt encoder, the rollout engine and the scorer behind one small interface.

- ``prompts``: frame histories and instructions -> left-padded model inputs (``encode_prompts``).
- ``sample``: the rollout engine's answers, with V(s) from the value head on the engine's
  prompt states.
- ``score`` / ``reference_logprobs``: the scorer's one forward, with gradient or without.
- ``observation_values`` / ``rescore``: no-grad scoring of many rows, in chunks of ``chunk_size``.

Shapes: B prompts, P padded prompt length, L answer tokens.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from transformers import BatchFeature, PreTrainedModel, ProcessorMixin

from vldac.models.engine import RolloutEngine, Samples
from vldac.models.prompts import PromptEncoder
from vldac.models.scorer import PolicyScorer
from vldac.models.tokens import AnswerTokens, pad_answers, token_index_at
from vldac.models.value_head import ValueHead
from vldac.models.families import supports_vision_cache
from vldac.models.vision_cache import VisionFeatureCache

Observation = tuple[list[np.ndarray], str]
"""(frames oldest first, instruction text)."""


class VLMPolicy:
    """A Hugging Face VLM (optionally with LoRA), its processor, the value head and the reference."""

    def __init__(
        self,
        model: PreTrainedModel,
        processor: ProcessorMixin,
        value_head: ValueHead,
        frozen_reference: bool = False,
        chunk_size: int = 32,
        share_prefix: bool = True,
        instruction_first: bool = False,
        vision_cache_frames: int = 0,
        scoring_attention: str | None = None,
    ):
        self.processor = processor
        self.tokens = AnswerTokens.of(model, processor)
        cache = VisionFeatureCache(vision_cache_frames) if vision_cache_frames and supports_vision_cache(model) else None
        self.scorer = PolicyScorer(
            model, value_head, self.tokens.blocked_ids, self.tokens.pad_id, frozen_reference, share_prefix, cache,
            scoring_attention,
        )
        self.engine = RolloutEngine(model, processor.tokenizer, self.tokens, share_prefix, cache)
        self.chunk_size = chunk_size
        self.encode = PromptEncoder(processor, instruction_first, cache, capacity=vision_cache_frames)

    @property
    def model(self) -> PreTrainedModel:
        return self.scorer.model

    @property
    def value_head(self) -> ValueHead:
        return self.scorer.value_head

    @property
    def pad_id(self) -> int:
        return self.tokens.pad_id

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def prompts(self, frame_histories: list[list[np.ndarray]], instructions: list[str]) -> BatchFeature:
        """Model inputs on the policy's device (see ``encode_prompts``; prompts met before are
        rebuilt from their tokens where their frames' features are cached)."""
        return self.encode(frame_histories, instructions).to(self.device)

    def forget_frames(self) -> None:
        """Empty the vision-feature cache and the remembered prompts, so that what follows is
        computed as in a process that starts here (a resumed run continues bit for bit)."""
        if self.scorer.vision_cache is not None:
            self.scorer.vision_cache.features.clear()
        self.encode.rows.clear()

    @torch.no_grad()
    def sample(self, prompts: BatchFeature, temperature: float, max_new_tokens: int, greedy: bool = False) -> Samples:
        """One batched generation; values [B] from the value head on the prefill's prompt states."""
        samples = self.engine.generate(prompts, temperature, max_new_tokens, greedy)
        return dataclasses.replace(samples, values=self.value_head(samples.prompt_states), prompt_states=None)

    def score(
        self, prompts: BatchFeature, token_ids: torch.Tensor, token_mask: torch.Tensor, temperature: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(token_logprobs [B, L] float32, values [B] float32), with gradient."""
        return self.scorer(prompts, token_ids, token_mask, temperature)

    @torch.no_grad()
    def reference_logprobs(
        self, prompts: BatchFeature, token_ids: torch.Tensor, token_mask: torch.Tensor, temperature: float
    ) -> torch.Tensor:
        """Log-probs [B, L] under the frozen starting policy."""
        return self.scorer(prompts, token_ids, token_mask, temperature, reference=True)[0]

    @torch.no_grad()
    def observation_values(self, observations: list[Observation]) -> torch.Tensor:
        """V(s) [N] of N observations (bootstrap values), in chunks of ``chunk_size``."""
        values = []
        for start in range(0, len(observations), self.chunk_size):
            chunk = observations[start : start + self.chunk_size]
            prompts = self.prompts([frames for frames, _ in chunk], [text for _, text in chunk])
            empty = torch.zeros((len(chunk), 0), dtype=torch.long, device=self.device)
            values.append(self.scorer(prompts, empty, empty.bool(), 1.0)[1])
        return torch.cat(values).cpu()

    @torch.no_grad()
    def rescore(
        self, observations: list[Observation], answers: list[torch.Tensor], temperature: float
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The scorer's log-probs ([L_n] each) and values [N] of N recorded answers, in chunks, in
        train mode: what the update's first forward computes, for backends whose sampler's numerics
        differ from the trainer's."""
        logprobs, values = [], []
        for start in range(0, len(observations), self.chunk_size):
            chunk = observations[start : start + self.chunk_size]
            chunk_answers = answers[start : start + self.chunk_size]
            prompts = self.prompts([frames for frames, _ in chunk], [text for _, text in chunk])
            token_ids, token_mask = pad_answers(chunk_answers, self.pad_id)
            self.model.train()
            chunk_logprobs, chunk_values = self.scorer(prompts, token_ids.to(self.device), token_mask.to(self.device), temperature)
            logprobs += [row[: len(answer)].cpu() for row, answer in zip(chunk_logprobs, chunk_answers, strict=True)]
            values.append(chunk_values.cpu())
        return logprobs, torch.cat(values)

    def answer_text(self, token_ids: list[int]) -> str:
        """An answer's text from its token ids, as the rollout decodes it (special tokens dropped)."""
        return self.processor.tokenizer.decode(token_ids, skip_special_tokens=True)

    def token_index_at(self, token_ids: torch.Tensor, char_offset: int) -> int:
        """Index of the answer token [L] whose decoded text covers character ``char_offset``."""
        return token_index_at(self.processor.tokenizer, token_ids, char_offset)
