"""Pure simulators: gymnasium envs with Discrete actions and RGB frames (no torch).

Importing this package registers the `vldac/...` ids with gymnasium.
"""

from vldac.envs.registry import expert_for, interface_of, list_worlds, make_world, register_world, register_worlds

register_worlds()

__all__ = ["expert_for", "interface_of", "list_worlds", "make_world", "register_world", "register_worlds"]
