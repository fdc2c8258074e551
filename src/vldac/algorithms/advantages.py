"""Advantage estimators: GAE over environment steps (VL-DAC, RL4VLM) and group baselines
over whole trajectories (LOOP, GRPO, GiGPO). Pure tensor math."""

import torch


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over environment steps.

    All inputs are [T, N], time first (T steps of N parallel envs)::

        delta_t = r_t + gamma * V'_t * (1 - terminated_t) - V_t
        A_t     = delta_t + gamma * lam * (1 - done_t) * A_{t+1},   A_T = 0
        R_t     = A_t + V_t

    where V'_t = ``next_values[t]`` is V of the observation that followed step t (for the
    last step of an episode, its final observation, before any reset) and
    done_t = terminated_t or truncated_t. A truncation (time limit) cuts the recursion but
    still bootstraps from V'_t; a termination does not bootstrap. When both flags are set
    the step counts as terminated. Flags may be bool or 0/1 floats. No normalisation here.

    Returns (advantages, returns), both [T, N].
    """
    if not rewards.shape == values.shape == next_values.shape == terminated.shape == truncated.shape:
        raise ValueError(
            "gae: rewards, values, next_values, terminated and truncated must share one [T, N] shape."
        )
    terminated = terminated.bool()
    done = terminated | truncated.bool()

    bootstrap = torch.where(terminated, torch.zeros_like(next_values), next_values)
    deltas = rewards + gamma * bootstrap - values
    advantages = torch.zeros_like(values)
    next_advantage = torch.zeros_like(values[0])  # A_{t+1}: [N]
    for t in reversed(range(rewards.shape[0])):
        next_advantage = deltas[t] + gamma * lam * (~done[t]) * next_advantage
        advantages[t] = next_advantage
    return advantages, advantages + values


def normalize_advantages(advantages: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(A - mean) / (std + eps), with the population std over every entry."""
    return (advantages - advantages.mean()) / (advantages.std(correction=0) + eps)


def _over_group(x: torch.Tensor, group_ids: torch.Tensor, reduce: str) -> torch.Tensor:
    """For each element of x [B], `reduce` ("sum", "amax" or "amin") of x over the elements
    that share its group id: [B]."""
    groups, group_index = torch.unique(group_ids, return_inverse=True)
    per_group = x.new_zeros(len(groups)).scatter_reduce(0, group_index, x, reduce, include_self=False)
    return per_group[group_index]


def leave_one_out(returns: torch.Tensor, group_ids: torch.Tensor) -> torch.Tensor:
    """LOOP advantage: A_i = R_i - mean_{j in group(i), j != i} R_j.

    returns [B] float (one return per trajectory), group_ids [B] long (trajectories of the
    same task share an id; ids need not be contiguous). A trajectory alone in its group has
    no baseline and gets advantage 0. Returns [B].
    """
    others = _over_group(torch.ones_like(returns), group_ids, "sum") - 1
    others_sum = _over_group(returns, group_ids, "sum") - returns
    advantages = returns - others_sum / others.clamp(min=1)
    return torch.where(others > 0, advantages, torch.zeros_like(returns))


def group_normalized(
    returns: torch.Tensor, group_ids: torch.Tensor, eps: float = 1e-6
) -> torch.Tensor:
    """GRPO advantage: A_i = (R_i - mean_g) / (std_g + eps) over the group g of i.

    returns [B] float, group_ids [B] long. std_g is the population std. A group whose
    returns are all equal (a group of one included) gets exactly 0. Returns [B].
    """
    size = _over_group(torch.ones_like(returns), group_ids, "sum")
    deviation = returns - _over_group(returns, group_ids, "sum") / size
    std = (_over_group(deviation**2, group_ids, "sum") / size).sqrt()
    all_equal = _over_group(returns, group_ids, "amax") == _over_group(returns, group_ids, "amin")
    return torch.where(all_equal, torch.zeros_like(returns), deviation / (std + eps))
