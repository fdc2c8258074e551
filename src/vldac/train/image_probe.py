"""Does the policy look at the image? The image-dependence probe.

At update 1 and every ``train.image_probe_every`` updates, a fixed handful of the rollout's
steps (PROBE_STEPS, evenly spaced through the rollout: no random draw) is scored twice by the
policy that sampled them: with the frames it saw, and with blank frames of the same size (every
pixel 0). ``image_kl`` is the mean over those steps of

    KL(pi(. | real frames) || pi(. | blank frames)),  per answer, in nats,

estimated on the sampled answer (the k3 estimate of each token, summed over the answer; see
vldac.algorithms.answer_kl); ``image_kl_stderr`` is its standard error over the steps (each rank
probes its own PROBE_STEPS steps; the mean is over all of them). Two no-gradient forwards of
PROBE_STEPS prompts: a few percent of an update. The k3 estimate is unbounded above where blank
frames make a sampled token much more likely, so a single answer can move the mean: read the
curve's level and trend, with its band, rather than single points. The probe scores in eval mode
and without the vision-feature cache, so the run's numbers are those it has with the probe off.

How to read it: 0 means the answer does not depend on the frames at all (the policy acts from
the text alone); in a world whose state is only in the frame (NumberLine's numbers, MiniWorld's
room) a policy that succeeds must have a clearly positive image_kl, and a falling image_kl while
success rises means the policy is learning to ignore the image (a prompt that leaks the answer,
or a world solvable without it). The trainer warns when the last IGNORED_PROBES probes all stay
below IGNORED_KL nats while training success has risen by at least IGNORED_SUCCESS_RISE since
the first probe.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch

from vldac.algorithms import answer_kl
from vldac.models.policy import VLMPolicy
from vldac.models.prompts import encode_prompts
from vldac.models.tokens import pad_answers
from vldac.rollout.buffer import StepRecord

PROBE_STEPS = 8
"""Rollout steps scored with and without their frames at each probe."""
IGNORED_KL = 0.01
"""image_kl (nats per answer) below which the answer is taken not to depend on the frames."""
IGNORED_PROBES = 3
"""Probes in a row below IGNORED_KL before the trainer warns."""
IGNORED_SUCCESS_RISE = 0.1
"""Rise of the training success rate since the first probe that makes a flat image_kl a warning."""


def probed_steps(records: list[StepRecord]) -> list[StepRecord]:
    """PROBE_STEPS records evenly spaced through the rollout (all of them when fewer)."""
    if len(records) <= PROBE_STEPS:
        return list(records)
    return [records[int(i)] for i in np.linspace(0, len(records) - 1, PROBE_STEPS).round()]


@torch.no_grad()
def image_kl_per_step(policy: VLMPolicy, records: list[StepRecord], temperature: float) -> torch.Tensor:
    """KL(pi(. | frames) || pi(. | blank frames)) of each record's sampled answer, in nats: [B]."""
    texts = [record.text for record in records]
    blank = [[np.zeros_like(frame) for frame in record.frames] for record in records]
    token_ids, token_mask = pad_answers([record.token_ids for record in records], policy.pad_id)
    token_ids, token_mask = token_ids.to(policy.device), token_mask.to(policy.device)
    scored = []
    with apart_from_the_run(policy):
        for frames in ([record.frames for record in records], blank):
            prompts = encode_prompts(policy.processor, frames, texts, policy.encode.instruction_first).to(policy.device)
            scored.append(policy.score(prompts, token_ids, token_mask, temperature)[0])
    return answer_kl(*scored, token_mask).cpu()


@contextlib.contextmanager
def apart_from_the_run(policy: VLMPolicy):
    """Score in eval mode (no dropout draws a random number) and without the vision-feature cache
    (the probe's frames neither enter it nor push the rollout's out); both restored after."""
    training, cache = policy.model.training, policy.scorer.vision_cache
    policy.model.eval()
    policy.scorer.vision_cache = None
    try:
        yield
    finally:
        policy.scorer.vision_cache = cache
        policy.model.train(training)


def summarize_probe(kls: list[float]) -> dict[str, float]:
    """image_kl (mean over the probed steps) and image_kl_stderr (sample standard deviation / sqrt(n))."""
    values = np.asarray(kls, dtype=float)
    stderr = float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0
    return {"image_kl": float(values.mean()), "image_kl_stderr": stderr}


def ignores_image(history: list[tuple[float, float | None]]) -> bool:
    """Whether probes (image_kl, training success rate at that update) say the policy has learned
    to ignore the image: the last IGNORED_PROBES image_kl below IGNORED_KL while success rose by
    IGNORED_SUCCESS_RISE or more since the first probe."""
    if len(history) < IGNORED_PROBES + 1:
        return False
    recent = history[-IGNORED_PROBES:]
    first_success = next((success for _, success in history if success is not None), None)
    recent_success = [success for _, success in recent if success is not None]
    if first_success is None or not recent_success:
        return False
    return (all(kl < IGNORED_KL for kl, _ in recent)
            and float(np.mean(recent_success)) - first_success >= IGNORED_SUCCESS_RISE)
