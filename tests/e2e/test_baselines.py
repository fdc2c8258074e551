"""The baselines in the same trainer: RL4VLM's split, the stabiliser switches, LOOP / GRPO runs, sweeps."""

from __future__ import annotations

import json

import pytest
import torch

from tests.helpers import numberline_envs, tiny_overrides, vldac_here
from vldac.agents import action_field_offset, format_answer
from vldac.algorithms import REGISTERED, algorithm_named, value_loss
from vldac.config import ModelSettings, SweepConfig
from vldac.models.loading import build_policy
from vldac.models.tokens import pad_answers
from vldac.rollout.buffer import StepRecord
from vldac.train.sweep import expand_cells


def test_action_field_offset_finds_the_last_action_key():
    text = format_answer("the action is +", "+")
    assert text[action_field_offset(text):].startswith('"action": "+"')
    assert action_field_offset("{'thoughts': 'x', 'action': '-'}") == 18
    assert action_field_offset("no field") is None


def test_rl4vlm_splits_each_answer_at_its_action_start():
    records = [
        StepRecord(frames=[], text="", token_ids=torch.arange(4), logprobs=torch.zeros(4), value=0.0, reward=0.0,
                   terminated=False, truncated=False, invalid=False, action_start=2),
        StepRecord(frames=[], text="", token_ids=torch.arange(3), logprobs=torch.zeros(3), value=0.0, reward=0.0,
                   terminated=False, truncated=False, invalid=True, action_start=None),
    ]
    _, mask = pad_answers([r.token_ids for r in records], pad_id=0)
    prepared = algorithm_named("rl4vlm").prepare(records, mask)
    thoughts, actions = prepared["thought_mask"], prepared["action_mask"]
    assert thoughts.tolist() == [[True, True, False, False], [True, True, True, False]]
    assert actions.tolist() == [[False, False, True, True], [False, False, False, False]]


def test_token_index_at_maps_characters_to_the_answer_tokens(tiny_qwen2vl_dir):
    policy = build_policy(ModelSettings(path=str(tiny_qwen2vl_dir), value_head_hidden=[8]))
    text = format_answer("target 3, current 1", "+")
    ids = torch.tensor(policy.processor.tokenizer(text, add_special_tokens=False)["input_ids"])
    start = policy.token_index_at(ids, action_field_offset(text))
    before = policy.processor.tokenizer.decode(ids[:start])
    assert len(before) <= action_field_offset(text) < len(policy.processor.tokenizer.decode(ids[: start + 1]))


def test_without_stop_gradient_the_value_loss_reaches_lora(tiny_qwen2vl_dir):
    policy = build_policy(ModelSettings(path=str(tiny_qwen2vl_dir), value_head_hidden=[8]), value_stop_gradient=False)
    envs = numberline_envs(2)
    prompts = policy.prompts(envs.frame_histories(), envs.instructions())
    samples = policy.sample(prompts, 1.0, 6)
    _, values = policy.score(prompts, samples.token_ids, samples.token_mask, 1.0)
    value_loss(values, torch.ones_like(values)).backward()
    lora_grads = [p.grad for n, p in policy.model.named_parameters() if "lora_" in n and p.grad is not None]
    assert lora_grads and any(torch.count_nonzero(g) > 0 for g in lora_grads)


ALGORITHM_RUNS = {
    "rl4vlm": ["algorithm.thought_weight=0.5", "algorithm.value_stop_gradient=false"],
    "loop": ["algorithm.group_size=2"],
    "grpo": ["algorithm.group_size=4"],
    "gigpo": ["algorithm.group_size=2", "algorithm.gamma=0.95"],
}
"""The baselines' short runs (the default recipe's VL-DAC runs in test_cli)."""


def test_every_registered_algorithm_has_a_run_here():
    assert set(REGISTERED) == {"vldac", *ALGORITHM_RUNS}


@pytest.mark.parametrize("algorithm", ALGORITHM_RUNS)
def test_every_algorithm_trains_through_the_same_cli(tiny_qwen2vl_dir, tmp_path, algorithm):
    code, stderr = vldac_here(tmp_path, "train", *tiny_overrides(tiny_qwen2vl_dir, 24), f"algorithm.name={algorithm}",
                              *ALGORITHM_RUNS[algorithm], f"name={algorithm}")
    assert code == 0, stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "runs" / algorithm / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["env_steps"] >= 24 and all(row["first_ratio_error"] < 1e-4 for row in rows)
    if not algorithm_named(algorithm).has_critic:
        assert rows[0]["value_only"] is False and rows[0]["value_loss"] == 0


