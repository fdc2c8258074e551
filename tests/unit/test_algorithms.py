"""vldac.algorithms against hand-worked examples (the arithmetic is in the comments)."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from vldac.algorithms import (
    EPISODE_GROUPS,
    algorithm_named,
    clip_fraction,
    explained_variance,
    gae,
    group_normalized,
    k3_kl,
    kl_penalty,
    leave_one_out,
    masked_row_mean,
    normalize_advantages,
    rl4vlm_policy_loss,
    value_loss,
    vldac_policy_loss,
)
from vldac.algorithms.gigpo import GiGPO, anchor_group_ids, discounted_returns
from vldac.config import AlgorithmSettings, ConfigError


def columns(*envs):
    """One list per env -> a [T, N] tensor (time first)."""
    return torch.tensor(envs, dtype=torch.float32).T


# ---------------------------------------------------------------- GAE
# gamma = 0.9, lam = 0.8, so gamma * lam = 0.72. Two envs, four steps.
#
# env 0: terminates at t=1, a new episode runs t=2..3 and the rollout stops there.
#   r = [1, 0, 2, 1]   V = [1, 2, 1, 0]   V' = [2, 5, 0, 1]   (V'[1] = 5 is ignored: terminated)
#   delta0 = 1 + 0.9*2 - 1 = 1.8         delta1 = 0 + 0      - 2 = -2
#   delta2 = 2 + 0.9*0 - 1 = 1           delta3 = 1 + 0.9*1 - 0 = 1.9
#   A3 = 1.9                             (rollout end: A4 = 0)
#   A2 = 1 + 0.72*1.9 = 2.368
#   A1 = -2                              (done: no carry from A2)
#   A0 = 1.8 + 0.72*(-2) = 0.36
#   R = A + V = [1.36, 0, 3.368, 1.9]
#
# env 1: truncated (time limit) at t=2, bootstrapping from its final observation, V' = 4.
#   r = [0, 1, -1, 0]  V = [1, 1, 2, 1]   V' = [1, 2, 4, 2]
#   delta0 = 0 + 0.9*1 - 1 = -0.1        delta1 = 1 + 0.9*2 - 1 = 1.8
#   delta2 = -1 + 0.9*4 - 2 = 0.6        delta3 = 0 + 0.9*2 - 1 = 0.8
#   A3 = 0.8
#   A2 = 0.6                             (done: no carry from A3, but V' still used)
#   A1 = 1.8 + 0.72*0.6 = 2.232
#   A0 = -0.1 + 0.72*2.232 = 1.50704
#   R = A + V = [2.50704, 3.232, 2.6, 1.8]
GAMMA, LAM = 0.9, 0.8
REWARDS = columns([1, 0, 2, 1], [0, 1, -1, 0])
VALUES = columns([1, 2, 1, 0], [1, 1, 2, 1])
NEXT_VALUES = columns([2, 5, 0, 1], [1, 2, 4, 2])
TERMINATED = columns([0, 1, 0, 0], [0, 0, 0, 0]).bool()
TRUNCATED = columns([0, 0, 0, 0], [0, 0, 1, 0]).bool()
EXPECTED_ADVANTAGES = columns([0.36, -2, 2.368, 1.9], [1.50704, 2.232, 0.6, 0.8])
EXPECTED_RETURNS = columns([1.36, 0, 3.368, 1.9], [2.50704, 3.232, 2.6, 1.8])


def test_gae_with_a_termination_and_a_truncation():
    advantages, returns = gae(REWARDS, VALUES, NEXT_VALUES, TERMINATED, TRUNCATED, GAMMA, LAM)
    assert_close(advantages, EXPECTED_ADVANTAGES)
    assert_close(returns, EXPECTED_RETURNS)


def test_gae_accepts_float_flags():
    advantages, returns = gae(
        REWARDS, VALUES, NEXT_VALUES, TERMINATED.float(), TRUNCATED.float(), GAMMA, LAM
    )
    assert_close(advantages, EXPECTED_ADVANTAGES)
    assert_close(returns, EXPECTED_RETURNS)


def test_gae_terminated_wins_over_truncated():
    # Setting truncated as well on env 0's terminal step changes nothing.
    both = TRUNCATED | TERMINATED
    advantages, _ = gae(REWARDS, VALUES, NEXT_VALUES, TERMINATED, both, GAMMA, LAM)
    assert_close(advantages, EXPECTED_ADVANTAGES)
    # Truncated alone there bootstraps from V'[1] = 5 instead:
    #   A1 = 0 + 0.9*5 - 2 = 2.5;   A0 = 1.8 + 0.72*2.5 = 3.6
    advantages, _ = gae(REWARDS, VALUES, NEXT_VALUES, torch.zeros_like(TERMINATED), both, GAMMA, LAM)
    assert_close(advantages[:, 0], torch.tensor([3.6, 2.5, 2.368, 1.9]))


def test_gae_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        gae(REWARDS, VALUES[:3], NEXT_VALUES, TERMINATED, TRUNCATED, GAMMA, LAM)


def test_normalize_advantages():
    # [1, 2, 3]: mean 2, population std sqrt(2/3) = 0.816497 -> [-1.224745, 0, 1.224745]
    assert_close(normalize_advantages(torch.tensor([1.0, 2.0, 3.0])), torch.tensor([-1.224745, 0.0, 1.224745]))
    normalized = normalize_advantages(torch.randn(64, generator=torch.Generator().manual_seed(0)) * 5 + 3)
    assert_close(normalized.mean(), torch.tensor(0.0), atol=1e-6, rtol=0)
    assert_close(normalized.std(correction=0), torch.tensor(1.0))


# ------------------------------------------------------ group baselines
def test_leave_one_out():
    # group 0: returns {1, 2, 6}: 1 - (2+6)/2 = -3;  2 - (1+6)/2 = -1.5;  6 - (1+2)/2 = 4.5
    # group 7: {5} alone -> 0
    # group 3: {3, 1}: 3 - 1 = 2;  1 - 3 = -2
    returns = torch.tensor([1.0, 2.0, 6.0, 5.0, 3.0, 1.0])
    group_ids = torch.tensor([0, 0, 0, 7, 3, 3])
    assert_close(leave_one_out(returns, group_ids), torch.tensor([-3.0, -1.5, 4.5, 0.0, 2.0, -2.0]))


def test_group_normalized():
    # group 0: {1, 3}: mean 2, std 1 -> -1/(1+1e-6), 1/(1+1e-6)
    # group 1: {0, 0, 0, 4}: mean 1, var (1+1+1+9)/4 = 3 -> (-1, -1, -1, 3) / (sqrt(3)+1e-6)
    # group 2: {0.1, 0.1, 0.1} all equal -> exactly 0 (0.1 is inexact in binary: no 1e-11 residue)
    # group 3: {5} alone -> exactly 0
    returns = torch.tensor([1.0, 3.0, 0.0, 0.0, 0.0, 4.0, 0.1, 0.1, 0.1, 5.0])
    group_ids = torch.tensor([0, 0, 1, 1, 1, 1, 2, 2, 2, 3])
    s = math.sqrt(3) + 1e-6
    expected = torch.tensor([-1 / (1 + 1e-6), 1 / (1 + 1e-6), -1 / s, -1 / s, -1 / s, 3 / s, 0, 0, 0, 0])
    advantages = group_normalized(returns, group_ids)
    assert_close(advantages, expected)
    assert torch.equal(advantages[6:], torch.zeros(4))


# ------------------------------------------------------------- losses
def test_k3_kl_at_hand_values():
    # logp = -1, ref = -2: ref - logp = -1 -> exp(-1) + 1 - 1 = 0.367879
    # logp = -2, ref = -1: ref - logp = +1 -> exp(1) - 1 - 1 = 0.718282
    assert_close(k3_kl(torch.tensor([-1.0, -2.0]), torch.tensor([-2.0, -1.0])),
                 torch.tensor([math.exp(-1), math.e - 2]))
    generator = torch.Generator().manual_seed(0)
    logp = torch.randn(10_000, generator=generator)
    assert torch.equal(k3_kl(logp, logp), torch.zeros(10_000))
    # >= 0 also for tiny differences, where exp(d) - d - 1 cancels badly in float32.
    scale = torch.logspace(-10, 0, 10_000)
    assert (k3_kl(logp, logp + scale * torch.randn(10_000, generator=generator)) >= 0).all()


# A batch of four steps, up to four tokens each, clip eps = 0.2, old_logp = -1 everywhere.
#   row 0, A = +1, 3 tokens, ratios 1.5, 0.5, 1.0:
#          min(1.5, 1.2) = 1.2   min(0.5, 0.8) = 0.5   1.0        -> mean 2.7/3 = 0.9
#   row 1, A = -2, 2 tokens, ratios 1.5, 0.5:
#          min(-3, -2.4) = -3    min(-1, -1.6) = -1.6             -> mean -4.6/2 = -2.3
#   row 2, no valid token: excluded from the mean over rows.
#   row 3, A = 0.5, 1 token, ratio 1.1: 0.55                      -> mean 0.55
#   loss = -(0.9 - 2.3 + 0.55) / 3 = 0.85 / 3 = 0.283333
# Padded slots hold logp = 3 (ratio e^4) and must not count.
CLIP_EPS = 0.2
RATIOS = torch.tensor([
    [1.5, 0.5, 1.0, math.exp(4)],
    [1.5, 0.5, math.exp(4), math.exp(4)],
    [math.exp(4)] * 4,
    [1.1, math.exp(4), math.exp(4), math.exp(4)],
])
OLD_LOGP = torch.full((4, 4), -1.0)
MASK = torch.tensor([
    [True, True, True, False],
    [True, True, False, False],
    [False, False, False, False],
    [True, False, False, False],
])
ADVANTAGES = torch.tensor([1.0, -2.0, 7.0, 0.5])


def test_vldac_policy_loss_hand_example():
    logp = (OLD_LOGP + RATIOS.log()).requires_grad_()
    loss = vldac_policy_loss(logp, OLD_LOGP, ADVANTAGES, MASK, CLIP_EPS)
    assert_close(loss, torch.tensor(0.85 / 3))
    loss.backward()
    # d loss / d logp = -(1/rows) (1/L_t) rho A on unclipped tokens, 0 where the clip binds:
    #   row 0: [0, -(1/9)*0.5, -(1/9)*1.0, 0]   row 1: [-(1/6)*1.5*(-2) = 0.5, 0, 0, 0]
    #   row 3: [-(1/3)*1.1*0.5 = -0.183333, 0, 0, 0]
    expected_grad = torch.tensor([
        [0.0, -0.5 / 9, -1.0 / 9, 0.0],
        [0.5, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0],
        [-0.55 / 3, 0.0, 0.0, 0.0],
    ])
    assert_close(logp.grad, expected_grad)


def test_vldac_policy_loss_accepts_a_float_mask():
    logp = OLD_LOGP + RATIOS.log()
    loss = vldac_policy_loss(logp, OLD_LOGP, ADVANTAGES, MASK.float(), CLIP_EPS)
    assert_close(loss, torch.tensor(0.85 / 3))


def test_losses_with_every_row_masked_are_zero_with_finite_gradients():
    logp = (OLD_LOGP + RATIOS.log()).requires_grad_()
    empty = torch.zeros_like(MASK)
    losses = [
        vldac_policy_loss(logp, OLD_LOGP, ADVANTAGES, empty, CLIP_EPS),
        kl_penalty(logp, OLD_LOGP, empty),
        rl4vlm_policy_loss(logp, OLD_LOGP, ADVANTAGES, empty, empty, 0.5, CLIP_EPS),
    ]
    for loss in losses:
        assert loss.item() == 0.0
        (grad,) = torch.autograd.grad(loss, logp)
        assert torch.isfinite(grad).all()


def test_masked_row_mean():
    # row 0: (1 + 3) / 2 = 2;  row 1: no valid token -> 0 (the NaN is masked out)
    x = torch.tensor([[1.0, 3.0, 100.0], [float("nan"), 5.0, 6.0]])
    mask = torch.tensor([[1, 1, 0], [0, 0, 0]])
    assert_close(masked_row_mean(x, mask), torch.tensor([2.0, 0.0]))


def test_kl_penalty_aggregates_like_the_policy_loss():
    # row 0: tokens k3 = exp(-1) and e - 2 -> mean (0.367879 + 0.718282)/2 = 0.543081
    # row 1: one token, logp = ref -> 0;   row 2: empty, excluded
    # penalty = (0.543081 + 0) / 2 = 0.271540
    logp = torch.tensor([[-1.0, -2.0], [-0.3, 9.0], [9.0, 9.0]])
    ref_logp = torch.tensor([[-2.0, -1.0], [-0.3, 0.0], [0.0, 0.0]])
    mask = torch.tensor([[True, True], [True, False], [False, False]])
    expected = (math.exp(-1) + math.e - 2) / 4
    assert_close(kl_penalty(logp, ref_logp, mask), torch.tensor(expected))


def test_clip_fraction():
    # Valid ratios 1.5, 0.5, 1.0, 1.5, 0.5, 1.1; outside [0.8, 1.2]: 1.5, 0.5, 1.5, 0.5 -> 4/6
    logp = OLD_LOGP + RATIOS.log()
    assert_close(clip_fraction(logp, OLD_LOGP, MASK, CLIP_EPS), torch.tensor(4 / 6))


def test_rl4vlm_policy_loss_one_ratio_per_row():
    # thought_weight = 0.5, eps = 0.1; log_ratio = logp - old_logp per token.
    # row 0, A = +1: thoughts -1.2 vs -1 -> -0.2, action -0.5 vs -0.8 -> +0.3
    #        sequence log-ratio 0.5*(-0.2) + 0.3 = 0.2; rho = e^0.2 = 1.2214
    #        min(1.2214, 1.1) = 1.1
    # row 1, A = -2: thought -2 vs -1.5 -> -0.5, actions -0.2 vs -0.15 -> -0.05
    #        sequence log-ratio 0.5*(-0.5) - 0.05 = -0.3; rho = e^-0.3 = 0.7408
    #        min(-1.4816, 0.9*(-2) = -1.8) = -1.8
    # row 2: no token, excluded
    # loss = -(1.1 - 1.8) / 2 = 0.35
    logp = torch.tensor([[-1.0, -1.2, -0.5], [-2.0, -0.1, -0.2], [5.0, 5.0, 5.0]])
    old_logp = torch.tensor([[-1.0, -1.0, -0.8], [-1.5, -0.1, -0.15], [0.0, 0.0, 0.0]])
    thought_mask = torch.tensor([[1, 1, 0], [1, 0, 0], [0, 0, 0]])
    action_mask = torch.tensor([[0, 0, 1], [0, 1, 1], [0, 0, 0]])
    advantages = torch.tensor([1.0, -2.0, 3.0])
    loss = rl4vlm_policy_loss(logp, old_logp, advantages, thought_mask, action_mask, 0.5, 0.1)
    assert_close(loss, torch.tensor(0.35))


def test_rl4vlm_summed_log_ratio_of_a_long_answer_does_not_overflow():
    # 128 action tokens, each 1.0 above the rollout's: the summed log-ratio is 128 and e^128 would
    # be inf in float32 (and inf * a zero advantage NaN). Clamped at 20, the loss stays finite.
    logp, old_logp = torch.zeros(2, 128, requires_grad=True), torch.full((2, 128), -1.0)
    action_mask = torch.ones(2, 128, dtype=torch.bool)
    thought_mask = torch.zeros(2, 128, dtype=torch.bool)
    advantages = torch.tensor([0.0, -1.0])
    loss = rl4vlm_policy_loss(logp, old_logp, advantages, thought_mask, action_mask, 0.5, 0.1)
    # row 0: A = 0 -> 0; row 1: A = -1, min(-e^20, -1.1) = -e^20 -> loss = e^20 / 2
    assert_close(loss, torch.tensor(math.exp(20.0) / 2))
    loss.backward()
    assert torch.isfinite(logp.grad).all()


def test_value_loss():
    # V - R = [0, 2, -2] -> 0.5 * (0 + 4 + 4)/3 = 4/3
    values, returns = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 0.0, 5.0])
    assert_close(value_loss(values, returns), torch.tensor(4 / 3))


def test_explained_variance():
    # R = [1, 2, 3]: Var = 2/3. V = [1, 2, 2]: R - V = [0, 0, 1], Var = 1/3 - 1/9 = 2/9
    # -> 1 - (2/9)/(2/3) = 2/3
    returns = torch.tensor([1.0, 2.0, 3.0])
    assert explained_variance(torch.tensor([1.0, 2.0, 2.0]), returns) == pytest.approx(2 / 3)
    assert explained_variance(returns, returns) == pytest.approx(1.0)
    assert explained_variance(torch.zeros(3), returns) == pytest.approx(0.0)
    assert math.isnan(explained_variance(returns, torch.ones(3)))


# ---------------------------------------------------------------- GiGPO


def gigpo_step(frame_value: int, text: str = "go", reward: float = 0.0, pixel: tuple[int, int] | None = None):
    """A step whose single 2x2 frame is filled with frame_value (one pixel changed to 255 if given)."""
    frame = np.full((2, 2, 3), frame_value, dtype=np.uint8)
    if pixel is not None:
        frame[pixel] = 255
    return SimpleNamespace(frames=[frame], text=text, reward=reward)


def gigpo_rollout(trajectories):
    return SimpleNamespace(records=[s for t in trajectories for s in t], trajectories=trajectories, steps=None)


def test_gigpo_groups_steps_that_saw_the_same_frames_and_text_within_a_seed():
    trajectories = [
        [gigpo_step(1), gigpo_step(2)],                  # env 0, seed group 0
        [gigpo_step(1), gigpo_step(3), gigpo_step(1, text="other")],  # env 1, seed group 0
        [gigpo_step(1)],                                 # env 2, seed group 1: same frame as group 0's, other seed
        [gigpo_step(1, pixel=(0, 0))],                   # env 3, seed group 1: one pixel differs
    ]
    ids = anchor_group_ids(trajectories, torch.tensor([0, 0, 1, 1])).tolist()
    # Steps in order: e0t0 e0t1 e1t0 e1t1 e1t2 e2t0 e3t0. Only e0t0 and e1t0 (same frame, same text, same seed) share.
    assert ids[0] == ids[2]
    assert len(set(ids)) == 6


def test_gigpo_discounted_returns_run_backwards_within_an_episode():
    assert discounted_returns([0.0, 0.0, 1.0], 0.5) == [0.25, 0.5, 1.0]
    assert discounted_returns([], 0.5) == []


def test_gigpo_adds_the_anchor_group_advantage_to_the_episode_advantage():
    # One seed group of two episodes, gamma 0.5.
    # e0: frames A, B, rewards 0, 1 -> R = 1, G = [0.5, 1]
    # e1: frames A, C, D, rewards 0 -> R = 0, G = [0, 0, 0]
    # Episode level: mean 0.5, std 0.5 -> A^E = +1 (e0), -1 (e1).
    # Anchor A holds e0t0 (G 0.5) and e1t0 (G 0): mean 0.25, std 0.25 -> +1, -1; B, C, D are alone -> 0.
    # A = A^E + 1 * A^S: e0 [2, 1], e1 [-2, -1, -1].
    trajectories = [
        [gigpo_step(1), gigpo_step(2, reward=1.0)],
        [gigpo_step(1), gigpo_step(3), gigpo_step(4)],
    ]
    result = GiGPO().advantages(gigpo_rollout(trajectories), AlgorithmSettings(name="gigpo", group_size=2, gamma=0.5), None)
    assert_close(result.advantages, torch.tensor([2.0, 1.0, -2.0, -1.0, -1.0]), atol=1e-5, rtol=0)
    assert result.returns.tolist() == [0.0] * 5 and result.explained_variance is None


def test_gigpo_with_equal_episode_returns_keeps_only_the_step_advantage():
    # Both episodes return 1, so A^E = 0. Anchor A: G = 0.5 * 1 = 0.5 (e0 reaches the reward one step later)
    # and G = 1 (e1 is rewarded at once): mean 0.75, std 0.25 -> -1, +1. e0's second step is alone -> 0.
    trajectories = [
        [gigpo_step(1), gigpo_step(2, reward=1.0)],
        [gigpo_step(1, reward=1.0)],
    ]
    result = GiGPO().advantages(gigpo_rollout(trajectories), AlgorithmSettings(name="gigpo", group_size=2, gamma=0.5), None)
    assert_close(result.advantages, torch.tensor([-1.0, 0.0, 1.0]), atol=1e-5, rtol=0)


# ---------------------------------------------------------------- the registry


def test_an_unknown_algorithm_is_one_sentence_listing_the_registered_ones():
    with pytest.raises(ConfigError, match=r"^algorithm.name 'ppo' is unknown; use one of vldac, rl4vlm, loop, grpo, gigpo\.$"):
        algorithm_named("ppo")


@pytest.mark.parametrize("name", ["loop", "grpo", "gigpo"])
def test_episode_group_algorithms_refuse_groups_that_do_not_fit(name):
    algorithm = algorithm_named(name)
    assert algorithm.rollout == EPISODE_GROUPS and not algorithm.has_critic
    assert algorithm.problems(AlgorithmSettings(name=name, group_size=2), num_envs=4) == []
    assert algorithm.problems(AlgorithmSettings(name=name, group_size=1), num_envs=4) == [
        f"algorithm.group_size=1 does not work: it must be at least 2 for {name}."]
    assert algorithm.problems(AlgorithmSettings(name=name, group_size=3), num_envs=4) == [
        f"env.num_envs (4) must be a multiple of algorithm.group_size (3) for {name}."]
