"""How ``vldac bench`` plays and asks: the settings every suite shares, and the prompt's token budget."""

from __future__ import annotations

from dataclasses import dataclass

from vldac.config import setting
from vldac.models.policy import VLMPolicy


@dataclass(frozen=True)
class BenchSettings:
    """How a suite is run: ``episodes`` per task (None: BALROG's count; for a dataset, all its
    questions, else the first ``episodes`` of each task), ``max_steps`` cap
    (None: BALROG's limits), history lengths, the answer token limit (None: the agent's, 128 naive / 1,024
    chain of thought), the prompt token budget (None: the model's context less the answer's tokens)."""

    episodes: int | None = setting(None, at_least=1)
    seed: int = setting(0, at_least=0)
    max_steps: int | None = setting(None, at_least=1)
    agent: str = "naive"
    text_history: int = setting(16, at_least=1)
    image_history: int = setting(1, at_least=0, why="0: text only; at most --text-history")
    max_new_tokens: int | None = setting(None, at_least=1, why="the model's context limits it further")
    batch_size: int = setting(16, at_least=1, at_most=1024)
    greedy: bool = True
    temperature: float = setting(1.0, above=0, why="sampling divides the logits by it")
    token_budget: int | None = setting(None, at_least=1)


def model_context(policy: VLMPolicy) -> int:
    """The model's context length in tokens."""
    return int(getattr(policy.model.config.get_text_config(), "max_position_embeddings", 4096))


def prompt_budget(policy: VLMPolicy, settings: BenchSettings, answer_tokens: int) -> int:
    """The prompt's token limit: ``settings.token_budget``, or the context less the answer's tokens;
    one sentence when the two together do not fit the model's context."""
    context = model_context(policy)
    if answer_tokens >= context:
        raise ValueError(f"--max-new-tokens {answer_tokens} leaves no room for a prompt in the model's "
                         f"{context}-token context; give fewer.")
    if settings.token_budget and settings.token_budget + answer_tokens > context:
        raise ValueError(f"--token-budget {settings.token_budget} with {answer_tokens} answer tokens exceeds the model's "
                         f"{context}-token context; give at most {context - answer_tokens}.")
    return settings.token_budget or context - answer_tokens
