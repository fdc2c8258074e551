"""Gymnasium registration of vldac's worlds, and the list shown by `vldac envs`."""

from __future__ import annotations

import gymnasium

_DESCRIPTIONS: dict[str, str] = {}


def register_world(env_id: str, entry_point: str, description: str, **kwargs) -> None:
    """Register one world with gymnasium (once; repeated calls are no-ops) and record its
    one-line description for `list_worlds`. No TimeLimit wrapper is added: each world
    truncates itself, so `truncated` comes from the env and `env.unwrapped` is vldac's class."""
    if env_id not in gymnasium.registry:
        gymnasium.register(id=env_id, entry_point=entry_point, kwargs=kwargs)
    _DESCRIPTIONS[env_id] = description


def register_worlds() -> None:
    """Register every built-in world (called on `import vldac.envs`)."""
    register_world(
        "vldac/NumberLine-v0",
        "vldac.envs.cards.numberline:NumberLineEnv",
        'Move the current number (0..5) to the target with "-" and "+"; both are read from the frame.',
    )


def list_worlds() -> list[tuple[str, str]]:
    """(id, one-line description) of every registered vldac world, in registration order."""
    return list(_DESCRIPTIONS.items())
