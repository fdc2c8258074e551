"""The model layer and the rollout/update path on tiny random Qwen2-VL and Qwen2.5-VL models."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vldac.agents import NumberLineInterface
from vldac.algorithms import value_loss
from vldac.config import AlgorithmSettings, ModelSettings
from vldac.models.loading import build_policy, load_policy, save_policy
from vldac.models.policy import first_end_mask
from vldac.rollout.collector import LockstepEnvs, RolloutSettings, collect_rollout
from vldac.train.update import UpdateBatch, ppo_update
from tests.conftest import FRAME_SIZE


def numberline_envs(num_envs: int, seed: int = 0) -> LockstepEnvs:
    seeds = iter(range(seed, seed + 10_000))
    return LockstepEnvs(
        "vldac/NumberLine-v0", num_envs, NumberLineInterface(), history=1, invalid_penalty=-1.0,
        next_seed=lambda: next(seeds), env_kwargs={"frame_size": FRAME_SIZE},
    )


def texts(n: int) -> list[str]:
    return [NumberLineInterface().instruction({})] * n


def lora_policy(folder):
    return build_policy(ModelSettings(path=str(folder), value_head_hidden=[16], lora=ModelSettings().lora))


def test_first_end_mask_keeps_first_end_token_and_nothing_after():
    end = 7
    ids = torch.tensor([[3, 7, 7, 0], [3, 4, 5, 6], [7, 0, 0, 0]])
    mask, cut_off = first_end_mask(ids, end)
    assert mask.tolist() == [[True, True, False, False], [True, True, True, True], [True, False, False, False]]
    assert cut_off.tolist() == [False, True, False]


def test_sampling_ignores_near_greedy_generation_config(tiny_model_dir):
    saved = json.loads((tiny_model_dir / "generation_config.json").read_text())
    assert saved["top_k"] == 1 and saved["top_p"] == 0.001
    policy = load_policy(str(tiny_model_dir))
    envs = numberline_envs(1)
    prompts = policy.prompts(envs.frame_histories() * 64, texts(64))
    samples = policy.sample(prompts, temperature=1.0, max_new_tokens=1)
    first_tokens = samples.token_ids[:, 0].tolist()
    # A random-weight model is close to uniform over ~300 tokens: 64 true samples give many
    # distinct tokens, while top_k=1 / top_p=0.001 would give one.
    assert len(set(first_tokens)) > 20
    # The recorded log-probs are those of softmax(logits / T) without any warper.
    logprobs, _ = policy.score(prompts, samples.token_ids, samples.token_mask, temperature=1.0)
    torch.testing.assert_close(logprobs, samples.token_logprobs, atol=1e-5, rtol=0)
    # Greedy decoding is deterministic.
    greedy = [policy.sample(prompts, 1.0, 3, greedy=True).token_ids for _ in range(2)]
    assert torch.equal(greedy[0], greedy[1])


def test_sampled_answers_never_hold_vision_placeholders(tiny_model_dir):
    policy = load_policy(str(tiny_model_dir))
    assert policy.blocked_ids
    envs = numberline_envs(1)
    prompts = policy.prompts(envs.frame_histories() * 32, texts(32))
    samples = policy.sample(prompts, temperature=3.0, max_new_tokens=16)
    assert not np.isin(samples.token_ids[samples.token_mask].numpy(), policy.blocked_ids).any()


def test_value_loss_leaves_backbone_and_lora_gradients_exactly_zero(tiny_model_dir):
    policy = lora_policy(tiny_model_dir)
    envs = numberline_envs(4)
    prompts = policy.prompts(envs.frame_histories(), envs.instructions())
    samples = policy.sample(prompts, 1.0, 8)
    policy.model.train()
    _, values = policy.score(prompts, samples.token_ids, samples.token_mask, 1.0)
    value_loss(values, torch.ones_like(values)).backward()
    head_grads = [p.grad for p in policy.value_head.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in head_grads)
    for name, parameter in policy.model.named_parameters():
        assert parameter.grad is None or torch.count_nonzero(parameter.grad) == 0, name


def test_rollout_value_matches_update_value(tiny_model_dir):
    policy = lora_policy(tiny_model_dir)
    envs = numberline_envs(3)
    prompts = policy.prompts(envs.frame_histories(), envs.instructions())
    samples = policy.sample(prompts, 1.0, 8)
    _, values = policy.score(prompts, samples.token_ids, samples.token_mask, 1.0)
    torch.testing.assert_close(values.detach(), samples.values, atol=1e-5, rtol=0)
    torch.testing.assert_close(policy.prompt_values(prompts), samples.values, atol=1e-5, rtol=0)


def test_ratio_is_one_on_first_minibatch_after_earlier_optimizer_steps(tiny_model_dir):
    policy = lora_policy(tiny_model_dir)
    envs = numberline_envs(6)
    parameters = [p for p in policy.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": parameters, "lr": 1e-2}, {"params": list(policy.value_head.parameters()), "lr": 1e-3}]
    )
    settings = AlgorithmSettings(minibatch_size=4, ppo_epochs=2)
    rng = np.random.default_rng(0)
    before = [p.detach().clone() for p in parameters]
    for update in range(2):
        buffer, _, _ = collect_rollout(envs, policy, RolloutSettings(1.0, 12), num_steps=2)
        records = buffer.flat_records()
        advantages = torch.linspace(-1, 1, len(records))
        diagnostics = ppo_update(
            policy, optimizer, parameters, UpdateBatch(records, advantages, torch.zeros(len(records))),
            settings, 1.0, value_only=False, rng=rng,
        )
        if update == 0:
            assert any(not torch.equal(b, p) for b, p in zip(before, parameters)), "the first update must move LoRA"
    assert diagnostics["first_ratio_error"] < 1e-5
    assert diagnostics["kl"] > 0


def test_lora_checkpoint_loads_for_eval_with_value_head(tiny_model_dir, tmp_path):
    policy = lora_policy(tiny_model_dir)
    with torch.no_grad():
        for parameter in policy.model.parameters():
            if parameter.requires_grad:
                parameter.add_(0.01)
    save_policy(policy, tmp_path / "ckpt")
    loaded = load_policy(str(tmp_path / "ckpt"))
    envs = numberline_envs(2)
    prompts = policy.prompts(envs.frame_histories(), envs.instructions())
    policy.model.eval()
    expected = policy.sample(prompts, 1.0, 6, greedy=True)
    got = loaded.sample(loaded.prompts(envs.frame_histories(), envs.instructions()), 1.0, 6, greedy=True)
    assert torch.equal(expected.token_ids, got.token_ids)
    torch.testing.assert_close(expected.values, got.values)


def test_missing_model_path_is_one_clear_sentence(tmp_path):
    from vldac.models.loading import ModelLoadError

    with pytest.raises(ModelLoadError, match="does not exist; download the model"):
        build_policy(ModelSettings(path=str(tmp_path / "nope")))
