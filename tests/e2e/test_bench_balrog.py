"""vldac bench balrog: BALROG's agents, history and scoring, on hand-worked cases (the games are in
test_bench_games.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vldac.bench.balrog.agents import CHAIN_OF_THOUGHT_INSTRUCTION, NAIVE_INSTRUCTION, Agent, Answer
from vldac.bench.balrog.episode import IMAGE_NOTE, INVALID_FEEDBACK, Episode, History
from vldac.bench.balrog.game import Game, Observation
from vldac.bench.scoring import Result, mean_and_stderr, paired_differences, summarize


# --- agents -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, action", [
    ("north.", "north"),
    ("  go forward  ", "go forward"),
    ("1. north", " north"),  # the filter keeps the space the digit left: not a valid action
    ("__import__('os').system('rm -rf /')", "importossystemrm rf "),
    ("Move West\n", "Move West"),
    ("", ""),
])
def test_naive_agent_keeps_letters_spaces_and_colons(text, action):
    assert Agent("naive").read(text) == Answer(action)


@pytest.mark.parametrize("text, action", [
    ("The tree is west. ACTION: Move West", "Move West"),
    ("ACTION: Noop then ACTION: Do", "Do"),
    ("**ACTION:** <go forward>", "go forward"),
    ("I would go north", "I would go north"),
    ("ACTION: eval(__import__('os'))", "evalimportos"),
    ("action: north", "action: north"),  # "ACTION:" is case-sensitive
])
def test_chain_of_thought_agent_reads_after_the_last_action_marker(text, action):
    answer = Agent("cot").read(text)
    assert answer.action == action and answer.reasoning == text.strip()


def test_unknown_agent_is_one_sentence():
    with pytest.raises(ValueError, match="agent 'react' is unknown; use one of naive, cot"):
        Agent("react")


# --- history and episodes -----------------------------------------------------------------------

class CountingGame(Game):
    """A scripted game: "step" moves one on; "win" after 3 steps ends with progression 1."""

    environment = "counting"
    default_action = "wait"
    max_steps = 10

    def __init__(self, task: str = "count"):
        super().__init__(task)
        self.played: list[str] = []

    @property
    def actions(self):
        return ["step", "wait", "win"]

    def instruction(self):
        return "Count to three."

    def reset(self, seed):
        self.played, self.progression = [], 0.0
        return Observation("at 0", status="holding nothing", image=np.full((4, 4, 3), seed, np.uint8))

    def step(self, action):
        self.played.append(action)
        position = self.played.count("step")
        won = action == "win" and position >= 3
        self.progression = 1.0 if won else 0.0
        return Observation(f"at {position}", status=f"played {len(self.played)}",
                           image=np.full((4, 4, 3), len(self.played), np.uint8)), won


def texts(messages):
    return [part["text"] for message in messages for part in message["content"] if part["type"] == "text"]


def test_history_is_balrogs_prompt():
    history = History("Count to three.", text_history=16, image_history=1)
    history.observe(Observation("at 0", status="s0", image=np.zeros((2, 2, 3), np.uint8)))
    history.answer(Answer("step"))
    history.observe(Observation("at 1", status="s1", image=np.ones((2, 2, 3), np.uint8)))
    messages, images = history.messages("Answer now.")
    assert [message["role"] for message in messages] == ["user", "user", "assistant", "user"]
    assert texts(messages) == [
        "Count to three.",
        "Observation:\nat 0",
        "step",
        f"Current Observation:\ns1\nat 1\n{IMAGE_NOTE}\n\nAnswer now.",
    ]
    placeholders = [part for message in messages for part in message["content"] if part["type"] == "image"]
    assert len(placeholders) == len(images) == 1 and images[0].max() == 1  # the latest frame only


def test_history_keeps_the_last_observations_and_the_latest_reasoning():
    history = History("I", text_history=2, image_history=2)
    for step in range(4):
        history.observe(Observation(f"o{step}", image=np.full((2, 2, 3), step, np.uint8)))
        history.answer(Answer(f"a{step}", reasoning=f"because {step} ACTION: a{step}"))
    history.observe(Observation("o4", image=np.full((2, 2, 3), 4, np.uint8)))
    messages, images = history.messages("go")
    assert texts(messages) == ["I", "a2", f"Observation:\no3\n{IMAGE_NOTE}", "Previous plan:\nbecause 3 ACTION: a3",
                                   f"Current Observation:\no4\n{IMAGE_NOTE}\n\ngo"]
    assert [int(image.max()) for image in images] == [3, 4]
    dropped, _ = history.messages("go", drop=2)
    assert texts(dropped) == ["I", "Previous plan:\nbecause 3 ACTION: a3", f"Current Observation:\no4\n{IMAGE_NOTE}\n\ngo"]


def test_history_limits_are_checked():
    with pytest.raises(ValueError, match="image history 3 between 0 and the text history"):
        History("I", text_history=2, image_history=3)


def test_an_invalid_answer_plays_the_default_action_and_the_next_observation_says_so():
    game = CountingGame()
    episode = Episode(game, Agent("naive"), seed=7, image_history=0)
    episode.play("Step!")  # not an action: "Step" is not "step"
    assert game.played == ["wait"] and episode.invalid == 1
    messages, images = episode.prompt()
    assert images == []
    assert texts(messages)[-2] == "Step"  # the history shows what the model wrote
    assert texts(messages)[-1] == ("Current Observation:\nplayed 1\n" + INVALID_FEEDBACK.format(action="wait")
                                   + f"at 0\n\n{NAIVE_INSTRUCTION}")
    for answer in ("step", "step", "step", "win"):
        episode.play(answer)
    assert episode.done and episode.progression == 1.0 and episode.steps == 5 and episode.invalid == 1


def test_max_steps_caps_the_episode():
    episode = Episode(CountingGame(), Agent("cot"), seed=0, max_steps=2)
    episode.play("ACTION: step")
    assert not episode.done
    episode.play("ACTION: step")
    assert episode.done and episode.progression == 0.0
    assert texts(episode.prompt()[0])[-1].endswith(CHAIN_OF_THOUGHT_INSTRUCTION)


# --- scoring --------------------------------------------------------------------------------------

def results(environment, task, progressions, steps=10):
    return [Result(environment, task, seed, value, steps, 0) for seed, value in enumerate(progressions)]


def test_scores_are_balrogs_mean_and_population_standard_error():
    assert mean_and_stderr([1, 0, 0, 1]) == (50.0, 25.0)  # std 0.5 / sqrt(4)
    assert mean_and_stderr([0.3]) == (30.0, 0.0)
    summary = summarize(results("babyai", "goto", [1, 0]) + results("babyai", "open", [1, 1])
                        + results("crafter", "default", [3 / 22, 1 / 22]))
    babyai, crafter = summary["environments"]["babyai"], summary["environments"]["crafter"]
    assert babyai["score"] == 75.0 and babyai["stderr"] == pytest.approx(100 * math.sqrt(3 / 16) / 2)
    assert babyai["episodes"] == 4 and babyai["steps"] == 40 and babyai["tasks"]["goto"]["score"] == 50.0
    assert crafter["score"] == pytest.approx(100 * 2 / 22) and crafter["stderr"] == pytest.approx(100 / 22 / math.sqrt(2))
    assert summary["overall"]["score"] == pytest.approx((75.0 + 100 * 2 / 22) / 2)
    assert summary["overall"]["stderr"] == pytest.approx(math.sqrt(babyai["stderr"] ** 2 + crafter["stderr"] ** 2) / 2)


def test_paired_differences_match_episodes_by_task_and_seed():
    model = results("babyai", "goto", [1, 1, 0, 1])
    base = results("babyai", "goto", [0, 1, 0])  # seed 3 not played by the base: left out
    difference = paired_differences(model, base)["environments"]["babyai"]
    assert difference["difference"] == pytest.approx(100 / 3)
    assert difference["stderr"] == pytest.approx(100 * np.std([1, 0, 0], ddof=1) / math.sqrt(3))  # a paired error


def test_paired_difference_is_score_minus_base_per_task():
    model = results("babyai", "goto", [1, 1]) + results("babyai", "open", [0, 1])
    base = results("babyai", "goto", [0, 1]) + results("babyai", "open", [0, 0])
    difference = paired_differences(model, base)
    summary, base_summary = summarize(model), summarize(base)
    for task in ("goto", "open"):
        assert difference["environments"]["babyai"]["tasks"][task]["difference"] == pytest.approx(
            summary["environments"]["babyai"]["tasks"][task]["score"]
            - base_summary["environments"]["babyai"]["tasks"][task]["score"])
    assert difference["overall"]["difference"] == pytest.approx(summary["overall"]["score"] - base_summary["overall"]["score"])


@pytest.fixture(scope="module")
def tiny_policy():
    from vldac.models.loading import load_policy

    return load_policy("builtin:tiny-numberline")


def played_episode(steps=6):
    episode = Episode(CountingGame(), Agent("naive"), seed=1, image_history=1)
    for _ in range(steps):
        episode.play("step")
    return episode


def test_prompts_are_kept_within_the_token_budget_oldest_turns_first(tiny_policy):
    from vldac.bench.playing import fitted_prompt
    from vldac.models.prompts import prompt_length

    episode = played_episode()
    full = prompt_length(tiny_policy.processor, *episode.prompt())
    (messages, images), fits = fitted_prompt(episode, tiny_policy, budget=full - 1)
    assert fits and prompt_length(tiny_policy.processor, messages, images) <= full - 1
    kept = texts(messages)
    assert kept[0] == "Count to three." and kept[-1].startswith("Current Observation:\nplayed 6\nat 6")
    assert "Observation:\nat 0" not in kept and "Observation:\nat 5" in kept  # the oldest went first
    (messages, _), fits = fitted_prompt(episode, tiny_policy, budget=1)  # nothing fits: instruction and latest stay
    assert not fits and texts(messages)[0] == "Count to three." and len(messages) == 2


@pytest.mark.parametrize("shorter_by", [1, 40, 120])
def test_the_bisection_drops_the_fewest_turns_that_fit(tiny_policy, shorter_by):
    from vldac.bench.playing import fitted_prompt
    from vldac.models.prompts import prompt_length

    episode = played_episode(8)
    budget = prompt_length(tiny_policy.processor, *episode.prompt()) - shorter_by
    (messages, _), fits = fitted_prompt(episode, tiny_policy, budget)
    dropped = next(drop for drop in range(len(episode.history.events)) if episode.prompt(drop)[0] == messages)
    assert fits and dropped >= 1
    assert prompt_length(tiny_policy.processor, *episode.prompt(dropped - 1)) > budget  # one fewer would not fit


def test_a_batch_is_fitted_row_by_row_and_an_overflow_is_named_once(tiny_policy, capsys):
    from vldac.bench.playing import encode_within_budget
    from vldac.models.prompts import prompt_length

    short, long = played_episode(1), played_episode(8)
    budget = prompt_length(tiny_policy.processor, *short.prompt())
    batch = encode_within_budget([short, long], tiny_policy, budget, overflowing := set())
    assert batch["attention_mask"].sum(1).tolist()[0] == budget and max(batch["attention_mask"].sum(1).tolist()) <= budget
    assert not overflowing and capsys.readouterr().err == ""
    for _ in range(2):
        encode_within_budget([short, long], tiny_policy, 5, overflowing)
    assert overflowing == {"counting"} and capsys.readouterr().err.count("exceed the 5-token prompt budget") == 1


def test_episodes_reuse_their_games_and_every_game_is_closed(tiny_policy):
    from vldac.bench.balrog.environments import Environment
    from vldac.bench.playing import play
    from vldac.bench.settings import BenchSettings

    made: list[CountingGame] = []
    closed: list[CountingGame] = []

    class Tracked(CountingGame):
        def __init__(self, task):
            super().__init__(task)
            made.append(self)

        def close(self):
            closed.append(self)

    environment = Environment("counting", ("count",), 5, __name__, "Tracked")
    globals()["Tracked"] = Tracked
    results = play(tiny_policy, [environment], BenchSettings(batch_size=2, max_steps=3, max_new_tokens=4), progress=False)
    assert [result.key for result in results] == [0, 1, 2, 3, 4] and all(result.steps == 3 for result in results)
    assert len(made) == 2 and sorted(map(id, closed)) == sorted(map(id, made))  # two at once, each closed once
