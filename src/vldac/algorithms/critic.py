"""The algorithms with a step-level critic: VL-DAC and its RL4VLM baseline.

Both learn V(s_t) on the backbone's stop-gradient state and take their advantages from GAE over
environment steps, normalised over every rank's steps:

    A_t, R_t = GAE(r, V, V', terminated, truncated; gamma, lambda)          (vldac.algorithms.gae)
    A_t     <- (A_t - mean A) / std A                                      (normalize_advantages)

They differ in the policy loss: VL-DAC applies PPO to every generated token with its step's A_t;
RL4VLM to one sequence log-prob per step, lambda * (thought tokens) + (action tokens).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from vldac.algorithms.advantages import gae, normalize_advantages
from vldac.algorithms.base import Advantages, Algorithm, Collectives, RolloutData, Step
from vldac.algorithms.losses import explained_variance, rl4vlm_policy_loss

if TYPE_CHECKING:
    from vldac.config import AlgorithmSettings


class CriticAlgorithm(Algorithm):
    """Step rollouts, a critic, step-level GAE."""

    has_critic = True

    def advantages(self, rollout: RolloutData, settings: AlgorithmSettings, collectives: Collectives) -> Advantages:
        """GAE over this rank's [T, N] grids: advantages [B] (normalised over every rank's B steps),
        value targets [B], and the critic's explained variance over every rank's steps."""
        steps = rollout.steps
        advantages, returns = gae(
            steps["rewards"], steps["values"], steps["next_values"], steps["terminated"], steps["truncated"],
            settings.gamma, settings.gae_lambda,
        )
        advantages, returns = advantages.reshape(-1), returns.reshape(-1)
        if settings.normalize_advantages:
            size = len(advantages)
            advantages = normalize_advantages(collectives.cat(advantages))[collectives.rank * size : (collectives.rank + 1) * size]
        explained = explained_variance(collectives.cat(steps["values"].reshape(-1)), collectives.cat(returns))
        return Advantages(advantages, returns, explained)


class VLDAC(CriticAlgorithm):
    """VL-DAC: token-level PPO (the base class's policy loss), step-level critic."""

    name = "vldac"


class RL4VLM(CriticAlgorithm):
    """RL4VLM: PPO on lambda * log pi(thoughts) + log pi(action) per step (lambda = thought_weight)."""

    name = "rl4vlm"

    def prepare(self, records: list[Step], token_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """thought_mask and action_mask [B, L]: each answer split where its "action" field begins; an
        answer with no action field counts entirely as thoughts."""
        positions = torch.arange(token_mask.shape[1])
        starts = torch.tensor([r.action_start if r.action_start is not None else len(r.token_ids) for r in records])
        action_mask = token_mask & (positions[None, :] >= starts[:, None])
        return {"thought_mask": token_mask & ~action_mask, "action_mask": action_mask}

    def policy_loss(self, logprobs, old_logprobs, advantages, mask, prepared, settings) -> torch.Tensor:
        return rl4vlm_policy_loss(logprobs, old_logprobs, advantages, prepared["thought_mask"], prepared["action_mask"],
                                  settings.thought_weight, settings.clip_eps)
