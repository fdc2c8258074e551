"""GiGPO (Feng et al. 2025, "Group-in-Group Policy Optimization for LLM Agent Training"): the
GRPO episode groups plus step-level groups of the steps, in those episodes, that saw the same
state (anchor states), with no critic.

For the group g of ``group_size`` episodes of one seed, episode i with step rewards r^i_t:

    A^E_i     = (R_i - mean_{j in g} R_j) / (std_{j in g} R_j + eps),   R_i = sum_t r^i_t
    G^i_t     = sum_{k >= t} gamma^(k - t) r^i_k                    (discounted return from step t)
    S(i, t)   = {(j, u) : j in g, o^j_u = o^i_t}                    (the anchor group of step t of i)
    A^S_{i,t} = (G^i_t - mean_{S(i,t)} G) / (std_{S(i,t)} G + eps)
    A_{i,t}   = A^E_i + omega * A^S_{i,t}

and A_{i,t} is every token's advantage of step t in the token-level PPO loss. A normalised group
whose values are all equal, an anchor group of one step included, gives exactly 0
(``group_normalized``), so a step no other rollout of its seed saw keeps its episode advantage.

Choices the paper leaves open, as made here:
- o^i_t is the observation as the policy's prompt holds it: every frame of its frame history bit
  for bit (shape, dtype and bytes) and the instruction text. Equality is exact, no similarity.
- Anchor groups never cross episode groups (two seeds' states are not compared).
- gamma is ``algorithm.gamma``, whose default is VL-DAC's 0.99; the paper uses 0.95, so set
  ``algorithm.gamma=0.95`` with ``algorithm.name=gigpo`` (the robustness study's cells do).
- omega = 1 (the paper's weight); F_norm is the population standard deviation plus eps 1e-6, as
  vldac's GRPO (``group_normalized``; the paper's default normalisation is the standard deviation,
  its "mean_norm" variant divides by 1; verl-agent takes the sample standard deviation).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from vldac.algorithms.advantages import group_normalized
from vldac.algorithms.base import Advantages, Collectives, EpisodeGroupAlgorithm, RolloutData, Step

if TYPE_CHECKING:
    from vldac.config import AlgorithmSettings

STEP_ADVANTAGE_WEIGHT = 1.0
"""omega, the weight of the step-level advantage (the paper's)."""


def observation_key(step: Step) -> tuple:
    """What makes two steps' observations the same: the text and every frame, bit for bit."""
    return step.text, tuple((frame.shape, frame.dtype.str, frame.tobytes()) for frame in step.frames)


def discounted_returns(rewards: list[float], gamma: float) -> list[float]:
    """G_t = r_t + gamma * G_{t+1} over one episode's rewards (G after its last step is 0)."""
    returns, following = [], 0.0
    for reward in reversed(rewards):
        following = reward + gamma * following
        returns.append(following)
    return returns[::-1]


def anchor_group_ids(trajectories: list[list[Step]], episode_group_ids: torch.Tensor) -> torch.Tensor:
    """[B] long, trajectory by trajectory: steps share an id exactly when they are in the same
    episode group and saw the same observation (``observation_key``)."""
    ids: dict[tuple, int] = {}
    return torch.tensor([
        ids.setdefault((int(episode_group_ids[i]), observation_key(step)), len(ids))
        for i, trajectory in enumerate(trajectories) for step in trajectory
    ])


class GiGPO(EpisodeGroupAlgorithm):
    name = "gigpo"

    def advantages(self, rollout: RolloutData, settings: AlgorithmSettings, collectives: Collectives) -> Advantages:
        """A^E_i + omega * A^S_{i,t} for every step, trajectory by trajectory (each episode group lives on one rank)."""
        trajectories = rollout.trajectories
        groups = self.group_ids(trajectories, settings.group_size)
        episode = self.per_step(group_normalized(self.episode_returns(trajectories), groups), trajectories)
        step_returns = torch.tensor([
            value for trajectory in trajectories
            for value in discounted_returns([step.reward for step in trajectory], settings.gamma)
        ])
        step = group_normalized(step_returns, anchor_group_ids(trajectories, groups))
        return Advantages(episode + STEP_ADVANTAGE_WEIGHT * step, torch.zeros(len(rollout.records)))
