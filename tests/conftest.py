"""Shared fixtures: tiny random-weight VLMs built from configs on the fly (no downloads)."""

from __future__ import annotations

import pytest
import torch
from transformers import GenerationConfig

from vldac.agents import NumberLineInterface
from vldac.models.families import QWEN_VL_FAMILIES
from vldac.models.tiny import FAMILIES as TINY_FAMILIES
from vldac.models.tiny import TinyVLMSpec, build_tiny_vlm

FAMILIES = list(TINY_FAMILIES)
"""Every family vldac supports, each with a tiny checkpoint (the test matrix)."""
FRAME_SIZE = 56


def tiny_corpus() -> list[str]:
    interface = NumberLineInterface()
    answers = [
        interface.demonstration({"target": g, "current": c}, a)
        for g in range(6) for c in range(6) for a in range(2)
    ]
    return ["user", "assistant", interface.instruction({}), *answers] * 4


def save_tiny_model(folder, family: str):
    """Save a tiny random VLM of ``family`` with a near-greedy generation_config.json like
    Qwen2-VL-Instruct's (top_k 1, top_p 0.001, low temperature, repetition penalty), plus min_p 1
    (a field vldac's sampling configuration leaves unset, so only hiding the model's own config
    keeps it out)."""
    spec = TinyVLMSpec(
        vocab_size=320, hidden_size=64, num_layers=2, num_heads=4, num_kv_heads=2,
        intermediate_size=128, vision_embed_dim=32, vision_depth=1, vision_heads=2,
        frame_size=FRAME_SIZE, family=family,
    )
    model, processor = build_tiny_vlm(tiny_corpus(), spec, seed=0)
    model.generation_config = GenerationConfig(
        do_sample=True, top_k=1, top_p=0.001, min_p=1.0, temperature=0.01, repetition_penalty=1.5,
        eos_token_id=model.generation_config.eos_token_id, pad_token_id=model.generation_config.pad_token_id,
    )
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


_SAVED: dict[str, object] = {}


def saved_tiny_model(family: str, tmp_path_factory):
    """The tiny model of ``family``, built once per test session."""
    if family not in _SAVED:
        _SAVED[family] = save_tiny_model(tmp_path_factory.mktemp(f"tiny-{family}"), family)
    return _SAVED[family]


@pytest.fixture(scope="session", params=FAMILIES)
def tiny_model_dir(request, tmp_path_factory):
    """A saved tiny random VLM of each family."""
    return saved_tiny_model(request.param, tmp_path_factory)


@pytest.fixture(scope="session", params=QWEN_VL_FAMILIES)
def fast_path_model_dir(request, tmp_path_factory):
    """A saved tiny random VLM of each family that takes the shared prefix and the vision cache."""
    return saved_tiny_model(request.param, tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_qwen2vl_dir(tmp_path_factory):
    """A saved tiny random Qwen2-VL."""
    return save_tiny_model(tmp_path_factory.mktemp("tiny-cli"), "qwen2_vl")


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)
