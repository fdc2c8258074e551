"""The ``cards`` suite: vldac's own card worlds (NumberLine, EZPoints, Points24, Blackjack) as a
transfer benchmark that needs only the base install (the default suite of ``train.bench``).

Episode k of every world plays the held-out seed 1,000,000 + seed + k (never a training seed),
greedy unless the settings sample; an episode scores 1 when the world reports success. Worlds at
their default settings; frames as each world renders them, one frame of history.
"""

from __future__ import annotations

from vldac.bench.scoring import Result
from vldac.bench.settings import BenchSettings
from vldac.config import PlaySettings
from vldac.evaluate import play_episodes
from vldac.models.policy import VLMPolicy
from vldac.seeds import EVAL_SEED_START

CARD_WORLDS = {"numberline": "vldac/NumberLine-v0", "ezpoints": "vldac/EZPoints-v0", "points24": "vldac/Points24-v0",
               "blackjack": "vldac/Blackjack-v0"}
"""The suite's worlds by the names --environments takes."""
EPISODES = 16
"""Episodes per world when the settings give none."""
MAX_NEW_TOKENS = 48


def card_worlds(names: list[str] | None) -> list[str]:
    """The worlds ``names`` picks (all four for None); one sentence for an unknown name."""
    unknown = [name for name in names or [] if name not in CARD_WORLDS]
    if unknown:
        raise ValueError(f"cards has no world '{unknown[0]}'; use some of {', '.join(CARD_WORLDS)}.")
    return list(names or CARD_WORLDS)


def play_cards(policy: VLMPolicy, names: list[str], settings: BenchSettings, progress: bool = True) -> list[Result]:
    """One Result per episode: group and subgroup the world's name, key the episode's seed."""
    results = []
    for name in names:
        play = PlaySettings(CARD_WORLDS[name], temperature=settings.temperature,
                            max_new_tokens=settings.max_new_tokens or MAX_NEW_TOKENS)
        stats = play_episodes(policy, play, settings.episodes or EPISODES, EVAL_SEED_START + settings.seed,
                              num_envs=settings.batch_size, greedy=settings.greedy, progress=progress)
        results += [Result(name, name, seed, float(success), length, invalid)
                    for seed, success, length, invalid in zip(stats.seeds, stats.successes, stats.lengths, stats.invalid)]
    return results
