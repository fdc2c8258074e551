"""BALROG episodes played by a VLM: up to ``batch_size`` episodes at once, one batched generation
per step for all of them, greedy by default; episode k of every task plays seed ``seed + k``.

Each prompt is kept within ``token_budget`` tokens: the oldest history turns are dropped first (the
instruction and the current observation always stay). What the games print goes to stderr, so
stdout keeps only the table and the JSON line.
"""

from __future__ import annotations

import contextlib
import sys

import torch
from tqdm import tqdm

from vldac.bench.balrog.agents import Agent
from vldac.bench.balrog.environments import Environment
from vldac.bench.balrog.episode import Episode
from vldac.bench.scoring import Result
from vldac.bench.settings import BenchSettings, prompt_budget
from vldac.models.policy import VLMPolicy
from vldac.models.prompts import encode_conversations, prompt_length


def fitted_prompt(episode: Episode, policy: VLMPolicy, budget: int) -> tuple[tuple[list[dict], list], bool]:
    """(The episode's prompt with as few of its oldest turns dropped as keep it within ``budget``,
    whether it fits at all). Found by bisection over the count dropped (the prompt shrinks as more
    turns are dropped); the instruction and the latest observation are never dropped, so a prompt
    they alone overflow is returned with all else dropped, and False."""
    fits, too_long = len(episode.history.events) - 1, 0  # dropping all but the latest is the most one can do
    if prompt_length(policy.processor, *episode.prompt(fits)) > budget:
        return episode.prompt(fits), False
    while fits - too_long > 1:
        middle = (fits + too_long) // 2
        if prompt_length(policy.processor, *episode.prompt(middle)) <= budget:
            fits = middle
        else:
            too_long = middle
    return episode.prompt(fits), True


def encode_within_budget(episodes: list[Episode], policy: VLMPolicy, budget: int, overflowing: set[str]):
    """The episodes' prompts as one batch, each within ``budget``: all encoded whole first, and only
    the rows over the budget shortened (see ``fitted_prompt``) before the batch is encoded again.
    An environment whose instruction and latest observation alone overflow is named on stderr once
    (``overflowing`` remembers which were)."""
    prompts = [episode.prompt() for episode in episodes]
    batch = encode_conversations(policy.processor, [m for m, _ in prompts], [i for _, i in prompts])
    lengths = batch["attention_mask"].sum(1).tolist()
    over = [row for row, length in enumerate(lengths) if length > budget]
    if not over:
        return batch
    for row in over:
        prompts[row], fits = fitted_prompt(episodes[row], policy, budget)
        name = episodes[row].game.environment
        if not fits and name not in overflowing:
            overflowing.add(name)
            print(f"bench: {name}'s instruction and latest observation alone exceed the {budget}-token prompt "
                  "budget; its prompts are sent whole (raise --token-budget or use a model with a longer context).",
                  file=sys.stderr)
    return encode_conversations(policy.processor, [m for m, _ in prompts], [i for _, i in prompts])


def play(policy: VLMPolicy, environments: list[Environment], settings: BenchSettings,
         progress: bool = True) -> list[Result]:
    """Every task's episodes of ``environments``; results (group: environment, subgroup: task, key:
    seed, score: progression) in the order they were queued."""
    agent = Agent(settings.agent)
    answer_tokens = settings.max_new_tokens or agent.answer_tokens
    budget = prompt_budget(policy, settings, answer_tokens)
    torch.manual_seed(settings.seed)  # --sample draws the same for every model played
    queue = [(environment, task, settings.seed + k)
             for environment in environments for task in environment.tasks
             for k in range(settings.episodes or environment.episodes)]
    results: dict[int, Result] = {}
    playing: dict[int, Episode] = {}
    games: dict[tuple[str, str], list] = {}
    overflowing: set[str] = set()
    waiting = list(enumerate(queue))
    try:
        with tqdm(total=len(queue), desc="bench balrog", unit="ep", disable=not progress, file=sys.stderr) as bar, \
                contextlib.redirect_stdout(sys.stderr):
            while waiting or playing:
                while waiting and len(playing) < settings.batch_size:
                    index, (environment, task, seed) = waiting.pop(0)
                    free = games.setdefault((environment.name, task), [])
                    game = free.pop() if free else environment.make(task)
                    playing[index] = Episode(game, agent, seed, settings.max_steps, settings.text_history,
                                             settings.image_history)
                order = list(playing)
                batch = encode_within_budget([playing[index] for index in order], policy, budget, overflowing)
                samples = policy.sample(batch.to(policy.device), settings.temperature, answer_tokens,
                                        greedy=settings.greedy)
                for index, text in zip(order, samples.texts, strict=True):
                    episode = playing[index]
                    episode.play(text)
                    if episode.done:
                        environment, task, seed = queue[index]
                        results[index] = Result(environment.name, task, seed, episode.progression, episode.steps,
                                                episode.invalid)
                        del playing[index]
                        if any(later[0] is environment and later[1] == task for _, later in waiting):
                            games[(environment.name, task)].append(episode.game)
                        else:
                            episode.game.close()
                        bar.update(1)
    finally:
        for game in [*(game for free in games.values() for game in free), *(e.game for e in playing.values())]:
            game.close()
    return [results[index] for index in sorted(results)]
