"""The research core: advantage estimators and losses of VL-DAC and its baselines (RL4VLM, LOOP,
GRPO, GiGPO) as pure functions over torch tensors, and each algorithm as one registered object
(vldac.algorithms.base.Algorithm) that the trainer calls; the README's "Algorithms and baselines" has
the table.

Adding an algorithm: one module defining an Algorithm subclass, and one entry in REGISTERED.
"""

from vldac.algorithms.advantages import gae, group_normalized, leave_one_out, normalize_advantages
from vldac.algorithms.base import EPISODE_GROUPS, STEPS, Advantages, Algorithm
from vldac.algorithms.critic import RL4VLM, VLDAC
from vldac.algorithms.gigpo import GiGPO
from vldac.algorithms.groups import GRPO, LOOP
from vldac.algorithms.losses import (
    answer_kl,
    clip_fraction,
    explained_variance,
    k3_kl,
    kl_penalty,
    masked_row_mean,
    rl4vlm_policy_loss,
    value_loss,
    vldac_policy_loss,
)
from vldac.config import ConfigError

REGISTERED: dict[str, Algorithm] = {algorithm.name: algorithm for algorithm in (VLDAC(), RL4VLM(), LOOP(), GRPO(), GiGPO())}
"""Every algorithm ``algorithm.name`` can select, by name."""


def algorithm_named(name: str) -> Algorithm:
    """The registered algorithm called ``name``; one sentence listing the registered ones when none is."""
    if name not in REGISTERED:
        raise ConfigError(f"algorithm.name '{name}' is unknown; use one of {', '.join(REGISTERED)}.")
    return REGISTERED[name]


__all__ = [
    "EPISODE_GROUPS",
    "REGISTERED",
    "STEPS",
    "Advantages",
    "Algorithm",
    "algorithm_named",
    "answer_kl",
    "clip_fraction",
    "explained_variance",
    "gae",
    "group_normalized",
    "k3_kl",
    "kl_penalty",
    "leave_one_out",
    "masked_row_mean",
    "normalize_advantages",
    "rl4vlm_policy_loss",
    "value_loss",
    "vldac_policy_loss",
]
