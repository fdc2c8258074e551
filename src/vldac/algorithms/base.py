"""What an algorithm is to the trainer: one object that says how its data is collected, whether it
has a critic, how its advantages are computed, what it prepares per batch and its policy loss.

The trainer and the PPO update call these methods and never test an algorithm's name. The rollout
and the collectives are described here by the few attributes an algorithm reads (protocols), so
this core knows no model, world or process group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch

from vldac.algorithms.losses import vldac_policy_loss

if TYPE_CHECKING:
    from vldac.config import AlgorithmSettings

STEPS = "steps"
"""Rollout mode: ``train.rollout_steps`` lockstep steps of every env, episodes resetting as they end."""
EPISODE_GROUPS = "episode_groups"
"""Rollout mode: one whole episode per env, each consecutive ``group_size`` envs on one seed."""


class Step(Protocol):
    """One environment step as an algorithm reads it."""

    frames: list[np.ndarray]
    text: str
    reward: float
    token_ids: torch.Tensor
    action_start: int | None


class RolloutData(Protocol):
    """One update's rollout. records [B]: the flat steps (row-major over ``steps``' [T, N] grids in
    the steps mode, trajectory by trajectory in the episode-groups mode); trajectories: each env's
    steps in time order; steps: the [T, N] grids (rewards, values, next_values float32;
    terminated, truncated bool) in the steps mode, else None."""

    records: list[Step]
    trajectories: list[list[Step]]
    steps: dict[str, torch.Tensor] | None


class Collectives(Protocol):
    """What an advantage computation needs from the other ranks (vldac.train.distributed.Ranks is
    one; a single process is rank 0 of 1)."""

    rank: int

    def cat(self, tensor: torch.Tensor) -> torch.Tensor:
        """Every rank's tensor concatenated in rank order (dim 0)."""


@dataclass
class Advantages:
    """advantages [B] and value targets [B] (zeros without a critic), in the order of the rollout's
    records, and the critic's explained variance (None without a critic)."""

    advantages: torch.Tensor
    returns: torch.Tensor
    explained_variance: float | None = None


class Algorithm:
    """The base of every registered algorithm: token-level PPO on the advantages it computes.

    name: what ``algorithm.name`` selects it by. rollout: STEPS or EPISODE_GROUPS. has_critic:
    trains the value head (its loss, the warm-up updates and the value targets).
    """

    name: str
    rollout: str = STEPS
    has_critic: bool = False

    def problems(self, settings: AlgorithmSettings, num_envs: int) -> list[str]:
        """Settings that do not fit this algorithm, one sentence each (none by default)."""
        return []

    def advantages(self, rollout: RolloutData, settings: AlgorithmSettings, collectives: Collectives) -> Advantages:
        raise NotImplementedError

    def prepare(self, records: list[Step], token_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-answer [B, L] tensors the policy loss needs beside the token mask (none by default);
        the update slices them by mini-batch rows."""
        return {}

    def policy_loss(
        self,
        logprobs: torch.Tensor,
        old_logprobs: torch.Tensor,
        advantages: torch.Tensor,
        mask: torch.Tensor,
        prepared: dict[str, torch.Tensor],
        settings: AlgorithmSettings,
    ) -> torch.Tensor:
        """Token-level clipped PPO (vldac_policy_loss); [B, L] inputs, advantages [B] -> scalar."""
        return vldac_policy_loss(logprobs, old_logprobs, advantages, mask, settings.clip_eps)


class EpisodeGroupAlgorithm(Algorithm):
    """A critic-free algorithm on episode groups: ``group_size`` rollouts of one seed per group."""

    rollout = EPISODE_GROUPS

    def problems(self, settings: AlgorithmSettings, num_envs: int) -> list[str]:
        if settings.group_size < 2:
            return [f"algorithm.group_size={settings.group_size} does not work: it must be at least 2 for {self.name}."]
        if num_envs % settings.group_size:
            return [f"env.num_envs ({num_envs}) must be a multiple of algorithm.group_size "
                    f"({settings.group_size}) for {self.name}."]
        return []

    @staticmethod
    def group_ids(trajectories: list[list[Step]], group_size: int) -> torch.Tensor:
        """[E] long: the group of each trajectory (consecutive envs of group_size share a seed)."""
        return torch.arange(len(trajectories)) // group_size

    @staticmethod
    def episode_returns(trajectories: list[list[Step]]) -> torch.Tensor:
        """[E] float32: each trajectory's undiscounted return."""
        return torch.tensor([sum(step.reward for step in trajectory) for trajectory in trajectories])

    @staticmethod
    def per_step(per_trajectory: torch.Tensor, trajectories: list[list[Step]]) -> torch.Tensor:
        """[E] -> [B]: each trajectory's value repeated over its steps, trajectory by trajectory."""
        return torch.cat([per_trajectory[i].expand(len(t)) for i, t in enumerate(trajectories)])
