"""The scripted expert of the goal-reaching MiniWorld tasks: face the next waypoint, then walk.

It reads the simulator state the world puts in each step's info (``agent_pos``, ``agent_dir``,
``turn_step`` and the episode's ``floor_map``); see ``world.MiniWorldWorld``.
"""

from __future__ import annotations

import math

HALF_FIELD_OF_VIEW = 30.0  # degrees: Farama's 60-degree vertical field of view on square frames


def bearing_to(info: dict, target) -> float:
    """The angle (degrees, in [-180, 180), positive = to the left) from the agent's heading to ``target``."""
    (x, z), (target_x, target_z) = info["agent_pos"], target
    # Farama's heading d points along (cos d, -sin d) in (x, z).
    difference = math.degrees(math.atan2(-(target_z - z), target_x - x) - info["agent_dir"])
    return (difference + 180.0) % 360.0 - 180.0


def bearing(info: dict) -> float:
    """The angle (degrees, positive = to the left) from the agent's heading to its next waypoint
    on the shortest walk to the goal."""
    return bearing_to(info, info["floor_map"].waypoint(info["agent_pos"]))


def target_side(info: dict) -> str:
    """Where the next waypoint lies: "ahead" (within half a turn step of the heading), "left" or "right"."""
    angle = bearing(info)
    if abs(angle) <= info["turn_step"] / 2:
        return "ahead"
    return "left" if angle > 0 else "right"


def expert_action(info: dict) -> int:
    """Turn toward the next waypoint until it is ahead, then move forward (as an index of the
    world's ``action_names``)."""
    name = {"ahead": "move forward", "left": "turn left", "right": "turn right"}[target_side(info)]
    return info["action_names"].index(name)


def goal_visible(info: dict) -> bool:
    """Whether the goal is in the camera's view: no wall in between and within half the
    horizontal field of view of the heading (square frames: 60 degrees across)."""
    in_view = abs(bearing_to(info, info["goal_pos"])) <= HALF_FIELD_OF_VIEW
    return in_view and info["floor_map"].visible(info["agent_pos"], info["goal_pos"])
