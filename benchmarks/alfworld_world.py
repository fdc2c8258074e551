"""ALFWorld worlds alone (no model), on this machine: task generation time (sampling and the
PDDL problem; and a whole reset after the first: the game loaded into the world's started engine
and checked solvable with the planner), world steps/s with 1 and 16 envs (reset excluded, admissible commands played in turn),
and the expert's success per task type on held-out tasks (seeds from 1,000,000: ALFRED's held-out
floor plans), each type printed as it finishes.

    python benchmarks/alfworld_world.py [--parts generation steps expert] [--task-types T ...]
                                        [--expert auto|handcoded|planner] [--tasks 200] [--workers 2] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from vldac.envs import make_world
from vldac.envs.alfworld.tasks import TASK_TYPES, sample_task
from vldac.envs.registry import alfworld_id

HELD_OUT = 1_000_000


def generation_ms(count: int = 200) -> float:
    """Median milliseconds to sample one task and write its PDDL problem."""
    times = []
    for seed in range(count):
        started = time.perf_counter()
        sample_task(seed).problem()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def reset_ms(count: int = 30) -> float:
    """Median milliseconds of a reset after the first (which also starts the engine): sample,
    write, load into the engine, check solvable."""
    env = make_world("vldac/ALFWorld-v0", expert=None)
    env.reset(seed=HELD_OUT - 1)
    times = []
    for seed in range(HELD_OUT, HELD_OUT + count):
        started = time.perf_counter()
        env.reset(seed=seed)
        times.append((time.perf_counter() - started) * 1000)
    env.close()
    return statistics.median(times)


def steps_per_second(num_envs: int, steps: int = 20) -> float:
    """World steps/s over ``num_envs`` envs stepped in turn (no expert), resets excluded."""
    envs = [make_world("vldac/ALFWorld-v0", expert=None) for _ in range(num_envs)]
    infos = [env.reset(seed=HELD_OUT + index)[1] for index, env in enumerate(envs)]
    started = time.perf_counter()
    for step in range(steps):
        for index, env in enumerate(envs):
            commands = infos[index]["admissible_commands"]
            infos[index] = env.step(commands[step % len(commands)])[4]
    rate = num_envs * steps / (time.perf_counter() - started)
    for env in envs:
        env.close()
    return rate


def expert_success(task_type: str, tasks: int, expert: str = "auto") -> dict:
    """The expert's success on ``tasks`` held-out tasks of ``task_type`` (a line every 25 tasks)."""
    env = make_world(alfworld_id(task_type), expert=expert)
    wins, lengths, started = 0, [], time.perf_counter()
    for seed in range(HELD_OUT, HELD_OUT + tasks):
        _, info = env.reset(seed=seed)
        length = 0
        while True:
            _, _, terminated, truncated, info = env.step(info["expert_action"] or "look")
            length += 1
            if terminated or truncated:
                break
        wins += info["success"]
        lengths.append(length)
        if len(lengths) % 25 == 0:
            print(f"  {task_type} ({expert}): {wins} of {len(lengths)} solved", file=sys.stderr, flush=True)
    kind = env.unwrapped._expert
    env.close()
    return {"task_type": task_type, "success": wins / tasks, "tasks": tasks, "mean_length": statistics.mean(lengths),
            "seconds": round(time.perf_counter() - started, 1), "expert": kind}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", nargs="+", choices=("generation", "steps", "expert"),
                        default=["generation", "steps", "expert"])
    parser.add_argument("--task-types", nargs="+", choices=TASK_TYPES, default=list(TASK_TYPES),
                        help="the task types of the expert part")
    parser.add_argument("--expert", choices=("auto", "handcoded", "planner"), default="auto")
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json")
    args = parser.parse_args()
    result: dict = {}

    def record(line: str) -> None:
        print(line, file=sys.stderr, flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1))

    if "generation" in args.parts:
        result["generation_ms_median"] = generation_ms()
        record(f"task generation: {result['generation_ms_median']:.2f} ms (median of 200)")
        result["reset_ms_median"] = reset_ms()
        record(f"reset incl. loading the game and the planner check: {result['reset_ms_median']:.0f} ms (median of 30)")
    if "steps" in args.parts:
        for num_envs in (1, 16):
            result[f"steps_per_s_{num_envs}_envs"] = steps_per_second(num_envs)
            record(f"{num_envs} env(s): {result[f'steps_per_s_{num_envs}_envs']:.1f} world steps/s")
    if "expert" in args.parts:
        result["expert"] = []
        with ProcessPoolExecutor(args.workers) as pool:
            for done in as_completed([pool.submit(expert_success, task_type, args.tasks, args.expert) for task_type in args.task_types]):
                row = done.result()
                result["expert"].append(row)
                record(f"{row['task_type']}: {row['success']:.3f} over {row['tasks']} held-out tasks ({row['expert']}, "
                       f"mean length {row['mean_length']:.1f}, {row['seconds']} s)")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
