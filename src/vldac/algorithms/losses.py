"""Losses of VL-DAC and its baselines over one mini-batch of environment steps.

Shapes: B steps (rows), each with a response of up to L generated tokens. ``logp``,
``old_logp``, ``ref_logp`` and the masks are [B, L]; a mask is True (or 1) on the tokens
that belong to the step's response. Advantages and values are per step: [B].
Token-level terms are averaged over each row's tokens, then over rows that have at least
one token (the VL-DAC paper's per-step token mean); a row with no token contributes nothing.
"""

import torch

LOG_RATIO_LIMIT = 20.0
"""Log-ratios are clamped to +-20 before exp(): a summed sequence log-ratio (RL4VLM) of a long
answer can otherwise overflow to inf (and inf * 0 advantage to NaN). Within the limit nothing
changes; beyond it a row's term stays at its value at the limit, with no gradient (a ratio of
e^20 is a broken step, not a signal)."""


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """k3 estimator of KL(pi || pi_ref) per token, elementwise and always >= 0:

        kl = exp(ref_logp - logp) - (ref_logp - logp) - 1

    computed as expm1(d) - d, which stays exact and >= 0 in floating point when d is small.
    """
    log_ratio = ref_logp - logp
    return torch.expm1(log_ratio) - log_ratio


def _masked_row_sum(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sum of x [B, L] over each row's valid tokens: [B]."""
    return torch.where(mask.bool(), x, torch.zeros_like(x)).sum(dim=-1)


def masked_row_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of x [B, L] over each row's valid tokens: [B]. A row with no valid token gives
    0; values under the mask's False entries never enter the result."""
    return _masked_row_sum(x, mask) / mask.bool().sum(dim=-1).clamp(min=1)


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of x over all entries where mask (same shape) holds: a scalar, 0 (still a graph
    node) when there are none."""
    mask = mask.bool()
    return torch.where(mask, x, torch.zeros_like(x)).sum() / mask.sum().clamp(min=1)


def _token_then_row_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x [B, L] -> scalar: token mean per row, then mean over rows with a valid token."""
    return _masked_mean(masked_row_mean(x, mask), mask.bool().any(dim=-1))


def _clipped_surrogate(
    log_ratio: torch.Tensor, advantages: torch.Tensor, clip_eps: float
) -> torch.Tensor:
    """PPO objective min(rho * A, clip(rho, 1 - eps, 1 + eps) * A) with rho = exp(log_ratio);
    advantages broadcast against log_ratio; log_ratio clamped to +-LOG_RATIO_LIMIT first."""
    ratio = torch.exp(log_ratio.clamp(-LOG_RATIO_LIMIT, LOG_RATIO_LIMIT))
    clipped_ratio = torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps)
    return torch.minimum(ratio * advantages, clipped_ratio * advantages)


def vldac_policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_eps: float,
) -> torch.Tensor:
    """Token-level PPO with the step's advantage on every token (VL-DAC actor):

        rho_{t,i} = exp(logp_{t,i} - old_logp_{t,i})
        L = - mean_t [ (1/L_t) sum_i min(rho_{t,i} A_t, clip(rho_{t,i}, 1-eps, 1+eps) A_t) ]

    logp, old_logp, mask [B, L]; advantages [B]. The mean over t runs over rows with at
    least one valid token; with none the loss is 0 and still differentiable.
    LOOP and GRPO use this same loss with their trajectory advantages
    (``leave_one_out``, ``group_normalized``) broadcast to each of the trajectory's steps.
    """
    surrogate = _clipped_surrogate(logp - old_logp, advantages[:, None], clip_eps)
    return -_token_then_row_mean(surrogate, mask)


def kl_penalty(logp: torch.Tensor, ref_logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """k3 KL to the reference policy, aggregated like the policy loss (token mean per row,
    then mean over non-empty rows): [B, L] -> scalar."""
    return _token_then_row_mean(k3_kl(logp, ref_logp), mask)


def answer_kl(logp: torch.Tensor, other_logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """KL(pi || pi_other) per answer, estimated on answers sampled from pi: the k3 estimate of each
    valid token summed over the answer (the chain rule over its tokens), in nats: [B, L] -> [B]."""
    return _masked_row_sum(k3_kl(logp, other_logp), mask)


def value_loss(values: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
    """0.5 * mean (V - R)^2 over every step."""
    return 0.5 * ((values - returns) ** 2).mean()


@torch.no_grad()
def clip_fraction(
    logp: torch.Tensor, old_logp: torch.Tensor, mask: torch.Tensor, clip_eps: float
) -> torch.Tensor:
    """Fraction of valid tokens whose ratio is outside the clip range, |rho - 1| > eps
    (0-dim float tensor; 0 with no valid token). [B, L] inputs."""
    outside = (torch.exp((logp - old_logp).clamp(-LOG_RATIO_LIMIT, LOG_RATIO_LIMIT)) - 1).abs() > clip_eps
    return _masked_mean(outside.float(), mask)


@torch.no_grad()
def explained_variance(values: torch.Tensor, returns: torch.Tensor) -> float:
    """1 - Var(R - V) / Var(R) over all entries: 1 is a perfect critic, 0 no better than a
    constant, below 0 worse. NaN when Var(R) is 0."""
    variance = returns.var(correction=0)
    if variance == 0:
        return float("nan")
    return float(1 - (returns - values).var(correction=0) / variance)


def rl4vlm_policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    thought_mask: torch.Tensor,
    action_mask: torch.Tensor,
    thought_weight: float,
    clip_eps: float,
) -> torch.Tensor:
    """RL4VLM baseline: PPO on one weighted sequence log-prob per step.

        log pi(a_t) = lambda * sum(logp over thought tokens) + sum(logp over action tokens)
        rho_t = exp(log pi(a_t) - log pi_old(a_t))
        L = - mean_t min(rho_t A_t, clip(rho_t, 1-eps, 1+eps) A_t)

    lambda = thought_weight. logp, old_logp, thought_mask, action_mask [B, L]; advantages
    [B]. The mean runs over rows with at least one thought or action token; with none the
    loss is 0 and still differentiable.
    """
    log_ratio = logp - old_logp  # [B, L]
    thought_log_ratio = _masked_row_sum(log_ratio, thought_mask)  # [B]
    action_log_ratio = _masked_row_sum(log_ratio, action_mask)  # [B]
    sequence_log_ratio = thought_weight * thought_log_ratio + action_log_ratio
    surrogate = _clipped_surrogate(sequence_log_ratio, advantages, clip_eps)
    nonempty = (thought_mask.bool() | action_mask.bool()).any(dim=-1)
    return -_masked_mean(surrogate, nonempty)
