"""Supervised warm start from scripted-expert demonstrations with state-dependent mistakes.

Demonstrations follow the expert through seeded episodes (training seeds only; with
``mistakes.followed``, the demonstrated actions, mistakes included). In the
states listed under ``mistakes.states`` (keyed by the world's ``state_key``) the written
action is replaced by a wrong one with probability ``mistakes.probability``: above 0.5 the
trained model's greedy action is wrong there, while sampling still tries the right one, which
is what reinforcement learning then has to fix. Uniform label noise would not do this (the
argmax would stay right). The result is a full model saved in Hugging Face layout.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm
from transformers import PreTrainedModel, ProcessorMixin

import vldac.envs
from vldac.agents import FrameHistory, LanguageInterface, interface_for
from vldac.config import EnvSettings, SFTConfig, check_output_folder, check_ranges, save_config, to_dict
from vldac.models.families import build_tiny_vlm, family_processor
from vldac.models.loading import load_base_model, note_slow_cpu_bfloat16, resolve_model_path, save_play_settings
from vldac.models.policy import VLMPolicy
from vldac.models.tokens import answer_token_ids, pad_answers
from vldac.models.smolvlm import VisionTowerSpec, build_smolvlm, find_gguf, load_smollm2
from vldac.models.tiny import TinyVLMSpec
from vldac.models.value_head import ValueHead
from vldac.provenance import provenance, write_provenance
from vldac.seeds import TRAINING_SEED_LIMIT


@dataclass
class Demonstration:
    frames: list[np.ndarray]
    text: str
    answer: str


def collect_demonstrations(config: SFTConfig, interface: LanguageInterface, progress: bool = False) -> list[Demonstration]:
    """``config.demonstrations`` (frames, answer) pairs along expert episodes on training seeds
    (with ``progress``, a progress bar on standard error)."""
    rng = np.random.default_rng(config.seed)
    env = vldac.envs.make_world(config.env.id, **config.env.kwargs)
    expert = vldac.envs.expert_for(config.env.id)
    mistaken = {tuple(state) for state in config.mistakes.states}
    history = FrameHistory(config.env.history)
    demonstrations: list[Demonstration] = []
    bar = tqdm(total=config.demonstrations, desc="demonstrations", unit="step", disable=not progress, file=sys.stderr)
    while len(demonstrations) < config.demonstrations:
        frame, info = env.reset(seed=int(rng.integers(TRAINING_SEED_LIMIT)))
        history.reset(0, frame)
        done = False
        while not done and len(demonstrations) < config.demonstrations:
            action = expert(info)
            written = action
            if tuple(interface.state_key(info)) in mistaken and rng.random() < config.mistakes.probability:
                written = interface.mistaken_action(info, action)
            demonstrations.append(
                Demonstration(history.frames(0), interface.instruction(info), interface.demonstration(info, written))
            )
            bar.update()
            frame, _, terminated, truncated, info = env.step(written if config.mistakes.followed else action)
            history.push(0, frame)
            done = terminated or truncated
    bar.close()
    env.close()
    return demonstrations


def tokenizer_corpus(interface: LanguageInterface, demonstrations: list[Demonstration]) -> list[str]:
    """Texts the built-in model's tokenizer is trained on: the chat roles, instructions and answers."""
    instructions = list(dict.fromkeys(d.text for d in demonstrations))
    return ["user", "assistant", *instructions] + [d.answer for d in demonstrations]


TINY_MODEL_DEMONSTRATIONS = 500
"""Expert steps whose instructions and answers the tokenizer of ``vldac tiny-model`` learns from."""


def save_tiny_model(family: str, output: Path, seed: int, env: EnvSettings) -> Path:
    """A random-weight tiny VLM of ``family`` (a transformers model_type) with its processor and a
    tokenizer trained on ``env``'s expert texts, saved to ``output`` (``vldac tiny-model``)."""
    interface = interface_for(env.id, env.kwargs)
    demonstrations = collect_demonstrations(
        SFTConfig(seed=seed, env=env, demonstrations=TINY_MODEL_DEMONSTRATIONS), interface
    )
    spec = TinyVLMSpec(family=family, frame_size=int(env.kwargs.get("frame_size", 84)))
    model, processor = build_tiny_vlm(tokenizer_corpus(interface, demonstrations), spec, seed=seed)
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output)
    processor.save_pretrained(output)
    return output


AUTOCAST_DTYPES = {"bfloat16": torch.bfloat16}


