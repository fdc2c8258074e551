"""Language interface of the ALFWorld worlds, in the spirit of the paper's: the task, the text
observation and the admissible commands; thoughts, then one admissible command as the action."""

from __future__ import annotations

from vldac.agents.base import LanguageInterface
from vldac.agents.parsing import ParsedAnswer, parse_command
from vldac.envs.alfworld.tasks import TASK_TYPES

VERBS = ("go", "open", "close", "take", "move", "use", "clean", "heat", "cool", "slice", "examine", "look", "inventory")
"""The first words of ALFWorld's commands (the state key of demonstration mistakes)."""


class ALFWorldInterface(LanguageInterface):
    """Text actions: the action must be one of ``info["admissible_commands"]`` (exact after folding
    case and whitespace); an answer naming none is invalid."""

    action_names: list[str] = []  # no fixed set: the commands come with each step

    def instruction(self, info: dict) -> str:
        commands = ", ".join(info["admissible_commands"])
        return (
            f"You are a household robot; the image shows where you are. Your task is to: {info['task']}.\n"
            f"{info['observation']}\n"
            f"Admissible actions: {commands}.\n"
            'Answer as {"thoughts": "what to do next and why", "action": "<one admissible action>"}.'
        )

    def parse(self, text: str, info: dict | None = None) -> ParsedAnswer:
        """The admissible command the answer names (as the world spells it)."""
        if info is None:
            raise ValueError("ALFWorld answers are parsed against the step's admissible commands: pass its info.")
        return parse_command(text, info["admissible_commands"])

    def action_text(self, action: str) -> str:
        return action

    def thoughts(self, info: dict) -> str:
        """The expert's intent, in few words: the kind of its next command (going, taking, ...),
        not the command itself, so that a demonstrated mistake is the action alone."""
        return f"next I {(info['expert_action'] or 'look').split()[0]}"

    def state_key(self, info: dict) -> list[int]:
        """``[task type, verb]``: the task type's index and the first word of the expert's next
        command (going, taking, opening, ...), indices into ``TASK_TYPES`` and ``VERBS``."""
        verb = (info["expert_action"] or "look").split()[0]
        return [TASK_TYPES.index(info["task_type"]), VERBS.index(verb) if verb in VERBS else VERBS.index("look")]

    def mistaken_action(self, info: dict, action: str) -> str:
        """The command written instead of the expert's in a mistaken state: the next admissible
        one, cyclically."""
        commands = info["admissible_commands"]
        return commands[(commands.index(action) + 1) % len(commands)] if action in commands else commands[0]
