"""The PPO update of VL-DAC and its baselines (the algorithm ``algorithm.name`` registers, vldac.algorithms).

VL-DAC, token-level actor and step-level critic on the stop-gradient state:

    A_t  = GAE over environment steps (vldac.algorithms.gae), normalised over the batch
    rho  = exp(log pi(a_t^i) - log pi_old(a_t^i))                       per generated token
    L_pi = -mean_t [ (1/L_t) sum_i min(rho A_t, clip(rho, 1-eps, 1+eps) A_t) ]
    L_kl = mean_t [ (1/L_t) sum_i k3(log pi, log pi_ref) ]
    L_V  = 0.5 * mean_t (V(s_t) - R_t)^2,  V = MLP(stopgrad(h_t))
    L    = L_pi + beta * L_kl + alpha * L_V       (value warm-up updates: alpha * L_V only)

Each algorithm supplies L_pi (RL4VLM: PPO on one sequence log-prob per step, lambda * (thought
tokens) + (action tokens)) and says whether it has a critic; those without one (LOOP, GRPO, GiGPO)
have no L_V and no warm-up, every token of a step carrying the step's advantage in L_pi.

Gradient clipping applies to the policy parameters only; the value head has its own group.

With several ranks every rank takes the same number K of mini-batch steps per epoch (the
fewest any rank's data makes), splitting all of its rows into K mini-batches; each rank's loss is
scaled by W * n_rank / n_all (its share of the mini-batch's rows over all W ranks), so the
engine's averaged gradient is that of the mean over every rank's rows. One rank is W = 1:
scale 1, as without ranks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from vldac.algorithms import algorithm_named, clip_fraction, kl_penalty, value_loss
from vldac.config import AlgorithmSettings
from vldac.models.policy import VLMPolicy
from vldac.models.tokens import pad_answers
from vldac.rollout.buffer import StepRecord
from vldac.train.distributed import Ranks


@dataclass
class UpdateBatch:
    """Flattened steps of one rollout: records [B], advantages and returns [B] float32
    (returns are the critic's targets; unused by the algorithms without one)."""

    records: list[StepRecord]
    advantages: torch.Tensor
    returns: torch.Tensor


def minibatch_count(sizes: list[int], minibatch_size: int) -> int:
    """Mini-batch steps per epoch when the ranks hold ``sizes`` rows: the fewest any rank's rows
    make at ``minibatch_size`` (at least 1), so that no rank waits for another's step."""
    return min(max(1, round(size / minibatch_size)) for size in sizes)


def minibatch_rows(size: int, count: int) -> list[int]:
    """The rows in each of ``count`` mini-batches of ``size`` shuffled rows (as np.array_split)."""
    return [len(part) for part in np.array_split(np.arange(size), count)]


def ppo_update(
    policy: VLMPolicy,
    optimizer: torch.optim.Optimizer,
    policy_parameters: list[torch.nn.Parameter],
    batch: UpdateBatch,
    settings: AlgorithmSettings,
    temperature: float,
    value_only: bool,
    rng: np.random.Generator,
    *,
    ranks: Ranks,
    scorer: torch.nn.Module,
) -> dict[str, float]:
    """Several epochs of mini-batch steps over one rollout; returns mean losses and diagnostics.

    ``scorer`` is ``policy.scorer`` as the engine wrapped it (the forward with gradient goes
    through it); ``ranks`` holds the collectives (skips and the mini-batch count are decided
    together by all ranks).

    The reference log-probs are computed once, in the first epoch (every row appears once there).
    A mini-batch whose loss or gradient is not finite takes no optimiser step (counted in
    ``skipped_steps``; the means are over the steps taken, None when none was).
    ``first_ratio_error`` is max |log pi - log pi_old| on the first mini-batch of the first epoch:
    rollout and update agree when it is ~0.
    """
    records = batch.records
    token_ids, token_mask = pad_answers([r.token_ids for r in records], policy.pad_id)
    old_logprobs = pad_sequence([r.logprobs for r in records], batch_first=True)
    algorithm = algorithm_named(settings.name)
    prepared = algorithm.prepare(records, token_mask)
    use_kl = settings.kl_coef > 0 and not value_only
    reference_logprobs = torch.zeros_like(old_logprobs)
    sums = {"policy_loss": 0.0, "value_loss": 0.0, "kl": 0.0, "clip_fraction": 0.0, "first_ratio_error": 0.0}
    count = skipped = 0
    sizes = ranks.gather(len(records))
    steps_per_epoch = minibatch_count(sizes, settings.minibatch_size)
    rows_of_all_ranks = np.sum([minibatch_rows(size, steps_per_epoch) for size in sizes], axis=0)
    for epoch in range(settings.ppo_epochs):
        for step, rows in enumerate(np.array_split(rng.permutation(len(records)), steps_per_epoch)):
            prompts = policy.prompts([records[i].frames for i in rows], [records[i].text for i in rows])
            length = int(token_mask[rows].sum(1).max())
            device = policy.device
            ids, mask = token_ids[rows, :length].to(device), token_mask[rows, :length].to(device)
            old = old_logprobs[rows, :length].to(device)
            if use_kl and epoch == 0:
                with ranks.inference(scorer):
                    reference_logprobs[rows, :length] = policy.reference_logprobs(prompts, ids, mask, temperature).cpu()
            policy.model.train()
            logprobs, values = scorer(prompts, ids, mask, temperature)
            advantages, returns = batch.advantages[rows].to(device), batch.returns[rows].to(device)
            loss_policy = algorithm.policy_loss(
                logprobs, old, advantages, mask, {key: part[rows, :length].to(device) for key, part in prepared.items()},
                settings,
            )
            loss_value = value_loss(values, returns) if algorithm.has_critic else torch.zeros((), device=device)
            loss_kl = torch.zeros((), device=device)
            if use_kl:
                loss_kl = kl_penalty(logprobs, reference_logprobs[rows, :length].to(device), mask)
            if value_only:
                loss = settings.value_coef * loss_value
            else:
                loss = loss_policy + settings.kl_coef * loss_kl + settings.value_coef * loss_value
            optimizer.zero_grad(set_to_none=True)
            if epoch == 0 and step == 0:
                sums["first_ratio_error"] = float(((logprobs.detach() - old).abs() * mask).max())
            if ranks.any(not torch.isfinite(loss)):
                skipped += 1
                continue
            ranks.backward(loss * float(len(rows) * ranks.world_size / rows_of_all_ranks[step]))
            gradient_norm = ranks.clip_grad_norm_(policy_parameters, settings.max_grad_norm)
            value_gradients = [p.grad for p in policy.value_head.parameters() if p.grad is not None]
            finite = gradient_norm is None or bool(torch.isfinite(gradient_norm))
            if ranks.any(not (finite and torch.isfinite(torch.nn.utils.get_total_norm(value_gradients)))):
                optimizer.zero_grad(set_to_none=True)
                skipped += 1
                continue
            optimizer.step()
            sums["policy_loss"] += loss_policy.item()
            sums["value_loss"] += loss_value.item()
            sums["kl"] += loss_kl.item()
            sums["clip_fraction"] += float(clip_fraction(logprobs.detach(), old, mask, settings.clip_eps))
            count += 1
    means = {key: (value if key == "first_ratio_error" or not count else value / count) for key, value in sums.items()}
    if not count:
        means.update(policy_loss=None, value_loss=None, kl=None, clip_fraction=None)
    return {**means, "skipped_steps": skipped}
