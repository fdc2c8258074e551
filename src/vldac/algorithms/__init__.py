"""The research core: advantage estimators and losses of VL-DAC and its baselines
(RL4VLM, LOOP, GRPO) as pure functions over torch tensors. See algorithm.md."""

from vldac.algorithms.advantages import gae, group_normalized, leave_one_out, normalize_advantages
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

__all__ = [
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
