"""Every Farama MiniWorld task as vldac sees it: the mission in words, the action set, what success is.

Pure data (no OpenGL, no Farama import), so prompts and the world list work without the extra.
"""

from __future__ import annotations

from dataclasses import dataclass

MOVEMENT = ("turn left", "turn right", "move forward")
WITH_OBJECTS = ("turn left", "turn right", "move forward", "move back", "pick up", "drop")

# The index of each action name in Farama's MiniWorldEnv.Actions (Sign's "end" reuses index 3,
# which its step function treats as ending the episode).
FARAMA_ACTION_INDEX = {
    "turn left": 0, "turn right": 1, "move forward": 2, "move back": 3,
    "pick up": 4, "drop": 5, "toggle": 6, "done": 7,
}
SIGN_END_INDEX = 3


@dataclass(frozen=True)
class MiniWorldTask:
    """One Farama task id ``MiniWorld-<name>-v0``; ``mission`` may name ``{goal_object}`` (Sign's
    goal kind, box or key, which the world fills in).

    ``success`` is how ``info["success"]`` is decided:
      - "goal": the episode ended by reaching the goal (a positive native reward at termination);
      - "all_picked": every object was picked up;
      - "survived": the agent was still alive when the episode was cut by a step limit;
      - "none": the task has no goal (free exploration): success is always False.
    ``goal_reaching`` tasks have a red box to walk to, which the scripted expert can reach.
    """

    name: str
    mission: str
    actions: tuple[str, ...] = MOVEMENT
    success: str = "goal"
    goal_reaching: bool = True

    @property
    def farama_id(self) -> str:
        return f"MiniWorld-{self.name}-v0"

    @property
    def vldac_id(self) -> str:
        return f"vldac/MiniWorld-{self.name}-v0"

    @property
    def optional_actions(self) -> tuple[str, ...]:
        """Actions a user may add through the ``actions`` setting: "move back" works in every
        task whose step function is MiniWorld's own (all but Sign, where index 3 ends the episode)."""
        return () if "end" in self.actions or "move back" in self.actions else ("move back",)


GO_TO_RED_BOX = "Go to the red box"

TASKS: dict[str, MiniWorldTask] = {
    task.name: task
    for task in [
        MiniWorldTask("OneRoom", GO_TO_RED_BOX),
        MiniWorldTask("OneRoomS6", GO_TO_RED_BOX),
        MiniWorldTask("OneRoomS6Fast", GO_TO_RED_BOX),
        MiniWorldTask("Hallway", f"{GO_TO_RED_BOX} at the end of the hallway"),
        MiniWorldTask("FourRooms", f"{GO_TO_RED_BOX}; it can be in any of the four rooms"),
        MiniWorldTask("WallGap", f"{GO_TO_RED_BOX} behind the wall; pass through the gap"),
        MiniWorldTask("Maze", f"{GO_TO_RED_BOX} somewhere in the maze"),
        MiniWorldTask("MazeS2", f"{GO_TO_RED_BOX} somewhere in the maze"),
        MiniWorldTask("MazeS3", f"{GO_TO_RED_BOX} somewhere in the maze"),
        MiniWorldTask("MazeS3Fast", f"{GO_TO_RED_BOX} somewhere in the maze"),
        MiniWorldTask("TMaze", f"{GO_TO_RED_BOX} at one end of the T-shaped maze"),
        MiniWorldTask("TMazeLeft", f"{GO_TO_RED_BOX} at one end of the T-shaped maze"),
        MiniWorldTask("TMazeRight", f"{GO_TO_RED_BOX} at one end of the T-shaped maze"),
        MiniWorldTask("YMaze", f"{GO_TO_RED_BOX} at one end of the Y-shaped maze"),
        MiniWorldTask("YMazeLeft", f"{GO_TO_RED_BOX} at one end of the Y-shaped maze"),
        MiniWorldTask("YMazeRight", f"{GO_TO_RED_BOX} at one end of the Y-shaped maze"),
        MiniWorldTask("Sidewalk", f"{GO_TO_RED_BOX} at the end of the sidewalk without stepping into the street"),
        MiniWorldTask(
            "PutNext", "Pick up the red box and put it down next to the yellow box",
            actions=WITH_OBJECTS, goal_reaching=False,
        ),
        MiniWorldTask(
            "Sign", 'Go to the {goal_object} of the color written on the sign, or say "end"',
            actions=(*MOVEMENT, "end"), goal_reaching=False,
        ),
        MiniWorldTask(
            "PickupObjects", "Pick up every object in the room",
            actions=(*MOVEMENT, "move back", "pick up"), success="all_picked", goal_reaching=False,
        ),
        MiniWorldTask(
            "CollectHealth", "Stay alive: your health drops at every step; pick up the health kits to restore it",
            actions=(*MOVEMENT, "move back", "pick up"), success="survived", goal_reaching=False,
        ),
        MiniWorldTask("ThreeRooms", "Explore the three rooms", success="none", goal_reaching=False),
        MiniWorldTask("RoomObjects", "Explore the room and look at the objects", actions=WITH_OBJECTS,
                      success="none", goal_reaching=False),
    ]
}


def task_for(env_id: str) -> MiniWorldTask:
    """The task of ``vldac/MiniWorld-<name>-v0`` (or Farama's ``MiniWorld-<name>-v0``)."""
    name = env_id.removeprefix("vldac/").removeprefix("MiniWorld-").removesuffix("-v0")
    if name not in TASKS:
        raise ValueError(f"{env_id!r} is not a MiniWorld task; known: {', '.join(t.vldac_id for t in TASKS.values())}.")
    return TASKS[name]


def chosen_actions(task: MiniWorldTask, actions: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """The action set of a world: the task's own by default, or the names given in the ``actions``
    setting (each from the task's set or its optional ones), in the given order."""
    if actions is None:
        return task.actions
    allowed = task.actions + task.optional_actions
    unknown = [name for name in actions if name not in allowed]
    if unknown or not actions or len(set(actions)) != len(actions):
        raise ValueError(
            f"actions {list(actions)} do not fit {task.vldac_id}: give distinct names from {list(allowed)}."
        )
    return tuple(actions)
