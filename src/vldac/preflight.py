"""Pre-flight of a model folder: does it fit vldac's one model path before hours are spent on it?

``vldac check-model DIR`` (and ``vldac train`` on any model that is not one of vldac's built-ins)
encodes one batch of prompts holding 1, 2, 3 and 4 frames of a world through the model's
processor and chat template, runs the model on it, and checks:

- placeholders == features: the image tokens the processor writes equal the feature rows the
  vision tower returns (the crash peers report as "image features and image tokens do not
  match", here found before training, with both counts);
- the chat template renders every image part of a turn (one image marker per frame);
- end tokens: the chat template closes an assistant turn with an added token (where answers end);
- LoRA: adapters exist, and all lie in the language model (none in the vision tower or connector).

A failure is one sentence naming it and its fix (``PreflightFailed``); the report is one line per check.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass

import numpy as np
import torch
from jinja2.exceptions import TemplateError
from peft import PeftModel
from transformers import ProcessorMixin

from vldac.agents import interface_for
from vldac.agents.base import build_messages
from vldac.config import ModelSettings
from vldac.envs import make_world
from vldac.models.families import backbone, forget_position_offsets, model_type
from vldac.models.loading import build_policy, load_policy, resolve_model_path
from vldac.models.policy import VLMPolicy
from vldac.models.prompts import encode_prompts
from vldac.models.tokens import PROCESSOR_IMAGE_TOKENS, VISION_PLACEHOLDERS, end_of_turn_id
from vldac.models.vision_cache import vision_inputs

MAX_FRAMES = 4
"""The check's prompts hold 1..MAX_FRAMES frames."""
FIX_IMAGE_LAYOUT = ("make the processor's image settings (patch size, merge size, image sequence length) match the "
                    "model's vision config, e.g. by saving the processor that came with the model")
FIX_TEMPLATE = 'use a chat template that renders each {"type": "image"} part of a message (the family\'s own)'
FIX_END = ("give the model a chat template that closes an assistant turn with an added token (the family's own "
           "template), and list that token in generation_config.eos_token_id")


class PreflightFailed(RuntimeError):
    """A model folder does not fit vldac's model path (the sentence names the check)."""


@dataclass(frozen=True)
class Check:
    """One check's outcome: its name, whether it passed, what was found, and how to fix a failure."""

    name: str
    passed: bool
    found: str
    fix: str = ""


def first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def frame_histories(frames: list[np.ndarray]) -> list[list[np.ndarray]]:
    """Prompts of 1..MAX_FRAMES frames, oldest first, cycling through ``frames`` (at least one)."""
    return [[frames[(row + k) % len(frames)] for k in range(row + 1)] for row in range(MAX_FRAMES)]


def check_policy(policy: VLMPolicy, frames: list[np.ndarray], instruction: str) -> list[Check]:
    """Every check on ``policy`` with prompts built from ``frames`` (the world's) and ``instruction``.
    Runs without gradient, in eval mode (restored after), drawing no random numbers."""
    return [
        image_features_check(policy, frame_histories(frames), instruction),
        chat_template_check(policy.processor, instruction),
        end_tokens_check(policy),
        lora_check(policy),
    ]


