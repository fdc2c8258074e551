"""Supervised warm start: demonstrations with state-dependent mistakes, and the shipped model."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest
import torch
from pathlib import Path

from transformers import AutoTokenizer

from vldac.agents import NumberLineInterface, Points24Interface, parse_answer
from vldac.config import MistakeSettings, SFTConfig, EnvSettings
from vldac.evaluate import evaluate
from vldac.models.loading import load_policy, read_play_settings, resolve_model_path
from vldac.train.sft import collect_demonstrations, run_sft


def test_the_mistaken_action_is_a_different_action():
    assert [NumberLineInterface().mistaken_action({}, a) for a in range(2)] == [1, 0]
    assert all(Points24Interface().mistaken_action({}, a) != a for a in range(13))


def test_mistakes_happen_only_in_listed_states_at_the_set_rate():
    config = SFTConfig(
        env=EnvSettings(kwargs={"frame_size": 56}), demonstrations=3000,
        mistakes=MistakeSettings(states=[[2, 0], [3, 5]], probability=0.75), seed=3,
    )
    interface = NumberLineInterface()
    demonstrations = collect_demonstrations(config, interface)
    assert len(demonstrations) == 3000
    counts = Counter()
    for demonstration in demonstrations:
        parsed = parse_answer(demonstration.answer, interface.action_names)
        target, current = (int(part.split()[1]) for part in parsed.thoughts.split(", "))
        expert = 1 if target > current else 0
        state = (current, target)
        counts[(state in {(2, 0), (3, 5)}, parsed.action != expert)] += 1
    assert counts[(False, True)] == 0
    mistaken_rate = counts[(True, True)] / (counts[(True, True)] + counts[(True, False)])
    assert 0.65 < mistaken_rate < 0.85


def test_demonstrations_are_reproducible_from_the_seed():
    config = SFTConfig(env=EnvSettings(kwargs={"frame_size": 56}), demonstrations=50)
    first = collect_demonstrations(config, NumberLineInterface())
    second = collect_demonstrations(config, NumberLineInterface())
    assert [d.answer for d in first] == [d.answer for d in second]
    assert all((a.frames[0] == b.frames[0]).all() for a, b in zip(first, second))


def test_every_packaged_tiny_recipe_names_a_shipped_model():
    from importlib import resources

    from vldac.config import TrainConfig, load_config, read_recipe

    recipes = [p.name[:-5] for p in resources.files("vldac.configs").iterdir()
               if p.name.endswith("_tiny.yaml") and not p.name.startswith("sft_")]
    assert {"numberline_tiny", "ezpoints_tiny", "points24_tiny", "blackjack_tiny", "miniworld_oneroom_tiny"} <= set(recipes)
    for recipe in recipes:
        config = load_config(TrainConfig, read_recipe(recipe, ""))
        folder = resolve_model_path(config.model.path)
        assert read_play_settings(config.model.path).env_id == config.env.id, recipe
        assert sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file()) < 30 * 2**20


@pytest.mark.slow  # 64 evaluated episodes (about 10 s): a statistic, in .ci/run's slow run
def test_builtin_warm_start_ships_small_and_fails_in_the_mistaken_states():
    folder = resolve_model_path("builtin:tiny-numberline")
    size = sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file())
    assert size < 30 * 2**20
    world = read_play_settings("builtin:tiny-numberline")
    assert world.env_id == "vldac/NumberLine-v0"
    policy = load_policy("builtin:tiny-numberline")
    result = evaluate(policy, dataclasses.replace(world, max_new_tokens=24), episodes=64, seed=3_000_000, progress=False)
    assert result["invalid_rate"] < 0.05
    assert 0.3 <= result["success_rate"] <= 0.85


def test_a_warm_start_is_evaluated_with_room_for_its_longest_demonstrated_answer(tmp_path):
    config = SFTConfig(env=EnvSettings(id="vldac/Points24-v0", kwargs={"frame_size": 56}), demonstrations=40,
                       epochs=1, batch_size=20, output=str(tmp_path / "warm"))
    folder = run_sft(config)
    demonstrations = collect_demonstrations(config, Points24Interface())
    tokenizer = AutoTokenizer.from_pretrained(folder)
    longest = max(len(tokenizer(d.answer, add_special_tokens=False)["input_ids"]) for d in demonstrations)
    assert read_play_settings(str(folder)).max_new_tokens == longest + 1  # and the end-of-turn token


@pytest.mark.slow
def test_a_killed_and_resumed_warm_start_equals_the_uninterrupted_one(tmp_path):
    """Killed (kill -9 of its process group) after its third saved state, then vldac sft --resume:
    the same weights as the warm start that ran through, bit for bit; the state folder gone."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    from safetensors.torch import load_file

    settings = ["env.kwargs={frame_size: 56}", "demonstrations=48", "epochs=2", "batch_size=8", "checkpoint_every=1",
                "threads=1"]
    command = [sys.executable, "-m", "vldac", "sft", "sft_numberline_tiny", *settings]
    subprocess.run([*command, f"output={tmp_path / 'whole'}"], check=True, capture_output=True)
    killed = tmp_path / "killed"
    process = subprocess.Popen([*command, f"output={killed}"], start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline:
        progress = killed / "sft_state" / "progress.json"
        if progress.is_file() and json.loads(progress.read_text())["batch"] + 6 * json.loads(progress.read_text())["epoch"] >= 3:
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (killed / "model.safetensors").exists(), "the warm start ended before the kill"
    resumed = subprocess.run([sys.executable, "-m", "vldac", "sft", "--resume", str(killed)], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "Resuming the warm start in" in resumed.stderr
    whole, again = load_file(tmp_path / "whole" / "model.safetensors"), load_file(killed / "model.safetensors")
    assert whole.keys() == again.keys() and all(torch.equal(whole[key], again[key]) for key in whole)
    assert not (killed / "sft_state").exists()
    refused = subprocess.run([sys.executable, "-m", "vldac", "sft", "--resume", str(killed)], capture_output=True, text=True)
    assert refused.returncode == 2 and "holds no unfinished warm start to resume" in refused.stderr
