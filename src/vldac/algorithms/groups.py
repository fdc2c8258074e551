"""The critic-free group baselines: LOOP and GRPO. Each trajectory's undiscounted return R_i is
compared with the other rollouts of its seed, and the result is every one of its tokens' advantage
in the token-level PPO loss:

    LOOP:  A_i = R_i - mean_{j in group(i), j != i} R_j                    (leave_one_out)
    GRPO:  A_i = (R_i - mean_group R) / (std_group R + eps)                (group_normalized)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from vldac.algorithms.advantages import group_normalized, leave_one_out
from vldac.algorithms.base import Advantages, Collectives, EpisodeGroupAlgorithm, RolloutData

if TYPE_CHECKING:
    from vldac.config import AlgorithmSettings


class TrajectoryGroupAlgorithm(EpisodeGroupAlgorithm):
    """One advantage per trajectory from the returns of its group (``trajectory_advantages``),
    given to all of its steps (each group lives on one rank)."""

    def trajectory_advantages(self, returns: torch.Tensor, group_ids: torch.Tensor) -> torch.Tensor:
        """returns [E], group_ids [E] -> advantages [E]."""
        raise NotImplementedError

    def advantages(self, rollout: RolloutData, settings: AlgorithmSettings, collectives: Collectives) -> Advantages:
        trajectories = rollout.trajectories
        groups = self.group_ids(trajectories, settings.group_size)
        per_trajectory = self.trajectory_advantages(self.episode_returns(trajectories), groups)
        return Advantages(self.per_step(per_trajectory, trajectories), torch.zeros(len(rollout.records)))


class LOOP(TrajectoryGroupAlgorithm):
    name = "loop"

    def trajectory_advantages(self, returns: torch.Tensor, group_ids: torch.Tensor) -> torch.Tensor:
        return leave_one_out(returns, group_ids)


class GRPO(TrajectoryGroupAlgorithm):
    name = "grpo"

    def trajectory_advantages(self, returns: torch.Tensor, group_ids: torch.Tensor) -> torch.Tensor:
        return group_normalized(returns, group_ids)
