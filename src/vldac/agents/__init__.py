"""Language interfaces: prompts from frames and text, safe parsing of answers into actions.

Depends on the Python standard library and on the worlds' pure parts (no torch): the registry,
which names each world's interface, and MiniWorld's task descriptions and expert (no OpenGL).
"""

from importlib import import_module

from vldac.agents.alfworld import ALFWorldInterface
from vldac.agents.base import FrameHistory, LanguageInterface, build_messages
from vldac.agents.blackjack import BlackjackInterface
from vldac.agents.ezpoints import EZPointsInterface
from vldac.agents.miniworld import MiniWorldInterface
from vldac.agents.numberline import NumberLineInterface
from vldac.agents.parsing import ParsedAnswer, action_field_offset, format_answer, parse_answer
from vldac.agents.points24 import Points24Interface
from vldac.agents.webshop import WebShopInterface
from vldac.envs import interface_of

def interface_for(env_id: str, env_kwargs: dict | None = None) -> LanguageInterface:
    """A new language interface for the world ``env_id`` made with ``env_kwargs``: the one
    registered with the world (vldac.envs.register_world), given the world's kwargs."""
    reference, registered_kwargs = interface_of(env_id)
    module, name = reference.split(":")
    return getattr(import_module(module), name).for_world({**registered_kwargs, **(env_kwargs or {})})


__all__ = [
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
