"""Gymnasium registration of vldac's worlds, and the list shown by `vldac envs`."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

import gymnasium

from vldac.envs.alfworld.tasks import TASK_TYPES
from vldac.envs.miniworld.tasks import TASKS

_DESCRIPTIONS: dict[str, str] = {}
_INTERFACES: dict[str, str] = {}
_EXPERTS: dict[str, str] = {}


def register_world(
    env_id: str, entry_point: str, description: str, interface: str, expert: str | None = None, **kwargs
) -> None:
    """Register one world with gymnasium (once; repeated calls are no-ops) and record its
    one-line description for `list_worlds`, its language interface ("module:Class", a
    vldac.agents.LanguageInterface made by ``Class.for_world(kwargs)``; this package never imports
    it) and its scripted expert ("module:function" taking a step's info and returning an action).
    No TimeLimit wrapper is added: each world truncates itself, so `truncated` comes from the env
    and `env.unwrapped` is vldac's class."""
    if env_id not in gymnasium.registry:
        gymnasium.register(id=env_id, entry_point=entry_point, kwargs=kwargs)
    _DESCRIPTIONS[env_id] = description
    _INTERFACES[env_id] = interface
    if expert is not None:
        _EXPERTS[env_id] = expert


def interface_of(env_id: str) -> tuple[str, dict[str, Any]]:
    """The language interface registered with a world ("module:Class") and the world's registered
    kwargs (a MiniWorld world's task, say)."""
    if env_id not in _INTERFACES:
        raise ValueError(f"no language interface for environment {env_id!r}; known ids: {', '.join(_INTERFACES)}.")
    return _INTERFACES[env_id], dict(gymnasium.spec(env_id).kwargs)


def make_world(env_id: str, **kwargs: Any) -> gymnasium.Env:
    """``gymnasium.make`` with one clear sentence when the id or the kwargs do not fit."""
    try:
        return gymnasium.make(env_id, **kwargs)
    except gymnasium.error.Error as error:
        known = ", ".join(sorted(_DESCRIPTIONS))
        raise ValueError(f"World {env_id!r} is not registered ({error}); known worlds: {known}.") from None
    except TypeError as error:
        raise ValueError(f"World {env_id!r} does not accept the env kwargs {kwargs}: {error}; fix env.kwargs.") from None


def expert_for(env_id: str) -> Callable[[dict[str, Any]], int | str]:
    """The scripted expert of a world: info -> action (an index, or a command for the text worlds)."""
    if env_id not in _EXPERTS:
        known = ", ".join(sorted(_EXPERTS)) or "none"
        raise ValueError(f"World {env_id!r} has no scripted expert; worlds with one: {known}.")
    module, function = _EXPERTS[env_id].split(":")
    return getattr(import_module(module), function)


def register_worlds() -> None:
    """Register every built-in world (called on `import vldac.envs`)."""
    register_world(
        "vldac/NumberLine-v0",
        "vldac.envs.cards.numberline:NumberLineEnv",
        'Move the current number (0..5) to the target with "-" and "+"; both are read from the frame.',
        interface="vldac.agents.numberline:NumberLineInterface", expert="vldac.envs.cards.numberline:expert_action",
    )
    register_world(
        "vldac/EZPoints-v0",
        "vldac.envs.cards.ezpoints:EZPointsEnv",
        'Two cards (J, Q, K count 10): write a formula worth 12 with "+" and "*" using both values once, then "=".',
        interface="vldac.agents.ezpoints:EZPointsInterface", expert="vldac.envs.cards.ezpoints:expert_action",
    )
    register_world(
        "vldac/Points24-v0",
        "vldac.envs.cards.points24:Points24Env",
        "Four cards (A counts 1; J, Q, K count 10): write a formula worth 24 with + - * / and brackets "
        'using all four values once, then "=".',
        interface="vldac.agents.points24:Points24Interface", expert="vldac.envs.cards.points24:expert_action",
    )
    register_world(
        "vldac/Blackjack-v0",
        "vldac.envs.cards.blackjack:BlackjackEnv",
        'Blackjack against the dealer (infinite deck, dealer stands on 17): "stand" or "hit", '
        "reading the dealer's up-card and your cards from the frame.",
        interface="vldac.agents.blackjack:BlackjackInterface", expert="vldac.envs.cards.blackjack:expert_action",
    )
    register_miniworld_tasks()
    register_alfworld_tasks()
    register_world(
        "vldac/WebShop-v0", "vldac.envs.webshop.world:WebShopWorld",
        "Shop for an instruction's product in vldac's WebShop (search, pick options, buy), seen as screenshots "
        "of the pages in headless Chromium; reward at Buy Now (needs vldac[webshop]).",
        interface="vldac.agents.webshop:WebShopInterface", expert="vldac.envs.webshop.expert:expert_action",
    )


def register_alfworld_tasks() -> None:
    """``vldac/ALFWorld-v0`` (all six task types) and ``vldac/ALFWorld-<TaskType>-v0`` for each
    (TextWorld and alfworld are imported only when one is made)."""
    register_world(
        "vldac/ALFWorld-v0", "vldac.envs.alfworld.world:ALFWorldWorld",
        "ALFWorld household tasks of all six types, generated offline, text commands, frames drawn from the "
        "scene (TextWorld engine; needs vldac[alfworld]).",
        interface="vldac.agents.alfworld:ALFWorldInterface", expert="vldac.envs.alfworld.world:expert_action",
    )
    for task_type in TASK_TYPES:
        register_world(
            alfworld_id(task_type), "vldac.envs.alfworld.world:ALFWorldWorld",
            f"ALFWorld {task_type.replace('_', ' ')} tasks (TextWorld engine; needs vldac[alfworld]).",
            interface="vldac.agents.alfworld:ALFWorldInterface", expert="vldac.envs.alfworld.world:expert_action", task_types=[task_type],
        )


def alfworld_id(task_type: str) -> str:
    """``vldac/ALFWorld-PickAndPlaceSimple-v0`` for "pick_and_place_simple", and so on."""
    return f"vldac/ALFWorld-{''.join(word.capitalize() for word in task_type.split('_'))}-v0"


def register_miniworld_tasks() -> None:
    """``vldac/MiniWorld-<Task>-v0`` for every Farama MiniWorld task (Farama's package is imported
    only when one is made)."""
    for task in TASKS.values():
        register_world(
            task.vldac_id,
            "vldac.envs.miniworld.world:MiniWorldWorld",
            f"{task.mission.format(goal_object='box or key')} (3D, Farama MiniWorld; needs vldac[miniworld]).",
            interface="vldac.agents.miniworld:MiniWorldInterface",
            expert="vldac.envs.miniworld.expert:expert_action" if task.goal_reaching else None,
            task=task.name,
        )


def list_worlds() -> list[tuple[str, str]]:
    """(id, one-line description) of every registered vldac world, in registration order."""
    return list(_DESCRIPTIONS.items())