def test_unknown_algorithm_and_bad_group_size_are_one_sentence(tiny_qwen2vl_dir, tmp_path):
    code, stderr = vldac_here(tmp_path, "train", *tiny_overrides(tiny_qwen2vl_dir, 8), "algorithm.name=ppo")
    assert code == 2 and "algorithm.name 'ppo' is unknown; use one of vldac, rl4vlm, loop, grpo, gigpo." in stderr
    assert not (tmp_path / "runs").exists(), "a rejected config must not leave a run folder behind"
    code, stderr = vldac_here(tmp_path, "train", *tiny_overrides(tiny_qwen2vl_dir, 8), "algorithm.name=loop",
                              "algorithm.group_size=3")
    assert code == 2 and "must be a multiple of algorithm.group_size" in stderr


def test_expand_cells_is_the_full_grid_per_seed():
    config = SweepConfig(seeds=[0, 1], cells=[
        {"algorithm": "vldac", "grid": {"optim.lr": [1e-4, 1e-3]}},
        {"algorithm": "rl4vlm", "fixed": {"algorithm.value_stop_gradient": True},
         "grid": {"algorithm.thought_weight": [0.1, 1.0], "optim.lr": [1e-3]}},
    ])
    cells = expand_cells(config)
    assert len(cells) == 2 * 2 + 2 * 2
    assert len({cell.name for cell in cells}) == len(cells)


@pytest.mark.slow  # about 45 s: .ci/run runs it after the default suite
def test_sweep_runs_cells_once_and_writes_the_table(tiny_qwen2vl_dir, tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    overrides = [o for o in tiny_overrides(tiny_qwen2vl_dir, 16) if not o.startswith("train.total_env_steps")]
    spec.write_text(json.dumps({
        "name": "tiny", "recipe": "numberline_tiny", "overrides": overrides, "budget_env_steps": 16,
        "seeds": [0], "eval_episodes": 4, "output_dir": str(tmp_path / "sweeps"), "threads_per_cell": 1,
        "cells": [{"algorithm": "vldac"}, {"algorithm": "grpo", "fixed": {"algorithm.group_size": 2}}],
    }))
    code, _ = vldac_here(tmp_path, "sweep", str(spec))  # the cells run as their own processes
    table = capsys.readouterr().out
    assert code == 0 and "| vldac | defaults | 1 |" in table and "| grpo |" in table
    results = sorted((tmp_path / "sweeps" / "tiny" / "results").glob("*.json"))
    assert len(results) == 2
    stamps = [path.stat().st_mtime_ns for path in results]
    code, stderr = vldac_here(tmp_path, "sweep", str(spec))
    assert code == 0 and "2 cells, 2 already finished" in stderr
    assert [path.stat().st_mtime_ns for path in results] == stamps


@pytest.mark.parametrize(("cell", "message"), [
    ({"algorithm": "ppo"}, "algorithm.name 'ppo' is unknown"),
    ({"algorithm": "vldac", "grid": {"optim.learnrate": [1e-3]}}, "Unknown config key 'optim.learnrate'"),
    ({"algorithm": "vldac", "grid": {"optim.lr": ["fast"]}}, "optim.lr"),
    ({"algorithm": "vldac", "grid": {"optim.lr": 1e-3}}, "must be a list of values"),
    ({"algorithm": "grpo", "fixed": {"algorithm.group_size": 3}}, "multiple of algorithm.group_size"),
])
def test_every_sweep_cell_is_checked_before_the_first_starts(cell, message, tmp_path, capsys):
    from vldac import cli

    spec = tmp_path / "spec.yaml"
    spec.write_text(json.dumps({
        "name": "bad", "output_dir": str(tmp_path / "sweeps"), "seeds": [0],
        "cells": [{"algorithm": "vldac"}, cell],  # the good cell first: it must not run either
    }))
    assert cli.main(["sweep", str(spec)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert message in err and "Traceback" not in err, err
    assert not (tmp_path / "sweeps").exists()
