"""Language interface of the MiniWorld tasks: the mission, numbered actions, thoughts then action."""

import math

from vldac.agents.base import LanguageInterface
from vldac.agents.parsing import ParsedAnswer, parse_answer
from vldac.envs.miniworld.expert import goal_visible, target_side
from vldac.envs.miniworld.tasks import MiniWorldTask, chosen_actions, task_for

SIDES = ("ahead", "left", "right")
FAR = 2.5  # metres: the distance from which the red box counts as far in the state key


class MiniWorldInterface(LanguageInterface):
    """One task's prompt; ``actions`` is the world's ``actions`` setting (None: the task's own set)."""

    def __init__(self, task: MiniWorldTask, actions: list[str] | None = None):
        self.task = task
        self.action_names = list(chosen_actions(task, actions))

    @classmethod
    def for_world(cls, world_kwargs: dict) -> "MiniWorldInterface":
        """The registered world's task, with the run's ``actions`` setting."""
        return cls(task_for(world_kwargs["task"]), world_kwargs.get("actions"))

    def instruction(self, info: dict) -> str:
        """The mission and the numbered actions, e.g. ``Go to the red box. The images are your
        last views, oldest first. Actions: 1 turn left, 2 turn right, 3 move forward. Answer as
        {"thoughts": ..., "action": ...}.``"""
        actions = ", ".join(f"{number} {name}" for number, name in enumerate(self.action_names, start=1))
        return (
            f"{info['mission']}. The images are your last views, oldest first. Actions: {actions}. "
            'Answer as {"thoughts": "where the goal is", "action": "<an action name>"}.'
        )

    def parse(self, text: str, info: dict | None = None) -> ParsedAnswer:
        """An action by name, or by its number as the prompt lists it (3, "3", "3 move forward")."""
        return parse_answer(text, self.action_names, numbered=True)

    def thoughts(self, info: dict) -> str:
        """Where the expert is heading: ``the red box is ahead`` / ``... to the left`` when the box
        is in view, else ``no red box in view, the way is to the right`` (goal-reaching tasks)."""
        if not self.task.goal_reaching:
            raise ValueError(f"{self.task.vldac_id} has no scripted expert, so no demonstration thoughts.")
        side = target_side(info)
        where = "ahead" if side == "ahead" else f"to the {side}"
        if goal_visible(info):
            return f"the red box is {where}"
        return f"no red box in view, the way is {where}"

    def state_key(self, info: dict) -> list[int]:
        """``[side, visible, far]``: where the next waypoint lies (0 ahead, 1 left, 2 right), whether
        the red box is in view and whether it is more than ``FAR`` metres away (0 or 1 each)."""
        (x, z), (goal_x, goal_z) = info["agent_pos"], info["goal_pos"]
        far = math.hypot(goal_x - x, goal_z - z) > FAR
        return [SIDES.index(target_side(info)), int(goal_visible(info)), int(far)]
