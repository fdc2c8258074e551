"""The settings several worlds take (``env.kwargs``), with their declared ranges: a world checks
them where it is made, so a bad value is one sentence before any run folder is written."""

from __future__ import annotations

from vldac.config import Allowed, ConfigError, check_value

WORLD_SETTINGS = {
    "frame_size": Allowed(at_least=16, at_most=1024, why="pixels a side; a 1,024-px RGB frame is 3 MB"),
    "max_steps": Allowed(at_least=1, at_most=10_000, why="steps before an episode is truncated"),
}


def check_world_settings(**values: int | None) -> None:
    """One sentence (a ConfigError, a ValueError) naming ``env.kwargs.<name>`` for the first value
    out of its range; None passes (a world's own default)."""
    for name, value in values.items():
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ConfigError(f"env.kwargs.{name}={value!r} does not work: it must be an integer.")
        check_value(f"env.kwargs.{name}", value, WORLD_SETTINGS[name])
