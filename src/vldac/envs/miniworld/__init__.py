"""Farama MiniWorld's 3D tasks as vldac worlds, rendered off-screen (optional extra ``vldac[miniworld]``).

``tasks`` is pure data (the world list and prompts need no OpenGL); ``world`` imports Farama's
``miniworld`` headless only when a world is made.
"""

from vldac.envs.miniworld.tasks import TASKS, MiniWorldTask, task_for

__all__ = ["TASKS", "MiniWorldTask", "task_for"]
