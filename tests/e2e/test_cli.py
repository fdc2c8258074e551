"""The vldac command end to end (as subprocesses where a process of its own matters: a kill, a fresh
interpreter), on a tiny random model with a tiny budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForImageTextToText

from tests.helpers import FRAME_SIZE
from tests.helpers import (
    killed_after_third_checkpoint, trained_run_overrides, vldac, vldac_here, without_timing, without_wandb_settings,
)
from vldac import cli


def test_envs_lists_numberline(tmp_path):
    assert "vldac/NumberLine-v0" in vldac("envs", cwd=tmp_path).stdout


def test_train_then_eval_writes_the_run_folder_contract(trained_run, tiny_qwen2vl_dir, tmp_path, capsys):
    run, _ = trained_run
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["update"] for row in rows] == list(range(1, 7))
    required = {"env_steps", "episodes_completed", "success_rate", "mean_return", "invalid_rate", "policy_loss",
                "value_loss", "kl", "clip_fraction", "explained_variance", "env_steps_per_s", "tokens_per_s", "lr"}
    assert required <= set(rows[0])
    assert rows[-1]["env_steps"] == 48 and "greedy_success_rate" in rows[1]
    assert (run / "config.yaml").is_file() and (run / "checkpoints" / "last").is_dir()
    summary = json.loads((run / "summary.json").read_text())
    assert Path(summary["initial_checkpoint"]) == tiny_qwen2vl_dir.resolve()
    final = Path(summary["final_checkpoint"])
    assert (final / "adapter_model.safetensors").is_file() and (final / "value_head.safetensors").is_file()
    base = AutoModelForImageTextToText.from_pretrained(tiny_qwen2vl_dir)  # the final checkpoint loads with plain
    assert isinstance(PeftModel.from_pretrained(base, final), PeftModel)  # transformers + peft

    code = cli.main(["eval", str(final), "--env", "vldac/NumberLine-v0", "--episodes", "5", "--seed", "1000000",
                     "--env-kwargs", json.dumps({"frame_size": FRAME_SIZE}), "--max-new-tokens", "12"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and len(lines) == 1
    metrics = json.loads(lines[0])
    assert metrics["episodes"] == 5
    assert {"success_rate", "mean_return", "mean_length", "invalid_rate"} <= set(metrics)


def test_bad_config_key_is_one_sentence_and_exit_2(tmp_path):
    result = vldac("train", "optim.learning_rate=1", cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "Unknown config key 'optim.learning_rate'" in result.stderr


def test_missing_model_path_is_one_sentence(tmp_path):
    code, stderr = vldac_here(tmp_path, "eval", str(tmp_path / "nothing"), "--env", "vldac/NumberLine-v0")
    assert code == 2 and "does not exist" in stderr


def test_eval_expert_plays_the_scripted_expert_on_the_seeds(tmp_path, capsys):
    assert vldac_here(tmp_path, "eval", "expert", "--env", "vldac/NumberLine-v0", "--episodes", "20")[0] == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["episodes"] == 20 and metrics["success_rate"] == 1.0 and metrics["policy"] == "expert"


def test_env_kwargs_the_world_does_not_take_are_one_sentence_and_leave_no_run(tmp_path):
    code, stderr = vldac_here(tmp_path, "train", "env.kwargs.bogus=1")
    assert code == 2 and stderr.strip().count("\n") == 0
    assert "does not accept the env kwargs" in stderr
    assert not (tmp_path / "runs").exists()


def test_recipes_lists_every_packaged_recipe_with_its_command(capsys):
    from importlib import resources

    from vldac import cli

    assert cli.main(["recipes"]) == 0
    recipes, launching = capsys.readouterr().out.split("\n\n")
    lines = recipes.splitlines()
    packaged = sorted(f.name.removesuffix(".yaml") for f in resources.files("vldac.configs").iterdir() if f.name.endswith(".yaml"))
    assert len(lines) == len(packaged)
    assert "torchrun --nproc_per_node N -m vldac train" in launching
    assert all(Path(line.split()[-1]).is_file() for line in launching.splitlines()[1:])
    assert len(launching.splitlines()) == 1 + 6  # the launch forms, then each accelerate config file
    assert any(line.startswith("vldac train numberline_tiny") and "The default job" in line for line in lines)
    assert any(line.startswith("vldac sft sft_numberline_tiny") for line in lines)


def test_a_killed_and_resumed_run_equals_the_uninterrupted_one_bit_for_bit(trained_run, tiny_qwen2vl_dir, tmp_path):
    """The shared trained run again, killed -9 after its third checkpoint and resumed: the same
    metrics rows (timing aside) and identical final weights (one frame of history, one thread)."""
    from safetensors.torch import load_file

    whole, _ = trained_run
    killed = killed_after_third_checkpoint(trained_run_overrides(tiny_qwen2vl_dir), tmp_path, env=without_wandb_settings())
    vldac("train", "--resume", str(killed), cwd=tmp_path, env=without_wandb_settings())
    rows = {run: [without_timing(json.loads(line)) for line in (run / "metrics.jsonl").read_text().splitlines()]
            for run in (whole, killed)}
    assert [row["update"] for row in rows[whole]] == list(range(1, 7)) and rows[whole][-1]["env_steps"] == 48
    assert rows[killed] == rows[whole]  # no row lost or repeated, every number (timing aside) the same
    for file in ("adapter_model.safetensors", "value_head.safetensors"):
        first = load_file(whole / "checkpoints" / "last" / file)
        resumed = load_file(killed / "checkpoints" / "last" / file)
        assert first.keys() == resumed.keys() and all(torch.equal(first[k], resumed[k]) for k in first), file


@pytest.mark.parametrize("family, processor", [("gemma3", "Gemma3Processor"), ("idefics3", "Idefics3Processor")])
def test_tiny_model_writes_a_checkpoint_plain_transformers_loads(tmp_path, family, processor):
    """The families without a video processor load with plain AutoProcessor too."""
    from transformers import AutoProcessor

    assert vldac_here(tmp_path, "tiny-model", family, str(tmp_path / "tiny"), "--frame-size", "56")[0] == 0
    model = AutoModelForImageTextToText.from_pretrained(tmp_path / "tiny")
    assert model.config.model_type == family and sum(p.numel() for p in model.parameters()) < 2_000_000
    assert type(AutoProcessor.from_pretrained(tmp_path / "tiny")).__name__ == processor


def test_tiny_model_refuses_an_unknown_family_and_a_used_folder(tmp_path):
    code, stderr = vldac_here(tmp_path, "tiny-model", "llama", str(tmp_path / "out"))
    assert code == 2 and stderr.startswith("vldac tiny-model: family 'llama' is unknown; use one of qwen2_vl")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "notes.txt").write_text("keep me")
    code, stderr = vldac_here(tmp_path, "tiny-model", "qwen2_vl", str(tmp_path / "used"))
    assert code == 2 and "exists and is not an empty folder" in stderr
    assert [path.name for path in (tmp_path / "used").iterdir()] == ["notes.txt"]
    code, stderr = vldac_here(tmp_path, "tiny-model", "qwen2_vl", str(tmp_path / "used" / "notes.txt"))
    assert code == 2 and "exists and is not an empty folder" in stderr
    code, stderr = vldac_here(tmp_path, "tiny-model", "qwen2_vl", str(tmp_path / "new"), "--frame-size", "30")
    assert code == 2 and "--frame-size 30 must be a multiple of 28 pixels" in stderr
    assert not (tmp_path / "new").exists()
