"""Dataset questions answered by a VLM: ``batch_size`` questions at once, one batched generation
each, greedy by default and seeded.

A question's prompt is one user turn: its images, then its text. A prompt over the token budget
(the model's context less the answer's tokens, or ``--token-budget``) keeps half its images, then
half of those, until it fits (a video's frames stay evenly spread, the first and last kept); a
prompt whose text alone overflows is sent whole and named on stderr once.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from tqdm import tqdm

from vldac.bench.datasets.question import Dataset, Question, evenly_spread
from vldac.bench.settings import BenchSettings, prompt_budget
from vldac.bench.scoring import Result
from vldac.models.policy import VLMPolicy
from vldac.models.prompts import encode_conversations


def question_messages(question: Question, images: int) -> list[dict]:
    """The one user turn: ``images`` image placeholders, then the question's text."""
    return [{"role": "user", "content": [*([{"type": "image"}] * images), {"type": "text", "text": question.text}]}]


def fitted_images(question: Question, images: list[np.ndarray], policy: VLMPolicy, budget: int) -> list[np.ndarray]:
    """``images`` halved, evenly spread with the first and last kept, until the question's prompt fits
    ``budget``; at least one is kept."""
    while len(images) > 1:
        length = encode_conversations(policy.processor, [question_messages(question, len(images))], [images])
        if length["input_ids"].shape[1] <= budget:
            break
        images = [images[index] for index in evenly_spread(len(images), len(images) // 2)]
    return images


def batches(questions: list[Question], size: int) -> list[list[Question]]:
    """Consecutive questions, at most ``size`` at once and of one answer token limit each."""
    grouped: list[list[Question]] = []
    for question in questions:
        if grouped and len(grouped[-1]) < size and grouped[-1][0].answer_tokens == question.answer_tokens:
            grouped[-1].append(question)
        else:
            grouped.append([question])
    return grouped


def answer(policy: VLMPolicy, dataset: Dataset, questions: list[Question], settings: BenchSettings,
           progress: bool = True) -> list[Result]:
    """The model's answers to ``questions``, scored by ``dataset``; answers are ``--max-new-tokens``
    long at most, or the questions' official limit."""
    torch.manual_seed(settings.seed)
    answers: list[str] = []
    warned = False
    with tqdm(total=len(questions), desc=f"bench {dataset.name}", unit="q", disable=not progress, file=sys.stderr) as bar:
        for batch_questions in batches(questions, settings.batch_size):
            answer_tokens = settings.max_new_tokens or batch_questions[0].answer_tokens
            budget = prompt_budget(policy, settings, answer_tokens)
            images = [question.images() for question in batch_questions]
            batch = encode_conversations(policy.processor, [question_messages(q, len(i)) for q, i in
                                                            zip(batch_questions, images, strict=True)], images)
            lengths = batch["attention_mask"].sum(1).tolist()
            if max(lengths) > budget:
                images = [fitted_images(q, i, policy, budget) if length > budget else i
                          for q, i, length in zip(batch_questions, images, lengths, strict=True)]
                batch = encode_conversations(policy.processor, [question_messages(q, len(i)) for q, i in
                                                                zip(batch_questions, images, strict=True)], images)
                if not warned and batch["attention_mask"].sum(1).max() > budget:
                    warned = True
                    print(f"bench: some {dataset.name} prompts exceed the {budget}-token budget even with one image; "
                          "they are sent whole (raise --token-budget or use a model with a longer context).",
                          file=sys.stderr)
            samples = policy.sample(batch.to(policy.device), settings.temperature, answer_tokens, greedy=settings.greedy)
            answers.extend(samples.texts)
            bar.update(len(batch_questions))
    return dataset.results(questions, answers)
