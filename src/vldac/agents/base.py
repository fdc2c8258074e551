"""What every world's language interface provides, the chat structure and the frame history.

Messages follow the Hugging Face multimodal chat format with structured image
placeholders (``{"type": "image"}``); the model's processor expands them, never this module.
"""

from abc import ABC, abstractmethod
from collections import deque

from vldac.agents.parsing import ParsedAnswer, format_answer, parse_answer


class LanguageInterface(ABC):
    """The prompt text, answer format and parser of one world.

    ``action_names[i]`` is the answer text of Discrete action ``i``; a text world (actions are
    commands, as in ALFWorld) has none and parses answers against each step's info.
    """

    action_names: list[str]

    @classmethod
    def for_world(cls, world_kwargs: dict) -> "LanguageInterface":
        """The interface of a world made with ``world_kwargs`` (its registered kwargs updated by the
        run's env.kwargs); most interfaces take none of them."""
        return cls()

    @abstractmethod
    def instruction(self, info: dict) -> str:
        """The text shown with the frames at a step whose latest env ``info`` is given (what the
        world shows only in frames, such as the cards' values, never appears here)."""

    @abstractmethod
    def thoughts(self, info: dict) -> str:
        """The expert's reasoning for the state described by an env's ``info``."""

    def state_key(self, info: dict) -> list[int]:
        """The part of the state that demonstration mistakes are keyed on (see ``vldac sft``)."""
        raise NotImplementedError(f"{type(self).__name__} defines no state key for demonstration mistakes.")

    def parse(self, text: str, info: dict | None = None) -> ParsedAnswer:
        """Parse a model's answer into an action of this world (an index of ``action_names``;
        text worlds read what is admissible from the step's ``info``)."""
        return parse_answer(text, self.action_names)

    def action_text(self, action: int | str) -> str:
        """How an answer names ``action``."""
        return self.action_names[action]

    def mistaken_action(self, info: dict, action: int | str) -> int | str:
        """The action a demonstration writes instead of the expert's in a mistaken state (see
        ``vldac sft``): the next one, cyclically."""
        return (action + 1) % len(self.action_names)

    def demonstration(self, info: dict, action: int | str) -> str:
        """The canonical answer an expert writes when taking ``action`` in this state."""
        return format_answer(self.thoughts(info), self.action_text(action))


def build_messages(instruction: str, num_frames: int, instruction_first: bool = False) -> list[dict]:
    """One user turn: ``num_frames`` image placeholders (oldest first), then the instruction; or,
    with ``instruction_first``, the instruction and then the frames."""
    if num_frames < 0:
        raise ValueError(f"num_frames must be 0 or more, got {num_frames}.")
    images = [{"type": "image"} for _ in range(num_frames)]
    text = [{"type": "text", "text": instruction}]
    return [{"role": "user", "content": text + images if instruction_first else images + text}]


class FrameHistory:
    """The last ``length`` frames of each environment's current episode.

    Frames are opaque (e.g. HxWx3 uint8 arrays). At the start of an episode fewer than
    ``length`` frames are held; the history is never padded with repeats.
    """

    def __init__(self, length: int):
        if length < 1:
            raise ValueError(f"the frame history length must be at least 1, got {length}.")
        self.length = length
        self._frames: dict[int, deque] = {}

    def reset(self, env_index: int, frame) -> None:
        """Start a new episode of environment ``env_index`` with its first frame."""
        self._frames[env_index] = deque([frame], maxlen=self.length)

    def push(self, env_index: int, frame) -> None:
        """Append the newest frame of environment ``env_index``'s episode."""
        self._episode(env_index).append(frame)

    def frames(self, env_index: int) -> list:
        """The held frames of environment ``env_index``, oldest first."""
        return list(self._episode(env_index))

    def _episode(self, env_index: int) -> deque:
        if env_index not in self._frames:
            raise KeyError(
                f"environment {env_index} has no episode in the frame history: "
                f"call reset({env_index}, frame) first."
            )
        return self._frames[env_index]
