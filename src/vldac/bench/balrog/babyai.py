"""BabyAI as BALROG plays it: the five tasks of BabyAI-MixedTrainLocal-v0 without distractors,
described in words from the agent's 7x7 view, pictured by minigrid's egocentric render.

BALROG's MixedTrainLocal level lives in a fork of minigrid; ``MixedTrainLocalLevel`` builds the
same missions through minigrid's own level generator (one 8x8 room; "open" two rooms with a locked
door and its key on the agent's side; missions naming a yellow box, red key or door, green ball or
grey door redrawn, as BALROG's training split leaves them out). The step limit is minigrid's
(64 for goto and pickup, 128 for the others); progression 1 once the mission is done.
"""

from __future__ import annotations

import numpy as np

from vldac.bench.balrog.game import Game, GameUnavailable, Observation

try:
    from minigrid.core.constants import COLOR_TO_IDX, OBJECT_TO_IDX, STATE_TO_IDX
    from minigrid.core.roomgrid import RoomGrid
    from minigrid.envs.babyai.core.roomgrid_level import RoomGridLevel
    from minigrid.envs.babyai.core.verifier import AfterInstr, BeforeInstr, GoToInstr, ObjDesc, OpenInstr
    from minigrid.envs.babyai.core.verifier import PickupInstr, PutNextInstr
except ImportError as error:
    raise GameUnavailable("BabyAI needs minigrid: pip install 'vldac[bench]'.") from error

ACTIONS = {
    "turn left": "turn to the left",
    "turn right": "turn to the right",
    "go forward": "take one step forward",
    "pick up": "pick up the object below you",
    "drop": "drop the object that you are holding",
    "toggle": "manipulate the object in front of you",
}
"""BALROG's action strings (in minigrid's action order) and the instruction's words for them."""
LEFT_OUT = ("yellow box", "red key", "red door", "green ball", "grey door")
LOCKED_DOOR_COLORS = ("yellow", "green", "blue", "purple")
COLORS = {index: name for name, index in COLOR_TO_IDX.items()}
OBJECTS = {index: name for name, index in OBJECT_TO_IDX.items()}
STATES = {index: name for name, index in STATE_TO_IDX.items()}
UNSEEN, EMPTY, WALL, DOOR = (OBJECT_TO_IDX[name] for name in ("unseen", "empty", "wall", "door"))
POV_TILE = 16


class MixedTrainLocalLevel(RoomGridLevel):
    """One task kind of BabyAI-MixedTrainLocal (see the module docstring)."""

    def __init__(self, task: str, num_dists: int = 0, **kwargs):
        self.task = task
        self.num_dists = num_dists
        super().__init__(room_size=8, num_rows=1, num_cols=2 if task == "open" else 1, **kwargs)

    def gen_mission(self):
        while True:
            RoomGrid._gen_grid(self, self.width, self.height)
            if self._draw_mission() and not any(words in self.instrs.surface(self) for words in LEFT_OUT):
                return

    def _draw_mission(self) -> bool:
        """Objects, the agent and ``self.instrs`` for this task; False when an object is out of reach."""
        if self.task == "open":
            return self._draw_open()
        self.place_agent()
        objects = self.add_distractors(num_distractors=self.num_dists + (1 if self.task in ("goto", "pickup") else 2),
                                       all_unique=False)
        reachable = self.check_objs_reachable(raise_exc=False)
        first = self._rand_elem(objects)
        if self.task == "goto":
            self.instrs = GoToInstr(ObjDesc(first.type, first.color))
        elif self.task == "pickup":
            self.instrs = PickupInstr(ObjDesc(first.type, first.color))
        else:
            second = self._other_object(first, objects)
            if self.task == "putnext":
                self.instrs = PutNextInstr(ObjDesc(first.type, first.color), ObjDesc(second.type, second.color))
            else:
                pick, go = PickupInstr(ObjDesc(first.type, first.color)), GoToInstr(ObjDesc(second.type, second.color))
                self.instrs = BeforeInstr(pick, go) if self._rand_bool() else AfterInstr(go, pick)
        return reachable

    def _other_object(self, first, objects):
        """A second object; one described like the first only when the description fits two."""
        second = self._rand_elem(objects)
        if len(ObjDesc(first.type, first.color).find_matching_objs(self)[0]) < 2:
            while (second.type, second.color) == (first.type, first.color):
                second = self._rand_elem(objects)
        return second

    def _draw_open(self) -> bool:
        color = self._rand_elem(LOCKED_DOOR_COLORS)
        locked = self._rand_int(0, 2)
        self.add_door(locked, 0, 2 if locked else 0, color=color, locked=True)
        self.add_object(1 - locked, 0, "key", color)
        self.connect_all()
        self.add_distractors(1 - locked, 0, num_distractors=self.num_dists, all_unique=False)
        self.place_agent(1 - locked, 0)
        self.instrs = OpenInstr(ObjDesc("door", self._rand_elem([None, color])))
        return self.check_objs_reachable(raise_exc=False)