def check_sft_settings(config: SFTConfig) -> None:
    """One sentence (ValueError, or ModelLoadError for a base that cannot be had) for settings the
    warm start cannot use, before any demonstration is collected."""
    check_ranges(config)
    check_output_folder("output", config.output)
    if not 0 <= config.micro_batch_size <= config.batch_size:
        raise ValueError(f"sft micro_batch_size {config.micro_batch_size} must be between 0 (the whole batch) and "
                         f"batch_size ({config.batch_size}).")
    if config.base == "new:smolvlm-135m":
        frame_size = int(config.env.kwargs.get("frame_size", 84))
        if frame_size < 28 or frame_size % 28:
            raise ValueError(f"env.kwargs.frame_size {frame_size} must be a multiple of 28 for new:smolvlm-135m "
                             "(its vision tower's 14-px patches are merged 2x2 into tokens).")
        find_gguf()
    elif config.base.startswith("new:") and config.base != "new:tiny":
        raise ValueError(f"sft base '{config.base}' is unknown; use 'new:tiny', 'new:smolvlm-135m' or a model path.")
    elif not config.base.startswith("new:"):
        resolve_model_path(config.base)


def base_model(
    config: SFTConfig, interface: LanguageInterface, demonstrations: list[Demonstration]
) -> tuple[PreTrainedModel, ProcessorMixin]:
    """The model and processor the warm start begins from (see ``SFTConfig.base``), float32."""
    frame_size = int(config.env.kwargs.get("frame_size", 84))
    if config.base == "new:tiny":
        return build_tiny_vlm(
            tokenizer_corpus(interface, demonstrations), TinyVLMSpec(frame_size=frame_size), seed=config.seed
        )
    if config.base == "new:smolvlm-135m":
        language_model, tokenizer = load_smollm2(find_gguf())
        return build_smolvlm(language_model, tokenizer, VisionTowerSpec(image_size=frame_size), seed=config.seed)
    folder = resolve_model_path(config.base)
    return load_base_model(folder, torch.float32), family_processor(folder)


SFT_STATE = "sft_state"
"""The folder inside the output where an unfinished warm start keeps what resuming it needs."""


@dataclass
class SFTProgress:
    """Where an unfinished warm start stands: the next batch (epoch, index in the epoch), the
    demonstration-order generator's state at that epoch's start, the losses so far, seconds spent."""

    epoch: int = 0
    batch: int = 0
    epoch_rng_state: dict | None = None
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def save_sft_state(output: Path, progress: SFTProgress, model, optimizer, schedule) -> None:
    """Write the state atomically: a kill at any moment leaves the previous state or this one."""
    staging = output / f".{SFT_STATE}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                "torch_rng": torch.get_rng_state()}, staging / "weights.pt")
    (staging / "progress.json").write_text(json.dumps(dataclasses.asdict(progress)))
    final = output / SFT_STATE
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)


