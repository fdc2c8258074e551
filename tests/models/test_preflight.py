"""The pre-flight of a model folder (vldac check-model, and vldac train on a model that is not a
built-in): every family's checkpoint passes it; a processor that disagrees with its model, a chat
template without images and adapters in the vision tower are each refused in one sentence."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import torch
from peft import LoraConfig, get_peft_model

from tests.helpers import tiny_overrides, vldac_here
from vldac.seeds import EVAL_SEED_START
from vldac.models.loading import load_base_model
from vldac.models.policy import VLMPolicy
from vldac.models.families import family_processor
from vldac.models.value_head import ValueHead
from vldac.preflight import MAX_FRAMES, check_model_folder, check_policy, world_frames

NUMBERLINE = ("vldac/NumberLine-v0", {"frame_size": 56})


def test_every_family_s_checkpoint_passes_the_pre_flight(family_model_dir):
    checks = check_model_folder(str(family_model_dir), *NUMBERLINE, "float32", torch.device("cpu"), EVAL_SEED_START)
    assert [check.name for check in checks] == ["placeholders == features", "chat template renders images", "end tokens",
                                                "LoRA targets"]
    assert all(check.passed for check in checks), [check for check in checks if not check.passed]
    frames = sum(range(1, MAX_FRAMES + 1))
    assert f"for {frames} frames in {MAX_FRAMES} prompts" in checks[0].found
    placeholders, features = checks[0].found.split(" image placeholders")[0], checks[0].found.split(", ")[-1]
    assert features == f"{placeholders} feature rows" and int(placeholders) >= frames


def changed_copy(model_dir, folder, processor_change=None, template_change=None):
    """A copy of a saved model folder with its processor settings or chat template changed."""
    shutil.copytree(model_dir, folder)
    if processor_change:
        path = folder / "processor_config.json"
        settings = json.loads(path.read_text())
        processor_change(settings)
        path.write_text(json.dumps(settings))
    if template_change:
        path = folder / "chat_template.jinja"
        path.write_text(template_change(path.read_text()))
    return folder


def test_check_model_refuses_a_processor_whose_merge_size_disagrees_with_the_model(tiny_qwen2vl_dir, tmp_path):
    broken = changed_copy(tiny_qwen2vl_dir, tmp_path / "broken",
                          processor_change=lambda settings: settings["image_processor"].update(merge_size=1))
    code, stderr = vldac_here(tmp_path, "check-model", str(broken), "--env-kwargs", '{"frame_size": 56}')
    assert code == 2
    sentence = stderr.strip().splitlines()[-1]
    assert sentence.startswith(f"vldac check-model: The model at {broken} fails the pre-flight check "
                               "'placeholders == features': ")
    placeholders, features = map(int, re.search(r"(\d+) image placeholders for 10 frames in 4 prompts, (\d+) feature rows",
                                                sentence).groups())
    assert placeholders == 4 * features  # merge size 1 instead of 2: four times the tokens
    assert sentence.endswith("match the model's vision config, e.g. by saving the processor that came with the model.")
    assert "Traceback" not in stderr


def test_train_refuses_a_model_that_fails_the_pre_flight_before_writing_anything(tiny_qwen2vl_dir, tmp_path):
    broken = changed_copy(tiny_qwen2vl_dir, tmp_path / "broken",
                          processor_change=lambda settings: settings["image_processor"].update(merge_size=1))
    runs = tmp_path / "runs"
    code, stderr = vldac_here(tmp_path, "train", *tiny_overrides(broken, 16), f"output_dir={runs}")
    assert code == 2 and "fails the pre-flight check 'placeholders == features'" in stderr
    assert not runs.exists()
    with pytest.raises((RuntimeError, ValueError)):  # what the check saves a user from: a crash in the first rollout
        vldac_here(tmp_path, "train", *tiny_overrides(broken, 16), f"output_dir={runs}", "model.preflight=false")


def test_a_chat_template_that_drops_images_is_refused(tiny_qwen2vl_dir, tmp_path):
    textual = changed_copy(tiny_qwen2vl_dir, tmp_path / "textual",
                           template_change=lambda text: text.replace("<|vision_start|><|image_pad|><|vision_end|>", ""))
    checks = check_model_folder(str(textual), *NUMBERLINE, "float32", torch.device("cpu"), EVAL_SEED_START)
    template = next(check for check in checks if check.name == "chat template renders images")
    assert not template.passed and "no image marker appears once per image part" in template.found
    broken = changed_copy(tiny_qwen2vl_dir, tmp_path / "broken", template_change=lambda text: text + "{% if %}")
    checks = check_model_folder(str(broken), *NUMBERLINE, "float32", torch.device("cpu"), EVAL_SEED_START)
    template = next(check for check in checks if check.name == "chat template renders images")
    assert not template.passed and template.found.startswith("the chat template cannot render a turn of 1 frame(s): ")


def test_adapters_in_the_vision_tower_are_refused(tiny_qwen2vl_dir):
    model = load_base_model(tiny_qwen2vl_dir, torch.float32)
    vision_linears = [name for name, module in model.named_modules()
                      if ".visual." in f".{name}." and isinstance(module, torch.nn.Linear)]
    model = get_peft_model(model, LoraConfig(r=2, target_modules=vision_linears[:1]))
    policy = VLMPolicy(model, family_processor(tiny_qwen2vl_dir), ValueHead(model.config.get_text_config().hidden_size, []))
    checks = check_policy(policy, *world_frames(*NUMBERLINE, EVAL_SEED_START))
    lora = next(check for check in checks if check.name == "LoRA targets")
    assert not lora.passed and lora.found.startswith("adapters outside the language model, e.g. ")
    assert vision_linears[0] in lora.found


def test_a_chat_template_that_closes_turns_with_plain_text_is_refused(tiny_qwen2vl_dir, tmp_path):
    plain = changed_copy(tiny_qwen2vl_dir, tmp_path / "plain", template_change=lambda text: text.replace("<|im_end|>", "END"))
    checks = check_model_folder(str(plain), *NUMBERLINE, "float32", torch.device("cpu"), EVAL_SEED_START)
    ends = next(check for check in checks if check.name == "end tokens")
    assert not ends.passed and "closes no assistant turn with an added token" in ends.found