def steps(count: int, where: str) -> str:
    return f"{count} step{'s' if count > 1 else ''} {where}"


def describe_view(env: RoomGridLevel) -> list[str]:
    """BALROG's descriptions of the agent's 7x7 view: what it carries, the wall straight ahead, to
    the left and to the right (when nothing stands before it), then every object seen, column by
    column, with its distance (sideways, then forward)."""
    grid, visible = env.gen_obs_grid()
    cells = grid.encode(visible)  # [7, 7, 3]: object, colour, state per (column, row)
    x0, y0 = env.get_view_coords(*env.agent_pos)
    lines = [f"You carry a {env.carrying.color} {env.carrying.type}"] if env.carrying is not None else []
    rays = {
        "forward": [(x0, y) for y in range(y0 - 1, -1, -1)],
        "left": [(x, y0) for x in range(x0 - 1, -1, -1)],
        "right": [(x, y0) for x in range(x0 + 1, cells.shape[0])],
    }
    for where, ray in rays.items():
        for distance, (x, y) in enumerate(ray, start=1):
            if cells[x, y, 0] in (UNSEEN, EMPTY):
                continue
            if cells[x, y, 0] == WALL:
                lines.append(f"You see a wall {steps(distance, where)}")
            break
    for x in range(cells.shape[0]):
        for y in range(cells.shape[1]):
            kind, color, state = (int(value) for value in cells[x, y])
            if kind in (UNSEEN, EMPTY, WALL) or (x, y) == (x0, y0):
                continue
            side, ahead = x - x0, y0 - y
            sideways = steps(abs(side), "right" if side > 0 else "left")
            if side == 0:
                distances = [steps(ahead, "forward")]
            elif ahead == 0:
                distances = [sideways]
            else:
                distances = [sideways, steps(ahead, "forward")]
            name = f"{STATES[state]} {COLORS[color]} door" if kind == DOOR else f"{COLORS[color]} {OBJECTS[kind]}"
            lines.append(f"You see a {name} " + " and ".join(distances))
    return lines


class BabyAIGame(Game):
    environment = "babyai"
    default_action = "go forward"

    def __init__(self, task: str, num_dists: int = 0):
        super().__init__(task)
        self.env = MixedTrainLocalLevel(task, num_dists)
        self.max_steps = 0

    @property
    def actions(self) -> list[str]:
        return list(ACTIONS)

    def instruction(self) -> str:
        actions = ",\n".join(f"{name}: {words}" for name, words in ACTIONS.items())
        return (
            f"You are an agent playing a simple navigation game. Your goal is to {self.env.mission}. The following "
            "are the possible actions you can take in the game, followed by a short description of each action:\n\n"
            f"{actions}.\n\n"
            "In a moment I will present you an observation.\n\n"
            "Tips:\n"
            "- Once the desired object you want to interact or pickup in front of you, you can use the 'toggle' "
            "action to interact with it.\n"
            "- It doesn't make sense to repeat the same action over and over if the observation doesn't change.\n\n"
            "PLAY!"
        )

    def reset(self, seed: int) -> Observation:
        self.env.reset(seed=seed)
        self.max_steps = self.env.max_steps
        self.progression = 0.0
        return self._observation()

    def step(self, action: str) -> tuple[Observation, bool]:
        _, reward, terminated, truncated, _ = self.env.step(list(ACTIONS).index(action))
        if reward > 0:
            self.progression = 1.0
        return self._observation(), bool(terminated or truncated)

    def _observation(self) -> Observation:
        text = "\n".join(line.replace("You see ", "") for line in describe_view(self.env))
        return Observation(text, image=np.ascontiguousarray(self.env.get_pov_render(tile_size=POV_TILE)) if self.pictures else None)
