"""The image-dependence probe: image_kl is exactly 0 for a policy whose vision tower says nothing,
clearly positive for the shipped NumberLine warm start (its numbers are only in the frame), logged
at update 1 and every train.image_probe_every updates, and its warning's rule."""

from __future__ import annotations

import itertools
import json
import math

import torch

from tests.helpers import vldac_here
from vldac.agents import interface_for
from vldac.algorithms import answer_kl
from vldac.models.families import backbone
from vldac.models.loading import load_policy, read_play_settings
from vldac.rollout.collector import LockstepEnvs, RolloutSettings, collect_rollout
from vldac.train.image_probe import PROBE_STEPS, ignores_image, image_kl_per_step, probed_steps, summarize_probe

WARM_START = "builtin:tiny-numberline"


def numberline_records(policy, steps: int = 2, max_new_tokens: int = 48):
    """A sampled rollout of the warm start's world: 4 envs x ``steps`` steps."""
    trained = read_play_settings(WARM_START)
    interface = interface_for(trained.env_id, trained.env_kwargs)
    seeds = itertools.count(1_000_000)
    envs = LockstepEnvs(trained.env_id, 4, interface, trained.history, -1.0, lambda: next(seeds), trained.env_kwargs)
    buffer, _, _ = collect_rollout(envs, policy, RolloutSettings(1.0, max_new_tokens), steps)
    envs.close()
    return buffer.flat_records()


def test_answer_kl_sums_each_token_s_k3_estimate_over_the_answer():
    logp = torch.tensor([[-1.0, -2.0, -0.5], [-1.0, -1.0, -1.0]])
    other = torch.tensor([[-2.0, -1.0, -9.0], [-1.0, -1.0, -1.0]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    # row 0: k3(-1 vs -2) = exp(-1) + 1 - 1 = 0.367879, k3(-2 vs -1) = e - 2 = 0.718282, the third token masked
    expected = torch.tensor([math.exp(-1) + math.e - 2, 0.0])
    torch.testing.assert_close(answer_kl(logp, other, mask), expected)


def test_a_policy_whose_vision_tower_output_is_zero_has_image_kl_zero():
    policy = load_policy(WARM_START)
    merger = [module for name, module in backbone(policy.model).named_modules()
              if "merger" in name and isinstance(module, torch.nn.Linear)][-1]
    with torch.no_grad():
        merger.weight.zero_()
        merger.bias.zero_()
    records = probed_steps(numberline_records(policy, max_new_tokens=8))  # blind, it rambles: keep its answers short
    assert len(records) == PROBE_STEPS
    assert torch.equal(image_kl_per_step(policy, records, 1.0), torch.zeros(PROBE_STEPS))


def test_the_numberline_warm_start_depends_on_its_frames():
    policy = load_policy(WARM_START)
    kls = image_kl_per_step(policy, probed_steps(numberline_records(policy)), 1.0)
    summary = summarize_probe(kls.tolist())
    assert (kls >= 0).all() and summary["image_kl"] > 1.0, summary  # nats per answer


def test_probed_steps_are_evenly_spaced_and_drawn_without_randomness():
    records = list(range(32))
    assert probed_steps(records) == [0, 4, 9, 13, 18, 22, 27, 31]
    assert probed_steps(records[:5]) == records[:5]


def test_training_logs_image_kl_at_update_1_and_every_n_updates(tmp_path):
    code, stderr = vldac_here(tmp_path, "train", "train.total_env_steps=40", "env.num_envs=2", "train.rollout_steps=4",
                              "train.image_probe_every=2", "train.eval_every=0", "train.threads=1", "name=probe")
    assert code == 0, stderr
    rows = [json.loads(line) for line in (tmp_path / "runs" / "probe" / "metrics.jsonl").read_text().splitlines()]
    assert [row["update"] for row in rows if "image_kl" in row] == [1, 2, 4]
    assert all(row["image_kl"] > 0 and row["image_kl_stderr"] >= 0 for row in rows if "image_kl" in row)


def test_the_warning_needs_a_flat_image_kl_while_success_rises():
    flat_rising = [(0.5, 0.1), (0.005, 0.2), (0.004, 0.3), (0.003, 0.4)]
    assert ignores_image(flat_rising)
    assert not ignores_image(flat_rising[:3])  # too few probes
    assert not ignores_image([(0.5, 0.1), (0.005, 0.2), (0.02, 0.3), (0.003, 0.4)])  # one probe above 0.01 nats
    assert not ignores_image([(0.5, 0.3), (0.005, 0.3), (0.004, 0.35), (0.003, 0.35)])  # success rose by less than 0.1
    assert not ignores_image([(0.5, None), (0.005, None), (0.004, None), (0.003, None)])  # no finished episode


def test_the_probe_changes_nothing_the_run_computes(tmp_path):
    """The same run with the probe at every update and with it off: every other number equal."""
    rows = {}
    for every in (0, 1):
        code, stderr = vldac_here(tmp_path, "train", "train.total_env_steps=24", "env.num_envs=2", "train.rollout_steps=4",
                                  f"train.image_probe_every={every}", "train.eval_every=0", "train.threads=1",
                                  f"name=probe{every}", "generation.max_new_tokens=16")
        assert code == 0, stderr
        rows[every] = [json.loads(line) for line in (tmp_path / "runs" / f"probe{every}" / "metrics.jsonl").read_text().splitlines()]
    kept = ("policy_loss", "value_loss", "kl", "clip_fraction", "first_ratio_error", "success_rate", "mean_return",
            "invalid_rate", "explained_variance")
    assert [{key: row.get(key) for key in kept} for row in rows[0]] == [{key: row.get(key) for key in kept} for row in rows[1]]
    assert all("image_kl" in row for row in rows[1]) and not any("image_kl" in row for row in rows[0])
