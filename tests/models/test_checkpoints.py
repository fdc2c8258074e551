"""Checkpoints: a full fine-tune resumes from its trained weights; eval plays a checkpoint as it was trained."""

from __future__ import annotations

import json

import numpy as np
import torch

from tests.helpers import FRAME_SIZE
from tests.helpers import plain_answers, ragged_observations
from vldac import cli
from vldac.agents import NumberLineInterface
from vldac.config import ModelSettings, PlaySettings, TrainConfig, load_config
from vldac.models.loading import build_policy
from vldac.models.tokens import pad_answers
from vldac.rollout.collector import LockstepEnvs, RolloutSettings, collect_rollout
from vldac.train.checkpoints import load_checkpoint, save_checkpoint
from vldac.train.trainer import rescore, train

RUN_SETTINGS = PlaySettings(env_id="vldac/NumberLine-v0", env_kwargs={"frame_size": FRAME_SIZE}, history=2,
                            invalid_penalty=-0.5, max_new_tokens=2, temperature=0.5, dtype="bfloat16")


def optimizer_for(policy):
    return torch.optim.AdamW(
        [{"params": [p for p in policy.model.parameters() if p.requires_grad], "lr": 1e-2},
         {"params": list(policy.value_head.parameters()), "lr": 1e-2}]
    )


def one_optimizer_step(policy, optimizer):
    histories, instructions = ragged_observations(3)
    prompts = policy.prompts(histories, instructions)
    ids, mask = pad_answers(plain_answers(policy), policy.pad_id)
    policy.model.train()
    logprobs, values = policy.score(prompts, ids, mask, 1.0)
    (-(logprobs * mask).sum() + values.square().sum()).backward()
    optimizer.step()


def test_a_resumed_full_fine_tune_continues_from_its_trained_weights(tiny_qwen2vl_dir, tmp_path):
    settings = ModelSettings(path=str(tiny_qwen2vl_dir), finetune="full", value_head_hidden=[16])
    policy = build_policy(settings)
    optimizer = optimizer_for(policy)
    one_optimizer_step(policy, optimizer)
    trained = {name: p.detach().clone() for name, p in policy.scorer.named_parameters()}
    save_checkpoint(policy, optimizer, {"progress": {}}, tmp_path, "update_00001", RUN_SETTINGS, {})

    resumed = build_policy(settings)
    fresh = {name: p.detach().clone() for name, p in resumed.scorer.named_parameters()}
    resumed_optimizer = optimizer_for(resumed)
    load_checkpoint(resumed, resumed_optimizer, tmp_path / "last")
    moved = [name for name in trained if not torch.equal(trained[name], fresh[name])]
    assert len(moved) > 20  # the step changed most weights, so restoring nothing would be caught
    for name, parameter in resumed.scorer.named_parameters():
        assert torch.equal(parameter, trained[name]), name
    # The reference stays the starting model, and the optimiser continues where it stopped.
    reference = dict(resumed.scorer._reference[0].named_parameters())
    assert all(torch.equal(reference[name.removeprefix("model.")], fresh[name]) for name in fresh if name.startswith("model."))
    assert resumed_optimizer.state_dict()["state"][0]["step"] == optimizer.state_dict()["state"][0]["step"]


def test_eval_plays_a_checkpoint_with_the_settings_it_was_trained_with(tiny_qwen2vl_dir, tmp_path, capsys):
    policy = build_policy(ModelSettings(path=str(tiny_qwen2vl_dir), value_head_hidden=[16]))
    folder = save_checkpoint(policy, optimizer_for(policy), {"progress": {}}, tmp_path, "update_00001", RUN_SETTINGS, {})
    arguments = ["eval", str(folder), "--env", "vldac/NumberLine-v0", "--episodes", "2"]
    assert cli.main(arguments) == 0
    played = json.loads(capsys.readouterr().out)
    assert {key: played[key] for key in ("max_new_tokens", "temperature", "history", "invalid_penalty", "dtype")} == {
        "max_new_tokens": 2, "temperature": 0.5, "history": 2, "invalid_penalty": -0.5, "dtype": "bfloat16"
    }
    assert played["invalid_rate"] == 1.0  # two tokens can never be a whole answer
    assert cli.main([*arguments, "--max-new-tokens", "12", "--history", "1", "--temperature", "1.0", "--dtype", "float32"]) == 0
    overridden = json.loads(capsys.readouterr().out)
    assert (overridden["max_new_tokens"], overridden["history"], overridden["temperature"], overridden["dtype"]) == (
        12, 1, 1.0, "float32")
    # Another world than the one it was trained in: the world's own settings are not carried over.
    assert cli.main(["eval", str(folder), "--env", "vldac/EZPoints-v0", "--episodes", "1"]) == 0
    elsewhere = json.loads(capsys.readouterr().out)
    assert elsewhere["invalid_penalty"] == -1.0 and elsewhere["max_new_tokens"] == 2


def test_rescoring_replaces_the_behaviour_logprobs_and_values_by_the_training_forwards(tiny_qwen2vl_dir):
    policy = build_policy(ModelSettings(path=str(tiny_qwen2vl_dir), value_head_hidden=[16], scoring_chunk_size=3))
    envs = LockstepEnvs("vldac/NumberLine-v0", 4, NumberLineInterface(), 2, -1.0, iter(range(100)).__next__,
                        {"frame_size": FRAME_SIZE})
    buffer, _, _ = collect_rollout(envs, policy, RolloutSettings(1.0, 10), num_steps=2)
    records = buffer.flat_records()
    sampled = [(record.logprobs.clone(), record.value) for record in records]
    for record in records:  # as a sampler with other numerics would leave them
        record.logprobs = record.logprobs + 0.3
        record.value += 5.0
    rescore(policy, records, 1.0)
    for record, (logprobs, value) in zip(records, sampled, strict=True):
        torch.testing.assert_close(record.logprobs, logprobs, atol=1e-5, rtol=0)
        assert abs(record.value - value) < 1e-5


def test_recomputed_behaviour_logprobs_keep_the_first_ratio_at_one(tiny_qwen2vl_dir, tmp_path):
    config = load_config(TrainConfig, {}, [
        f"model.path={tiny_qwen2vl_dir}", "model.value_head_hidden=[16]", "model.scoring_chunk_size=3",
        "env.num_envs=4", f"env.kwargs={{frame_size: {FRAME_SIZE}}}", "env.history=2", "generation.max_new_tokens=10",
        "generation.recompute_logprobs=true", "train.rollout_steps=2", "train.total_env_steps=24",
        "train.checkpoint_every=10", "algorithm.value_warmup_updates=1", "algorithm.minibatch_size=4",
        f"output_dir={tmp_path}", "name=recompute",
    ])
    run = train(config)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 3
    assert all(np.isfinite(row["policy_loss"]) and row["first_ratio_error"] < 1e-5 for row in rows)
