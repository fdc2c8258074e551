"""One complete rollout batch, collected the way the algorithm's rollout mode says
(vldac.algorithms.base): ``steps`` (``rollout_steps`` lockstep steps of every env, episodes
resetting as they end) or ``episode_groups`` (one whole episode per env, ``group_size`` envs per
seed). The trainer looks its mode up in ROLLOUT_MODES by the name the algorithm declares.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vldac.algorithms import EPISODE_GROUPS, STEPS
from vldac.models.policy import VLMPolicy
from vldac.rollout.buffer import RolloutBuffer, StepRecord
from vldac.rollout.collector import (
    EpisodeStats,
    LockstepEnvs,
    RolloutSettings,
    StepTiming,
    collect_group_episodes,
    collect_rollout,
)


@dataclass
class Rollout:
    """One update's data. records [B]: the flat step records, in the order of ``steps``' grids
    reshaped (steps mode) or trajectory by trajectory (episode groups); trajectories: each env's
    records in time order; buffer: the [T, N] records of the steps mode (None for episode groups)."""

    records: list[StepRecord]
    trajectories: list[list[StepRecord]]
    episodes: EpisodeStats
    timing: StepTiming
    buffer: RolloutBuffer | None = None

    @property
    def steps(self) -> dict[str, torch.Tensor] | None:
        """The [T, N] grids of rewards, values, next values and flags (steps mode), read from the
        records as they are now (after any rescoring); None for episode groups."""
        return None if self.buffer is None else self.buffer.step_tensors()


class StepRollouts:
    """``rollout_steps`` steps of every env; a finished episode resets at once."""

    autoreset = True

    def collect(self, envs: LockstepEnvs, policy: VLMPolicy, settings: RolloutSettings, *, rollout_steps: int,
                group_size: int) -> Rollout:
        buffer, episodes, timing = collect_rollout(envs, policy, settings, rollout_steps)
        return Rollout(buffer.flat_records(), buffer.env_trajectories(), episodes, timing, buffer)


class EpisodeGroupRollouts:
    """One episode in every env, each consecutive ``group_size`` envs on one seed; an env whose
    episode ended waits for its group."""

    autoreset = False

    def collect(self, envs: LockstepEnvs, policy: VLMPolicy, settings: RolloutSettings, *, rollout_steps: int,
                group_size: int) -> Rollout:
        trajectories, episodes, timing = collect_group_episodes(envs, policy, settings, group_size)
        return Rollout([record for trajectory in trajectories for record in trajectory], trajectories, episodes, timing)


ROLLOUT_MODES = {STEPS: StepRollouts(), EPISODE_GROUPS: EpisodeGroupRollouts()}
"""The rollout mode each algorithm's ``rollout`` names."""
