"""Language interfaces: prompts from frames and text, safe parsing of answers into actions.

Depends on the Python standard library, and on the pure parts of the worlds that describe
MiniWorld's tasks and expert (no OpenGL).
"""

from vldac.agents.alfworld import ALFWorldInterface
from vldac.agents.base import FrameHistory, LanguageInterface, build_messages
from vldac.agents.blackjack import BlackjackInterface
from vldac.agents.ezpoints import EZPointsInterface
from vldac.agents.miniworld import MiniWorldInterface
from vldac.agents.numberline import NumberLineInterface
from vldac.agents.parsing import ParsedAnswer, action_field_offset, format_answer, parse_answer
from vldac.agents.points24 import Points24Interface
from vldac.agents.webshop import WebShopInterface
from vldac.envs.miniworld.tasks import task_for

INTERFACES: dict[str, type[LanguageInterface]] = {
    "vldac/NumberLine-v0": NumberLineInterface,
    "vldac/EZPoints-v0": EZPointsInterface,
    "vldac/Points24-v0": Points24Interface,
    "vldac/Blackjack-v0": BlackjackInterface,
    "vldac/WebShop-v0": WebShopInterface,
}


def interface_for(env_id: str, env_kwargs: dict | None = None) -> LanguageInterface:
    """A new language interface for the gymnasium environment ``env_id`` made with ``env_kwargs``
    (MiniWorld worlds read their ``actions`` setting from them)."""
    if env_id.startswith("vldac/MiniWorld-"):
        return MiniWorldInterface(task_for(env_id), (env_kwargs or {}).get("actions"))
    if env_id.startswith("vldac/ALFWorld-"):
        return ALFWorldInterface()
    if env_id not in INTERFACES:
        known = ", ".join([*sorted(INTERFACES), "vldac/MiniWorld-<Task>-v0", "vldac/ALFWorld-v0"])
        raise ValueError(f"no language interface for environment {env_id!r}; known ids: {known}.")
    return INTERFACES[env_id]()


__all__ = [
    "INTERFACES",
    "ALFWorldInterface",
    "BlackjackInterface",
    "EZPointsInterface",
    "FrameHistory",
    "LanguageInterface",
    "MiniWorldInterface",
    "NumberLineInterface",
    "ParsedAnswer",
    "action_field_offset",
    "Points24Interface",
    "WebShopInterface",
    "build_messages",
    "format_answer",
    "interface_for",
    "parse_answer",
]
