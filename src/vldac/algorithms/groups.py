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


class LOOP(EpisodeGroupAlgorithm):
    name = "loop"

    def advantages(self, rollout: RolloutData, settings: AlgorithmSettings, collectives: Collectives) -> Advantages:
        """One leave-one-out advantage per trajectory, given to all of its steps (its group lives on one rank)."""
        trajectories = rollout.trajectories
        per_trajectory = leave_one_out(self.episode_returns(trajectories), self.group_ids(trajectories, settings.group_size))
        return Advantages(self.per_step(per_trajectory, trajectories), torch.zeros(len(rollout.records)))


class GRPO(EpisodeGroupAlgorithm):
    name = "grpo"

    def advantages(self, rollout: RolloutData, settings: AlgorithmSettings, collectives: Collectives) -> Advantages:
        """One group-normalised advantage per trajectory, given to all of its steps."""
        trajectories = rollout.trajectories
        per_trajectory = group_normalized(self.episode_returns(trajectories), self.group_ids(trajectories, settings.group_size))
        return Advantages(self.per_step(per_trajectory, trajectories), torch.zeros(len(rollout.records)))
