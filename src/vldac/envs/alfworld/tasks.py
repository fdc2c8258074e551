"""vldac's own ALFWorld task sampler: a seed -> a household task as a PDDL problem in ALFRED's
domain, over what the alfworld wheel ships (the floor plans' object lists and openable
receptacles, the goal library of the six task types, the object / receptacle compatibility
tables).

A task is a room of one ALFRED floor plan: every receptacle type the plan has (each openable
one as many times as the plan has instances), every pickable object type of the plan placed in
a receptacle that can hold it, the task's target objects placed away from their goal, the agent
in the middle of the room. Training and held-out tasks come from disjoint floor plans (ALFRED's
train / test scene split), so held-out evaluation plays rooms never seen in training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import numpy as np

TASK_TYPES = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)
"""The six ALFRED task types, in ALFWorld's order (its task ids 1-6)."""

TOOL_RECEPTACLES = {
    "pick_clean_then_place_in_recep": "SinkBasin",
    "pick_heat_then_place_in_recep": "Microwave",
    "pick_cool_then_place_in_recep": "Fridge",
}
"""The receptacle a state-changing task type needs in its room."""

STATE_GROUPS = {
    "pick_clean_then_place_in_recep": "Cleanable",
    "pick_heat_then_place_in_recep": "Heatable",
    "pick_cool_then_place_in_recep": "Coolable",
}
LAMPS = ("DeskLamp", "FloorLamp")
LAMP_STANDS = ("Desk", "SideTable", "Dresser", "Shelf", "CoffeeTable", "DiningTable", "TVStand", "Ottoman")
"""Where a room's lamp stands (ALFRED's receptacle tables list no lamp)."""
BASINS = ("SinkBasin", "BathtubBasin")
OTHER_OBJECT_TYPES = 12
"""Pickable object types per room beyond the task's own, by default (a plan lists up to ~40)."""


@dataclass(frozen=True)
class Task:
    """One generated task. ``placements`` maps each object id to the receptacle id it starts in;
    ``params`` are ALFRED's pddl_params (object_target, parent_target, toggle_target,
    mrecep_target, object_sliced) that ALFWorld's handcoded expert reads."""

    seed: int
    task_type: str
    floor_plan: int
    text: str
    receptacles: dict[str, str]
    objects: dict[str, str]
    placements: dict[str, str]
    params: dict = field(default_factory=dict)

    def problem(self) -> str:
        """The PDDL problem (ALFRED's domain ``alfred``)."""
        return pddl_problem(self)


@cache
def alfworld_constants():
    """alfworld's scene and object tables (imported on first use: the extra may be missing)."""
    from alfworld.gen import constants, goal_library

    return constants, goal_library.gdict


def floor_plans(held_out: bool) -> list[int]:
    """ALFRED's training floor plans, or its held-out (test) ones."""
    constants, _ = alfworld_constants()
    return sorted(constants.TEST_SCENE_NUMBERS if held_out else constants.TRAIN_SCENE_NUMBERS)


