"""The scripted expert of the goal-reaching MiniWorld tasks: face the next waypoint, then walk.

It reads the simulator state the world puts in each step's info (``agent_pos``, ``agent_dir``,
``turn_step`` and the episode's ``floor_map``); see ``world.MiniWorldWorld``.
"""

from __future__ import annotations

import math

TURN_LEFT, TURN_RIGHT, MOVE_FORWARD = 0, 1, 2


def bearing(info: dict) -> float:
    """The angle (degrees, in [-180, 180), positive = to the left) from the agent's heading to
    its next waypoint on the shortest walk to the goal."""
    (x, z), (target_x, target_z) = info["agent_pos"], info["floor_map"].waypoint(info["agent_pos"])
    # Farama's heading d points along (cos d, -sin d) in (x, z).
    towards = math.atan2(-(target_z - z), target_x - x)
    difference = math.degrees(towards - info["agent_dir"])
    return (difference + 180.0) % 360.0 - 180.0


def target_side(info: dict) -> str:
    """Where the next waypoint lies: "ahead" (within half a turn step of the heading), "left" or "right"."""
    angle = bearing(info)
    if abs(angle) <= info["turn_step"] / 2:
        return "ahead"
    return "left" if angle > 0 else "right"


def expert_action(info: dict) -> int:
    """Turn toward the next waypoint until it is ahead, then move forward (indices of the
    default action set: turn left, turn right, move forward)."""
    return {"ahead": MOVE_FORWARD, "left": TURN_LEFT, "right": TURN_RIGHT}[target_side(info)]
