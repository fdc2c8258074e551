"""BALROG episodes played by a VLM: up to ``batch_size`` episodes at once, one batched generation
per step for all of them, greedy by default; episode k of every task plays seed ``seed + k``.

Each prompt is kept within ``token_budget`` tokens: the oldest history turns are dropped first (the
instruction and the current observation always stay). What the games print goes to stderr, so
stdout keeps only the table and the JSON line.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass

import torch
from tqdm import tqdm

from vldac.bench.balrog.agents import Agent
from vldac.bench.balrog.environments import Environment
from vldac.bench.balrog.episode import Episode
from vldac.bench.scoring import EpisodeResult
from vldac.models.policy import VLMPolicy
from vldac.models.prompts import encode_conversations, prompt_length


@dataclass(frozen=True)
class BenchSettings:
    """How episodes are played: ``episodes`` per task (None: BALROG's count), ``max_steps`` cap
    (None: BALROG's limits), history lengths, the answer token limit, the prompt token budget (None:
    the model's context less the answer's tokens)."""

    episodes: int | None = None
    seed: int = 0
    max_steps: int | None = None
    agent: str = "naive"
    text_history: int = 16
    image_history: int = 1
    max_new_tokens: int = 128
    batch_size: int = 16
    greedy: bool = True
    temperature: float = 1.0
    token_budget: int | None = None


def model_context(policy: VLMPolicy) -> int:
    """The model's context length in tokens."""
    return int(getattr(policy.model.config.get_text_config(), "max_position_embeddings", 4096))


def fitted_prompt(episode: Episode, policy: VLMPolicy, budget: int) -> tuple[list[dict], list]:
    """The episode's prompt with as few of its oldest turns dropped as keep it within ``budget``
    (found by bisection: the prompt shrinks as more turns are dropped)."""
    prompt = episode.prompt()
    if prompt_length(policy.processor, *prompt) <= budget:
        return prompt
    fits, too_long = len(episode.history.events) - 1, 0  # dropping all but the latest is the most one can do
    while fits - too_long > 1:
        middle = (fits + too_long) // 2
        if prompt_length(policy.processor, *episode.prompt(middle)) <= budget:
            fits = middle
        else:
            too_long = middle
    return episode.prompt(fits)


def play(policy: VLMPolicy, environments: list[Environment], settings: BenchSettings,
         game_options: dict[str, dict] | None = None, progress: bool = True) -> list[EpisodeResult]:
    """Every task's episodes of ``environments``; results in the order they were queued."""
    agent = Agent(settings.agent)
    budget = settings.token_budget or model_context(policy) - settings.max_new_tokens
    if budget < 1:
        raise ValueError(f"--max-new-tokens {settings.max_new_tokens} leaves no room for a prompt in the model's "
                         f"{model_context(policy)}-token context; give fewer.")
    torch.manual_seed(settings.seed)  # --sample draws the same for every model played
    queue = [(environment, task, settings.seed + k)
             for environment in environments for task in environment.tasks
             for k in range(settings.episodes or environment.episodes)]
    results: dict[int, EpisodeResult] = {}
    playing: dict[int, Episode] = {}
    games: dict[tuple[str, str], list] = {}
    waiting = list(enumerate(queue))
    with tqdm(total=len(queue), desc="bench balrog", unit="ep", disable=not progress, file=sys.stderr) as bar, \
            contextlib.redirect_stdout(sys.stderr):
        while waiting or playing:
            while waiting and len(playing) < settings.batch_size:
                index, (environment, task, seed) = waiting.pop(0)
                free = games.setdefault((environment.name, task), [])
                game = free.pop() if free else environment.make(task, **(game_options or {}).get(environment.name, {}))
                playing[index] = Episode(game, agent, seed, settings.max_steps, settings.text_history,
                                         settings.image_history)
            order = list(playing)
            prompts = [fitted_prompt(playing[index], policy, budget) for index in order]
            batch = encode_conversations(policy.processor, [m for m, _ in prompts], [i for _, i in prompts])
            samples = policy.sample(batch.to(policy.device), settings.temperature, settings.max_new_tokens,
                                    greedy=settings.greedy)
            for index, text in zip(order, samples.texts, strict=True):
                episode = playing[index]
                episode.play(text)
                if episode.done:
                    environment, task, seed = queue[index]
                    results[index] = EpisodeResult(environment.name, task, seed, episode.progression, episode.steps,
                                                   episode.invalid)
                    games[(environment.name, task)].append(episode.game)
                    del playing[index]
                    bar.update(1)
    for free in games.values():
        for game in free:
            game.close()
    return [results[index] for index in sorted(results)]
