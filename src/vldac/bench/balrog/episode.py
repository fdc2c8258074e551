"""One episode under BALROG's protocol, and the prompt its agent sees.

The prompt is BALROG's history: the game's instruction as the first user turn, then the last
``text_history`` observations (user turns) with the answers between them (assistant turns); the
latest observation is "Current Observation:" with its status and the agent's instruction; the last
``image_history`` observations that have a picture carry it. An answer naming no valid action plays
the game's default action instead, and the next observation says so. As in BALROG, the history
shows the answer's action as the model wrote it, not the default played for it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from vldac.bench.balrog.agents import Agent, Answer
from vldac.bench.balrog.game import Game, Observation

INVALID_FEEDBACK = (
    "\n\nYour previous output did not contain a valid action. Defaulted to action: {action}\n\nObservation:\n"
)
IMAGE_NOTE = "Image observation provided."


@dataclass
class _Turn:
    observation: Observation | None = None
    answer: Answer | None = None


class History:
    """The events of one episode, oldest first, at most ``text_history`` observations and the answers
    between them (older ones fall out first)."""

    def __init__(self, instruction: str, text_history: int = 16, image_history: int = 0, reasoning_history: int = 1):
        if text_history < 1 or not 0 <= image_history <= text_history:
            raise ValueError(f"text history {text_history} must be 1 or more and image history {image_history} "
                             "between 0 and the text history.")
        self.instruction = instruction
        self.image_history = image_history
        self.reasoning_history = reasoning_history
        self.events: deque[_Turn] = deque(maxlen=2 * text_history)

    def observe(self, observation: Observation) -> None:
        self.events.append(_Turn(observation=observation))

    def answer(self, answer: Answer) -> None:
        """An answer that names nothing (empty after the filter) is left out, as BALROG leaves it."""
        if answer.action:
            self.events.append(_Turn(answer=answer))

    def messages(self, agent_instruction: str, drop: int = 0) -> tuple[list[dict], list[np.ndarray]]:
        """(chat messages with ``{"type": "image"}`` placeholders, their images in order), leaving out
        the ``drop`` oldest events (the latest observation is always kept)."""
        events = list(self.events)[min(drop, len(self.events) - 1):]
        observations = [i for i, event in enumerate(events) if event.observation is not None]
        pictured = [i for i in observations if events[i].observation.image is not None]
        with_image = set(pictured[-self.image_history:]) if self.image_history else set()
        reasoned = [i for i, event in enumerate(events) if event.answer is not None and event.answer.reasoning is not None]
        with_reasoning = set(reasoned[-self.reasoning_history:]) if self.reasoning_history else set()
        messages = [_user(self.instruction)]
        images = []
        for index, event in enumerate(events):
            if event.answer is not None:
                text = (f"Previous plan:\n{event.answer.reasoning}" if index in with_reasoning else event.answer.action)
                messages.append({"role": "assistant", "content": [{"type": "text", "text": text}]})
                continue
            observation = event.observation
            if index == observations[-1]:
                parts = ["Current Observation:", *([observation.status] if observation.status else []), observation.text]
            else:
                parts = [f"Observation:\n{observation.text}"]
            image = index in with_image
            if image:
                parts.append(IMAGE_NOTE)
                images.append(observation.image)
            text = "\n".join(parts)
            if index == observations[-1]:
                text += f"\n\n{agent_instruction}"
            messages.append(_user(text, image))
        return messages, images


def _user(text: str, image: bool = False) -> dict:
    return {"role": "user", "content": [{"type": "text", "text": text}, *([{"type": "image"}] if image else [])]}


class Episode:
    """``game`` played from ``seed`` by ``agent`` for at most ``max_steps`` steps (None: the game's
    own limit; a smaller cap wins)."""

    def __init__(self, game: Game, agent: Agent, seed: int, max_steps: int | None = None,
                 text_history: int = 16, image_history: int = 0):
        self.game, self.agent, self.seed = game, agent, seed
        game.pictures = image_history > 0
        first = game.reset(seed)
        self.limit = min(game.max_steps, max_steps) if max_steps else game.max_steps
        self.history = History(game.instruction(), text_history, image_history)
        self.history.observe(first)
        self.steps = 0
        self.invalid = 0
        self.done = False

    def prompt(self, drop: int = 0) -> tuple[list[dict], list[np.ndarray]]:
        """The chat messages and images for the next answer (see ``History.messages``)."""
        return self.history.messages(self.agent.instruction, drop)

    def play(self, text: str) -> None:
        """Act on one answer text of the model."""
        answer = self.agent.read(text)
        valid = self.game.is_valid(answer.action)
        action = answer.action if valid else self.game.default_action
        observation, over = self.game.step(action)
        if not valid:
            self.invalid += 1
            observation.text = INVALID_FEEDBACK.format(action=action) + observation.text
        self.history.answer(answer)
        self.history.observe(observation)
        self.steps += 1
        self.done = over or self.steps >= self.limit

    @property
    def progression(self) -> float:
        return self.game.progression
