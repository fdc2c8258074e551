"""The scorer: log-probs of given answers and the step value, in ONE ``nn.Module.forward``.

The value head is a submodule of the scorer, so an engine that wraps the scorer (DDP, FSDP,
DeepSpeed) owns the LoRA adapters (or full weights) and the value head together and sees every
parameter once per step.

Shapes: B rows, P padded prompt length (left padding), L answer tokens (right padding), V vocabulary,
H the language model's hidden size.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import torch
from torch import nn
from transformers import PreTrainedModel

from vldac.models.final_states import captured_final_states
from vldac.models.families import backbone, supports_shared_prefix
from vldac.models.read_positions import last_layer_only_at
from vldac.models.shared_prefix import MIN_SHARED_TOKENS, align_after_prefix, forward_with_shared_prefix, shared_prefix_length
from vldac.models.value_head import ValueHead
from vldac.models.vision_cache import VisionFeatureCache, vision_inputs


def token_logprobs(logits: torch.Tensor, token_ids: torch.Tensor, temperature: float, blocked_ids: list[int]) -> torch.Tensor:
    """log softmax(logits / T) at token_ids over the vocabulary minus blocked_ids, in float32.

    logits [B, L, V], token_ids [B, L] -> [B, L]; computed as the token's scaled logit minus the
    log-sum-exp, so no second [B, L, V] tensor of log-probs is made.
    """
    scaled = logits.float() if temperature == 1.0 else logits.float() / temperature
    if blocked_ids:
        scaled = scaled.index_fill(-1, torch.tensor(blocked_ids, device=scaled.device), -torch.inf)
    return scaled.gather(-1, token_ids.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(scaled, dim=-1)


@contextmanager
def attention_kernels(model: PreTrainedModel, name: str | None) -> Iterator[None]:
    """Within the block the model attends with ``name``'s kernels (None: its own)."""
    target = backbone(model)
    own = target.config._attn_implementation
    if name is None or name == own:
        yield
        return
    target.set_attn_implementation(name)
    try:
        yield
    finally:
        target.set_attn_implementation(own)


def prompt_and_answer_inputs(prompts: dict, token_ids: torch.Tensor, token_mask: torch.Tensor) -> dict:
    """The model inputs of prompt + answer [B, P + L]: every per-token tensor of the prompt
    (input_ids, attention_mask, token type ids, ...) extended by the answer's columns."""
    inputs = dict(prompts)
    shape = prompts["input_ids"].shape
    for key, value in prompts.items():
        if torch.is_tensor(value) and value.dim() == 2 and value.shape == shape:
            if key == "input_ids":
                extension = token_ids
            elif key == "attention_mask":
                extension = token_mask.to(value.dtype)
            else:
                extension = torch.zeros_like(token_ids, dtype=value.dtype)
            inputs[key] = torch.cat([value, extension], dim=1)
    return inputs


class PolicyScorer(nn.Module):
    """log pi(a_t^i | s_t, a_t^<i) for given answers and V(s_t), from one forward of the VLM.

    ``model`` is the Hugging Face VLM (a peft model with LoRA, or the full model), ``value_head`` the
    step-level critic on the last prompt token's state. The frozen reference policy is the same
    network with its adapters disabled, or, for full fine-tuning, a frozen copy kept outside the
    module's parameters. With ``share_prefix`` (families that support it) the tokens every row
    begins with run once per forward (see ``vldac.models.shared_prefix``); with a
    ``vision_cache`` each frame's image features are computed once per run
    (``vldac.models.vision_cache``). ``attention``, when given, names the attention kernels of the
    scorer's forwards (transformers' ``set_attn_implementation``; the model's own are back after
    each forward, for generation).
    """

    def __init__(
        self,
        model: PreTrainedModel,
        value_head: ValueHead,
        blocked_ids: list[int],
        pad_id: int,
        frozen_reference: bool,
        share_prefix: bool = True,
        vision_cache: VisionFeatureCache | None = None,
        attention: str | None = None,
    ):
        super().__init__()
        self.attention = attention
        self.model = model
        self.value_head = value_head
        self.blocked_ids = list(blocked_ids)
        self.pad_id = pad_id
        self.share_prefix = share_prefix and supports_shared_prefix(model)
        self.vision_cache = vision_cache
        reference = copy.deepcopy(model).eval().requires_grad_(False) if frozen_reference else None
        # Held in a list so that its weights are not parameters (or buffers) of the scorer: an
        # engine wrapping the scorer, and .to(), never see it; it is made on the model's device.
        self._reference = [reference]

    @property
    def _no_split_modules(self) -> list[str]:
        """The family's decoder-layer (and vision-block) classes, which FSDP's transformer-layer
        wrapping makes one unit each when it wraps the scorer."""
        return sorted(getattr(self.model, "_no_split_modules", None) or [])

    def forward(
        self, prompts: dict, token_ids: torch.Tensor, token_mask: torch.Tensor, temperature: float, reference: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """prompts (input_ids [B, P] left-padded, images), token_ids / token_mask [B, L] ->
        (token_logprobs [B, L] float32, values [B] float32).

        With ``reference`` the log-probs are the frozen starting policy's and values is None. L may
        be 0: then only the values are computed (bootstrap values of observations).
        """
        model, context = self.model, nullcontext()
        if reference:
            if self._reference[0] is not None:
                model = self._reference[0]
            else:
                context = self.model.disable_adapter()
        length = token_ids.shape[1]
        # The last answer token's output is never read and no read position attends to it: it is
        # left out, and the last layer runs only at the ``read`` columns (last prompt token, then
        # the answer's tokens but the last).
        read = max(length, 1)
        answer_ids, answer_mask = token_ids[:, : read - 1], token_mask[:, : read - 1]
        prompts = vision_inputs(model, prompts, self.vision_cache)
        shared = shared_prefix_length(prompts) if self.share_prefix else 0
        with (context, captured_final_states(model) as states, last_layer_only_at(model, read),
              attention_kernels(model, self.attention)):
            if shared >= MIN_SHARED_TOKENS:
                inputs = prompt_and_answer_inputs(align_after_prefix(prompts, shared, self.pad_id), answer_ids, answer_mask)
                output = forward_with_shared_prefix(model, inputs, shared, logits_to_keep=read)
            else:
                inputs = prompt_and_answer_inputs(prompts, answer_ids, answer_mask)
                output = model(**inputs, logits_to_keep=read, use_cache=False)
        logprobs = token_logprobs(output.logits[:, read - length :], token_ids, temperature, self.blocked_ids)
        if reference:
            return logprobs, None
        return logprobs, self.value_head(states[0][:, -read])