def run_sft(config: SFTConfig, resume: bool = False) -> Path:
    """Build or load the base model, fit it to the demonstrations, save it to ``config.output``.
    With ``resume``, continue the unfinished warm start in ``config.output`` from its last state
    (``sft.checkpoint_every``): the same demonstrations, order and weights as an uninterrupted run."""
    check_sft_settings(config)
    output = Path(config.output)
    state_folder = output / SFT_STATE
    if resume and not (state_folder / "progress.json").is_file():
        raise FileNotFoundError(f"{output} holds no unfinished warm start to resume (no {SFT_STATE}/ with a state in "
                                "it); start it again without --resume.")
    if not resume and state_folder.exists():
        raise ValueError(f"{output} holds an unfinished warm start; continue it with vldac sft --resume {output}, "
                         "or remove the folder to start again.")
    torch.manual_seed(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    interface = interface_for(config.env.id, config.env.kwargs)
    demonstrations = collect_demonstrations(config, interface, progress=True)
    model, processor = base_model(config, interface, demonstrations)
    policy = VLMPolicy(
        model, processor, ValueHead(model.config.get_text_config().hidden_size, []), instruction_first=config.env.instruction_first
    )
    tokens = answer_token_ids(processor.tokenizer, policy.tokens, [d.answer for d in demonstrations])
    if config.autocast:
        note_slow_cpu_bfloat16(AUTOCAST_DTYPES[config.autocast], policy.device)
    autocast = torch.autocast(policy.device.type, dtype=AUTOCAST_DTYPES[config.autocast]) if config.autocast else nullcontext()

    steps_per_epoch = math.ceil(len(demonstrations) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps, eta_min=config.final_lr)
    rng = np.random.default_rng(config.seed + 1)
    state = SFTProgress()
    resumed_from = None
    if resume:
        saved = torch.load(state_folder / "weights.pt", weights_only=True)
        model.load_state_dict(saved["model"], strict=True)
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        torch.set_rng_state(saved["torch_rng"])
        state = SFTProgress(**json.loads((state_folder / "progress.json").read_text()))
        rng.bit_generator.state = state.epoch_rng_state
        resumed_from = f"step {state.epoch * steps_per_epoch + state.batch}"
        print(f"Resuming the warm start in {output} at {resumed_from} of {total_steps}.", file=sys.stderr)
    else:
        output.mkdir(parents=True, exist_ok=True)
        save_config(config, output / "sft_config.yaml")
    model.train()
    started = time.time() - state.seconds
    with tqdm(total=total_steps, initial=state.epoch * steps_per_epoch + state.batch, desc="sft", unit="step",
              file=sys.stderr) as bar:
        for epoch in range(state.epoch, config.epochs):
            state.epoch, state.epoch_rng_state = epoch, rng.bit_generator.state
            batches = np.array_split(rng.permutation(len(demonstrations)), steps_per_epoch)
            for index, batch in enumerate(batches[state.batch:], start=state.batch):
                answer_tokens = sum(len(tokens[i]) for i in batch)
                optimizer.zero_grad(set_to_none=True)
                loss = 0.0
                for micro in np.array_split(batch, math.ceil(len(batch) / (config.micro_batch_size or len(batch)))):
                    prompts = policy.prompts([demonstrations[i].frames for i in micro], [demonstrations[i].text for i in micro])
                    token_ids, token_mask = pad_answers([tokens[i] for i in micro], policy.pad_id)
                    with autocast:
                        logprobs, _ = policy.score(prompts, token_ids, token_mask, temperature=1.0)
                    micro_loss = -(logprobs * token_mask).sum() / answer_tokens
                    micro_loss.backward()
                    loss += micro_loss.item()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                state.losses.append(loss)
                state.batch = index + 1
                bar.set_postfix(loss=f"{np.mean(state.losses[-50:]):.4f}")
                bar.update()
                done = epoch * steps_per_epoch + index + 1
                if config.checkpoint_every and done % config.checkpoint_every == 0 and done < total_steps:
                    state.seconds = time.time() - started
                    save_sft_state(output, state, model, optimizer, schedule)
            state.batch = 0
    model.eval()
    model.save_pretrained(output)
    processor.save_pretrained(output)
    save_play_settings(output, config.play_settings(max_new_tokens=max(len(answer) for answer in tokens)))
    write_provenance(output, provenance(
        to_dict(config), seeds={"seed": config.seed, "demonstration_episode_seeds": [0, TRAINING_SEED_LIMIT]},
        worlds=[{"id": config.env.id, "kwargs": config.env.kwargs}],
        resumed_from=resumed_from,
    ))
    summary = {
        "demonstrations": len(demonstrations), "steps": total_steps, "final_loss": float(np.mean(state.losses[-50:])),
        "seconds": round(time.time() - started, 1), "torch": torch.__version__, "threads": torch.get_num_threads(),
    }
    (output / "sft_summary.json").write_text(json.dumps(summary, indent=2))
    (output / "README.md").write_text(MODEL_CARD.format(config=config, **summary))
    shutil.rmtree(state_folder, ignore_errors=True)
    return output


MODEL_CARD = """# {config.name}

A supervised warm start made by `vldac sft` for `{config.env.id}` (env kwargs {config.env.kwargs},
{config.env.history} frame(s) of history), from `{config.base}`, with seed {config.seed}.

- {demonstrations} expert demonstrations on training seeds; in the states
  {config.mistakes.states} (the world's state key) the demonstrated action is wrong with
  probability {config.mistakes.probability}; the world played the demonstrated actions: {config.mistakes.followed}.
- {steps} optimiser steps ({config.epochs} epochs, batch {config.batch_size}, lr {config.lr} cosine to
  {config.final_lr}, autocast {config.autocast}); final loss {final_loss:.4f}; {seconds} s with torch {torch} on {threads} threads.

Reproduce (the resolved config is saved beside this card):

    vldac sft sft_config.yaml output=<folder>
"""

