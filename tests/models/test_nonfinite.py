"""Non-finite numbers never reach the weights: rewards, losses, gradients, checkpoints, JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from tests.helpers import CounterInterface, answer, lora_policy, numberline_envs
from vldac import cli
from vldac.config import AlgorithmSettings, PlaySettings
from vldac.rollout.collector import EpisodeStats, LockstepEnvs, RolloutSettings, WorldCrashed, collect_rollout
from vldac.train.checkpoints import NonFiniteWeights, save_checkpoint
from vldac.train.run_log import MetricsLog
from vldac.train.distributed import Ranks
from vldac.train.update import UpdateBatch, ppo_update


def counter_envs(finish_reward: float, reward_clip: float | None = None) -> LockstepEnvs:
    seeds = iter(range(40, 100))
    return LockstepEnvs("vldac-test/Counter-v0", 2, CounterInterface(), 1, -1.0, lambda: next(seeds),
                        {"finish_reward": finish_reward}, reward_clip=reward_clip)


@pytest.mark.parametrize("reward", [math.nan, math.inf, -math.inf])
def test_a_non_finite_reward_stops_the_run_naming_the_world_and_the_episode_seed(reward):
    envs = counter_envs(reward)
    with pytest.raises(WorldCrashed, match=r"vldac-test/Counter-v0 returned the non-finite reward .* seed 41; .*env.reward_clip"):
        envs.step([answer("wait"), answer("finish")], EpisodeStats())


@pytest.mark.parametrize(("reward", "clipped"), [(math.nan, 0.0), (math.inf, 2.0), (-math.inf, -2.0), (5.0, 2.0)])
def test_with_reward_clip_rewards_are_clipped_and_the_non_finite_ones_counted(reward, clipped):
    envs = counter_envs(reward, reward_clip=2.0)
    results = envs.step([answer("finish"), answer("wait")], EpisodeStats())
    assert results[0]["reward"] == clipped and results[1]["reward"] == 0.0
    assert envs.nonfinite_rewards == (0 if math.isfinite(reward) else 1)


def rollout_batch(policy, advantages_of):
    buffer, _, _ = collect_rollout(numberline_envs(4), policy, RolloutSettings(1.0, 6), num_steps=2)
    records = buffer.flat_records()
    return UpdateBatch(records, advantages_of(len(records)), torch.zeros(len(records)))


def test_a_non_finite_loss_skips_the_optimiser_step_and_leaves_the_weights(tiny_qwen2vl_dir):
    policy = lora_policy(tiny_qwen2vl_dir)
    parameters = [p for p in policy.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": parameters}, {"params": list(policy.value_head.parameters())}], lr=1e-2)
    before = [p.detach().clone() for p in policy.scorer.parameters()]
    batch = rollout_batch(policy, lambda n: torch.full((n,), math.nan))
    result = ppo_update(policy, optimizer, parameters, batch, AlgorithmSettings(minibatch_size=4, ppo_epochs=2), 1.0,
                        value_only=False, rng=np.random.default_rng(0),
                        ranks=Ranks("cpu"), scorer=policy.scorer)
    assert result["skipped_steps"] == 4  # 8 records, 2 mini-batches, 2 epochs
    assert result["policy_loss"] is None
    assert all(torch.equal(b, p) for b, p in zip(before, policy.scorer.parameters()))
    healthy = ppo_update(policy, optimizer, parameters, rollout_batch(policy, torch.randn),
                         AlgorithmSettings(minibatch_size=4, ppo_epochs=1), 1.0, value_only=False, rng=np.random.default_rng(0),
                        ranks=Ranks("cpu"), scorer=policy.scorer)
    assert healthy["skipped_steps"] == 0 and math.isfinite(healthy["policy_loss"])


def test_a_non_finite_gradient_skips_the_step(tiny_qwen2vl_dir):
    policy = lora_policy(tiny_qwen2vl_dir)
    parameters = [p for p in policy.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": parameters}, {"params": list(policy.value_head.parameters())}], lr=1e-2)
    batch = rollout_batch(policy, torch.randn)
    parameters[0].register_hook(lambda gradient: torch.full_like(gradient, math.nan))  # a finite loss, a NaN gradient
    before = [p.detach().clone() for p in policy.scorer.parameters()]
    result = ppo_update(policy, optimizer, parameters, batch, AlgorithmSettings(minibatch_size=8, ppo_epochs=1), 1.0,
                        value_only=False, rng=np.random.default_rng(0),
                        ranks=Ranks("cpu"), scorer=policy.scorer)
    assert result["skipped_steps"] == 1
    assert all(torch.equal(b, p) for b, p in zip(before, policy.scorer.parameters()))


def test_no_checkpoint_is_written_from_non_finite_weights(tiny_qwen2vl_dir, tmp_path):
    policy = lora_policy(tiny_qwen2vl_dir)
    optimizer = torch.optim.AdamW(policy.scorer.parameters())
    save_checkpoint(policy, optimizer, {}, tmp_path, "update_00001", PlaySettings(), {})
    with torch.no_grad():
        next(p for p in policy.model.parameters() if p.requires_grad)[0, 0] = math.nan
    with pytest.raises(NonFiniteWeights, match="not finite; the run stopped here"):
        save_checkpoint(policy, optimizer, {}, tmp_path, "update_00002", PlaySettings(), {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last", "update_00001"]
    assert (tmp_path / "last").resolve().name == "update_00001"


def test_eval_refuses_a_checkpoint_with_non_finite_weights(tiny_qwen2vl_dir, tmp_path, capsys):
    policy = lora_policy(tiny_qwen2vl_dir)
    save_checkpoint(policy, torch.optim.AdamW(policy.scorer.parameters()), {}, tmp_path, "update_00001", PlaySettings(), {})
    from safetensors.torch import load_file, save_file

    adapter = tmp_path / "update_00001" / "adapter_model.safetensors"
    weights = load_file(adapter)
    first = next(iter(weights))
    weights[first] = torch.full_like(weights[first], math.nan)
    save_file(weights, adapter)
    (tmp_path / "update_00001" / "manifest.json").unlink()  # as written before manifests, so no checksum catches it
    assert cli.main(["eval", str(tmp_path / "last"), "--env", "vldac/NumberLine-v0", "--episodes", "2"]) == 2
    assert "non-finite weights" in capsys.readouterr().err


@pytest.mark.parametrize(("flags", "message"), [
    (["--episodes", "0"], "--episodes 0 does not work: it must be at least 1."),
    (["--episodes", "-3"], "--episodes -3 does not work: it must be at least 1."),
    (["--num-envs", "0"], "--num-envs 0 does not work: it must be between 1 and 1024"),
    (["--env-kwargs", "[1, 2]"], "is not a JSON object"),
    (["--env-kwargs", "{frame"], "is not a JSON object"),
])
def test_eval_counts_and_env_kwargs_are_checked_in_one_sentence(flags, message, capsys):
    assert cli.main(["eval", "expert", "--env", "vldac/NumberLine-v0", *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_metrics_rows_write_null_for_non_finite_numbers(tmp_path):
    log = MetricsLog(tmp_path, resume_after=None)
    log.write({"update": 1, "env_steps": 8, "kl": math.nan, "value_loss": math.inf, "explained_variance": None})
    log.close()
    row = json.loads((tmp_path / "metrics.jsonl").read_text())
    assert row == {"update": 1, "env_steps": 8, "kl": None, "value_loss": None, "explained_variance": None}


@pytest.mark.parametrize("value", ["0", "-1"])
def test_a_reward_clip_that_is_not_positive_is_one_sentence_and_leaves_no_run(value, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", f"env.reward_clip={value}"]) == 2
    err = capsys.readouterr().err
    assert "env.reward_clip" in err and "must be above 0 (or null to stop on non-finite rewards)" in err and err.strip().count("\n") == 0
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("override", "message"), [
    ("model.dtype=float8", "model.dtype=float8 does not work: it must be one of float32, bfloat16, float16."),
    ("model.finetune=partial", "model.finetune=partial does not work: it must be one of lora, full."),
    ("model.lora.target_modules=[nope]", "None of lora.target_modules ['nope'] were found"),
    ("env.history=0", "env.history=0 does not work: it must be between 1 and 16 (frames per prompt)."),
    ("env.num_envs=0", "env.num_envs=0 does not work"),
    ("generation.temperature=0", "generation.temperature=0.0 does not work: it must be above 0 (sampling divides the logits by it)."),
    ("train.checkpoint_every=0", "train.checkpoint_every=0 does not work"),
    ("env.step_timeout=0", "env.step_timeout=0.0 does not work: it must be above 0 (seconds, or null to wait)."),
    ("algorithm.name=loop algorithm.group_size=0", "algorithm.group_size=0 does not work"),
    ("algorithm.name=loop algorithm.group_size=1", "algorithm.group_size=1 does not work: it must be at least 2 for loop."),
    ("optim.lr=-1", "optim.lr=-1.0 does not work: it must be above 0."),
    ("generation.temperature=inf", "generation.temperature=inf does not work: it must be a finite number."),
    ("env.invalid_penalty=nan", "env.invalid_penalty=nan does not work: it must be a finite number."),
    ("train.threads=-1", "train.threads=-1 does not work: it must be at least 0"),
    ("env.num_envs=100000000", "env.num_envs=100000000 does not work: it must be between 1 and 1024 (the rollout holds"),
    ("model.value_head_hidden=[16,0]", "model.value_head_hidden[1]=0 does not work"),
])
def test_bad_settings_are_one_sentence_before_any_run_folder(override, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", *override.split()]) == 2
    err = capsys.readouterr().err
    last_line = err.strip().splitlines()[-1]  # after transformers' weight-loading bar, where a model was read
    assert message in last_line and last_line.startswith("vldac train: ") and "Traceback" not in err, err
    assert not (tmp_path / "runs").exists()
