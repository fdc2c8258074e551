"""BALROG's two agents: what each appends to the latest observation, and how its answer is read.

Both keep only letters, whitespace and ":" of the model's text (so "north." reads "north", and
digits vanish); neither evaluates anything. The chain-of-thought agent's action is what follows
the last "ACTION:" (the whole filtered text when there is none), and its reasoning is shown back to
it with its latest action.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NAIVE_INSTRUCTION = (
    "You always have to output one of the above actions at a time and no other text. "
    "You always have to output an action until the episode terminates."
)
CHAIN_OF_THOUGHT_INSTRUCTION = (
    "First think about what's the best course of action step by step.\n"
    "Finally, provide a single output action at the end of the message in the form of: ACTION: <action>"
)
NOT_LETTERS = re.compile(r"[^a-zA-Z\s:]")


def letters_only(text: str) -> str:
    """``text`` without any character but ASCII letters, whitespace and ":"."""
    return NOT_LETTERS.sub("", text)


@dataclass(frozen=True)
class Answer:
    """The action an answer names (maybe not a valid one) and, for the chain-of-thought agent,
    its reasoning (the whole answer) to show back."""

    action: str
    reasoning: str | None = None


@dataclass(frozen=True)
class Agent:
    """``name`` is "naive" or "cot"."""

    name: str

    def __post_init__(self):
        if self.name not in AGENTS:
            raise ValueError(f"agent '{self.name}' is unknown; use one of {', '.join(AGENTS)}.")

    @property
    def instruction(self) -> str:
        """Appended (after a blank line) to the latest observation of every prompt."""
        return NAIVE_INSTRUCTION if self.name == "naive" else CHAIN_OF_THOUGHT_INSTRUCTION

    @property
    def answer_tokens(self) -> int:
        """The answer's default token limit: an action is short, a chain of thought is not."""
        return 128 if self.name == "naive" else 1024

    def read(self, text: str) -> Answer:
        """The model's answer text -> the action it names (as BALROG reads it)."""
        text = text.strip()
        if self.name == "naive":
            return Answer(letters_only(text))
        return Answer(letters_only(text).split("ACTION:")[-1].strip(), reasoning=text)


AGENTS = ("naive", "cot")