def image_features_check(policy: VLMPolicy, histories: list[list[np.ndarray]], instruction: str) -> Check:
    """Image placeholders in one left-padded batch (the processor's own encoding) vs feature rows
    out of the vision tower, in the model's plain forward (vldac's vision-feature cache left out:
    the question is whether processor and model agree)."""
    name = "placeholders == features"
    model = policy.model
    inner = backbone(model).model
    image_token = getattr(model.config, "image_token_id", None) or getattr(model.config, "image_token_index", None)
    if image_token is None or not hasattr(inner, "get_image_features"):
        return Check(name, False, f"{model_type(model)} names no image token id in its config or has no "
                                  "get_image_features, so vldac cannot feed it frames",
                     "use a transformers image-text-to-text checkpoint of a family vldac supports")
    frames = sum(len(history) for history in histories)
    try:
        prompts = encode_prompts(policy.processor, histories, [instruction] * len(histories),
                                 policy.encode.instruction_first).to(policy.device)
    except (ValueError, TypeError, TemplateError) as error:
        return Check(name, False, f"the processor cannot encode prompts of 1-{MAX_FRAMES} frames: "
                                  f"{first_line(error)}", FIX_IMAGE_LAYOUT)
    placeholders = int((prompts["input_ids"] == image_token).sum())
    written = f"{placeholders} image placeholders for {frames} frames in {len(histories)} prompts"
    training = model.training
    model.eval()
    try:
        with counted_image_features(model) as feature_rows, torch.no_grad():
            model(**vision_inputs(model, prompts, None), logits_to_keep=1, use_cache=False)
    except Exception as error:  # any failure of the model on the check's batch is the check's finding
        counted = f", {sum(feature_rows)} feature rows" if feature_rows else ""
        return Check(name, False, f"{written}{counted}; the forward failed: {first_line(error)}", FIX_IMAGE_LAYOUT)
    finally:
        model.train(training)
        forget_position_offsets(model)
    return Check(name, feature_rows == [placeholders] and placeholders >= frames, f"{written}, {sum(feature_rows)} feature rows",
                 FIX_IMAGE_LAYOUT)