@cache
def floor_plan_contents(number: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(types listed in the plan, its openable receptacles' ALFRED ids)."""
    folder = resources.files("alfworld.gen").joinpath("layouts")
    types = json.loads(folder.joinpath(f"FloorPlan{number}-objects.json").read_text())
    openable = json.loads(folder.joinpath(f"FloorPlan{number}-openable.json").read_text())
    return tuple(sorted(set(types))), tuple(sorted(openable))


def scene_type(number: int) -> str:
    constants, _ = alfworld_constants()
    return next(name for name, numbers in constants.SCENE_TYPE.items() if number in numbers)


def check_floor_plans(numbers: tuple[int, ...]) -> None:
    """One sentence for a floor plan number ALFRED does not have."""
    known = set(floor_plans(held_out=False)) | set(floor_plans(held_out=True))
    unknown = sorted(set(numbers) - known)
    if unknown:
        raise ValueError(f"ALFRED has no floor plans {unknown}; use numbers from 1-30, 201-230, 301-330 or 401-430 "
                         "(see vldac.envs.alfworld.tasks.floor_plans).")


def sample_task(seed: int, task_types: tuple[str, ...] = TASK_TYPES, held_out: bool = False,
                other_object_types: int = OTHER_OBJECT_TYPES, rooms: tuple[int, ...] | None = None,
                attempt: int = 0) -> Task:
    """The task of ``seed``: a task type of ``task_types`` valid in a floor plan of the training
    (or held-out) split, with its targets, room and text, and up to ``other_object_types`` more
    kinds of objects about the room; the same seed gives the same task. ``rooms`` (floor plan
    numbers) restricts the rooms for both splits: held-out tasks are then other draws in those
    rooms (new placements; a draw may repeat a training one).
    ``attempt`` > 0 draws another task of the same seed (when the planner found none solvable)."""
    constants, gdict = alfworld_constants()
    rng = np.random.default_rng(seed if attempt == 0 else [seed, attempt])
    plans = sorted(rooms) if rooms else floor_plans(held_out)
    for _ in range(1000):
        plan = int(rng.choice(plans))
        task_type = str(rng.choice(task_types))
        if scene_type(plan) not in constants.GOALS_VALID[task_type]:
            continue
        task = _task_in_plan(seed, task_type, plan, rng, constants, gdict, other_object_types)
        if task is not None:
            return task
    if rooms:
        raise ValueError(f"None of the floor plans {sorted(rooms)} fits task types {list(task_types)}; "
                         "choose rooms where these tasks can be set.")
    raise ValueError(f"No floor plan of the {'held-out' if held_out else 'training'} split fits task types "
                     f"{list(task_types)}; choose other task types.")


def _task_in_plan(seed, task_type, plan, rng, constants, gdict, other_object_types) -> Task | None:
    types, openable_ids = floor_plan_contents(plan)
    holds = constants.VAL_RECEPTACLE_OBJECTS
    receptacle_types = sorted(t for t in types if t in holds and t not in constants.MOVABLE_RECEPTACLES)
    receptacle_types = [t for t in receptacle_types if t not in constants.OPENABLE_CLASS_SET]
    openable_types = sorted({name.split("|")[0] for name in openable_ids} & set(holds))
    instances = {t: 1 for t in receptacle_types}
    for name in openable_ids:
        kind = name.split("|")[0]
        if kind in openable_types:
            instances[kind] = instances.get(kind, 0) + 1
    present = set(instances)
    pickable = sorted(t for t in types if t in constants.OBJECTS and t not in holds.keys() - set(constants.MOVABLE_RECEPTACLES)
                      and any(t in holds[r] for r in present) and t not in LAMPS and not t.endswith("Sliced"))
    if task_type in TOOL_RECEPTACLES and TOOL_RECEPTACLES[task_type] not in present:
        return None
    params = {"object_target": "", "parent_target": "", "toggle_target": "", "mrecep_target": "", "object_sliced": False}
    if task_type == "look_at_obj_in_light":
        lamps = [t for t in LAMPS if t in types] if present & set(LAMP_STANDS) else []
        if not lamps or not pickable:
            return None
        params["toggle_target"] = str(rng.choice(lamps))
        params["object_target"] = str(rng.choice(pickable))
    else:
        candidates = pickable
        if task_type in STATE_GROUPS:
            candidates = [t for t in pickable if t in constants.VAL_ACTION_OBJECTS[STATE_GROUPS[task_type]]]
        pairs = [(o, r) for o in candidates for r in sorted(present) if o in holds[r] and r not in BASINS
                 and r != TOOL_RECEPTACLES.get(task_type)]
        if not pairs:
            return None
        obj, recep = pairs[int(rng.integers(len(pairs)))]
        params["object_target"], params["parent_target"] = obj, recep
    others = [t for t in pickable if t != params["object_target"]]
    chosen = sorted(rng.choice(others, size=min(len(others), other_object_types), replace=False).tolist()) if others else []
    receptacles = {}
    for kind in sorted(instances):
        for number in range(1, instances[kind] + 1):
            receptacles[receptacle_id(kind, number)] = kind
    objects, placements = {}, {}
    target_count = 2 if task_type == "pick_two_obj_and_place" else int(rng.integers(1, 3))
    counts = {params["object_target"]: target_count, **{t: 1 for t in chosen}}
    if params["toggle_target"]:
        counts[params["toggle_target"]] = 1
    for kind, count in counts.items():
        homes = [r for r, rk in receptacles.items()
                 if (rk in LAMP_STANDS if kind in LAMPS else kind in holds[rk]) and rk != params["parent_target"]]
        if not homes:
            return None
        for number in range(1, count + 1):
            name = f"{kind}_bar_{number}"
            objects[name] = kind
            placements[name] = homes[int(rng.integers(len(homes)))]
    template = str(rng.choice(gdict[task_type]["templates"]))
    text = template.format(obj=params["object_target"].lower(), recep=params["parent_target"].lower(),
                           toggle=params["toggle_target"].lower(), mrecep="")
    return Task(seed, task_type, plan, text, receptacles, objects, placements, params)


def receptacle_id(kind: str, number: int) -> str:
    """A receptacle's PDDL id, named so that ALFWorld's demangler calls it "<kind> <n>" (basins
    as ALFRED names them, "Sink|...|SinkBasin")."""
    if kind in BASINS:
        return f"{kind.removesuffix('Basin')}_bar_{number}_bar_{kind}"
    return f"{kind}_bar_{number}"


def pddl_problem(task: Task) -> str:
    """The task as a PDDL problem: objects and types, the room's facts, the goal of its type."""
    constants, gdict = alfworld_constants()
    holds = constants.VAL_RECEPTACLE_OBJECTS
    locations = {r: f"loc_bar_{i + 1}" for i, r in enumerate(task.receptacles)}
    object_types = sorted(set(task.objects.values()))
    receptacle_types = sorted(set(task.receptacles.values()))
    declarations = (
        ["agent1 - agent", "loc_bar_0 - location"]
        + [f"{loc} - location" for loc in locations.values()]
        + [f"{r} - receptacle" for r in task.receptacles]
        + [f"{o} - object" for o in task.objects]
        + [f"{t}Type - otype" for t in object_types]
        + [f"{t}Type - rtype" for t in receptacle_types]
    )
    facts = ["(atLocation agent1 loc_bar_0)"]
    for r, kind in task.receptacles.items():
        facts += [f"(receptacleType {r} {kind}Type)", f"(receptacleAtLocation {r} {locations[r]})"]
        if kind in constants.OPENABLE_CLASS_SET:
            facts.append(f"(openable {r})")
    for o, kind in task.objects.items():
        home = task.placements[o]
        facts += [f"(objectType {o} {kind}Type)", f"(inReceptacle {o} {home})", f"(objectAtLocation {o} {locations[home]})"]
        if kind not in LAMPS:
            facts.append(f"(pickupable {o})")
        for group, predicate in (("Cleanable", "cleanable"), ("Heatable", "heatable"), ("Coolable", "coolable"),
                                 ("Toggleable", "toggleable"), ("Sliceable", "sliceable")):
            if kind in constants.VAL_ACTION_OBJECTS[group]:
                facts.append(f"({predicate} {o})")
    facts += [f"(canContain {rt}Type {ot}Type)" for rt in receptacle_types for ot in object_types if ot in holds[rt]]
    params = task.params
    goal = gdict[task.task_type]["pddl"].format(obj=params["object_target"], recep=params["parent_target"],
                                                toggle=params["toggle_target"], mrecep=params["mrecep_target"])
    return "\n".join([
        f"(define (problem vldac_{task.task_type}_{task.seed})",
        "  (:domain alfred)",
        "  (:objects", *(f"    {d}" for d in declarations), "  )",
        "  (:init", *(f"    {f}" for f in facts), "    (= (total-cost) 0)", "  )",
        goal.replace("#", "-").strip(),
    ])