@contextlib.contextmanager
def counted_image_features(model):
    """Within the block, every call of the model's ``get_image_features`` appends the feature rows
    it returned (elements / hidden size) to the yielded list."""
    inner = backbone(model).model
    hidden = model.config.get_text_config().hidden_size
    feature_rows: list[int] = []
    get_image_features = inner.get_image_features

    def counting(*args, **kwargs):
        output = get_image_features(*args, **kwargs)
        features = getattr(output, "pooler_output", output)
        parts = features if isinstance(features, (list, tuple)) else [features]
        feature_rows.append(sum(part.numel() for part in parts) // hidden)
        return output

    inner.get_image_features = counting
    try:
        yield feature_rows
    finally:
        del inner.get_image_features


def image_markers(processor: ProcessorMixin) -> list[str]:
    """The strings that may mark an image in a rendered chat: the processor's named tokens, then
    the families' placeholders."""
    named = [getattr(processor, attribute, None) for attribute in PROCESSOR_IMAGE_TOKENS]
    return list(dict.fromkeys([token for token in named if isinstance(token, str)] + list(VISION_PLACEHOLDERS)))


def chat_template_check(processor: ProcessorMixin, instruction: str) -> Check:
    """One image marker per image part, for turns of 1..MAX_FRAMES frames."""
    name = "chat template renders images"
    markers = image_markers(processor)
    counts = []
    for frames in range(1, MAX_FRAMES + 1):
        try:
            text = processor.apply_chat_template(build_messages(instruction, frames), add_generation_prompt=True,
                                                 tokenize=False)
        except (ValueError, TemplateError) as error:
            return Check(name, False, f"the chat template cannot render a turn of {frames} frame(s): "
                                      f"{first_line(error)}", FIX_TEMPLATE)
        counts.append({marker: text.count(marker) for marker in markers})
    rendering = [marker for marker in markers if [count[marker] for count in counts] == list(range(1, MAX_FRAMES + 1))]
    if rendering:
        return Check(name, True, f"one {rendering[0]} per image part (turns of 1-{MAX_FRAMES} frames)")
    seen = {marker: [count[marker] for count in counts] for marker in markers if any(count[marker] for count in counts)}
    return Check(name, False, f"no image marker appears once per image part in turns of 1-{MAX_FRAMES} frames "
                              f"(markers per turn: {seen or 'none'})",
                 FIX_TEMPLATE)


def end_tokens_check(policy: VLMPolicy) -> Check:
    """The chat template closes an assistant turn with an added token: demonstrations are written
    with it and generation stops at it (vldac adds it to the model's own eos tokens); the model's
    generation_config listing it too is reported."""
    tokenizer = policy.processor.tokenizer
    names = tokenizer.convert_ids_to_tokens(list(policy.tokens.end_ids))
    end_of_turn = end_of_turn_id(policy.processor)
    if end_of_turn is None:
        return Check("end tokens", False, "the chat template closes no assistant turn with an added token, so an answer "
                                          "has no end that demonstrations write and generation stops at", FIX_END)
    listed = end_of_turn in _as_ids(getattr(policy.model.generation_config, "eos_token_id", None))
    return Check("end tokens", True, f"answers end at {', '.join(names)}; the chat template closes a turn with "
                                     f"{tokenizer.convert_ids_to_tokens(end_of_turn)}"
                                     f"{'' if listed else ' (not in generation_config.eos_token_id: vldac adds it)'}")


def _as_ids(ids: int | list[int] | None) -> list[int]:
    return [] if ids is None else [ids] if isinstance(ids, int) else list(ids)


def lora_check(policy: VLMPolicy) -> Check:
    """Adapters on the language model only (full fine-tuning: nothing to check)."""
    model = policy.model
    if not isinstance(model, PeftModel):
        return Check("LoRA targets", True, "full fine-tuning (no adapters)")
    decoder = getattr(model, "get_decoder", lambda: None)()
    prefix = next((name for name, module in model.named_modules() if module is decoder), None)
    if prefix is None:
        return Check("LoRA targets", False, "the model names no language model (get_decoder) to keep the adapters in",
                     "use a transformers image-text-to-text checkpoint, or model.finetune=full")
    adapted = sorted({name.rsplit(".lora_A", 1)[0] for name, _ in model.named_modules() if ".lora_A." in f"{name}."})
    outside = [name for name in adapted if not name.startswith(f"{prefix}.")]
    if not adapted or outside:
        where = f"outside the language model, e.g. {outside[0]}" if outside else "none found"
        return Check("LoRA targets", False, f"adapters {where}",
                     "set model.lora.target_modules to linear layers of the language model (e.g. q_proj, v_proj)")
    return Check("LoRA targets", True, f"{len(adapted)} adapted linear layers, all in {prefix} (none in the vision tower)")


def report_lines(checks: list[Check]) -> list[str]:
    return [f"  {'ok  ' if check.passed else 'FAIL'} {check.name}: {check.found}" for check in checks]


def refuse_failures(checks: list[Check], model: str) -> None:
    """One sentence naming the first failed check (PreflightFailed), or nothing."""
    failed = next((check for check in checks if not check.passed), None)
    if failed is not None:
        raise PreflightFailed(f"The model at {model} fails the pre-flight check '{failed.name}': {failed.found}; "
                              f"{failed.fix}.")


def world_frames(env_id: str, env_kwargs: dict, seed: int) -> tuple[list[np.ndarray], str]:
    """First frames of MAX_FRAMES episodes of a world (seeds seed..), and the first one's instruction."""
    interface = interface_for(env_id, env_kwargs)
    world = make_world(env_id, **env_kwargs)
    try:
        observations = [world.reset(seed=seed + k) for k in range(MAX_FRAMES)]
    finally:
        world.close()
    return [frame for frame, _ in observations], interface.instruction(observations[0][1])


def check_before_training(policy: VLMPolicy, model: str, env_id: str, env_kwargs: dict, seed: int,
                          report: bool) -> None:
    """``vldac train``'s pre-flight of a model that is not one of vldac's built-ins: the checks on
    first frames of the run's world (a world of its own, seeds from ``seed``), the report on
    standard error when ``report``, and one sentence on a failure, before anything is written."""
    frames, instruction = world_frames(env_id, env_kwargs, seed)
    checks = check_policy(policy, frames, instruction)
    if report:
        print(f"Pre-flight of {model}:", *report_lines(checks), sep="\n", file=sys.stderr)
    refuse_failures(checks, model)


def check_model_folder(path: str, env_id: str, env_kwargs: dict, dtype: str, device: torch.device, seed: int) -> list[Check]:
    """Load a model folder as training would (LoRA on the default targets; a checkpoint with its
    adapter) and check it on frames of ``env_id``."""
    folder = resolve_model_path(path)
    frames, instruction = world_frames(env_id, env_kwargs, seed)
    if (folder / "adapter_config.json").is_file():
        policy = load_policy(path, dtype=dtype, device=device)
    else:
        policy = build_policy(ModelSettings(path=path, dtype=dtype, value_head_hidden=[]), device=device)
    return check_policy(policy, frames, instruction)
