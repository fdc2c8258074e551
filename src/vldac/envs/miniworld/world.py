"""``vldac/MiniWorld-<Task>-v0``: a Farama MiniWorld task as a vldac world.

The world owns the Farama env, renders square frames off-screen, maps its own Discrete actions
(named in words, ``action_names``) to Farama's, cuts episodes at ``max_steps`` (the paper's 128 by
default; None keeps only the task's native limit), and reports in every step's info:

- ``success`` (bool), as the task defines it (see ``tasks.MiniWorldTask``);
- ``mission``, the task in words;
- for goal-reaching tasks, the simulator state the scripted expert reads: ``agent_pos`` (x, z),
  ``agent_dir`` (radians, counter-clockwise seen from above), ``goal_pos`` (x, z), ``turn_step``
  (degrees), ``floor_map`` (the episode's ``navigation.FloorMap``, built only when used) and
  ``action_names``.

The reward is the task's native one; ``timeout_penalty`` is added at a step-limit truncation.
"""

from __future__ import annotations

import contextlib
import sys

import gymnasium
import numpy as np
from gymnasium import spaces

from vldac.envs.miniworld.engine import INSTALL_OPENGL, MiniWorldUnavailable, load_miniworld
from vldac.envs.miniworld.navigation import FloorMap
from vldac.envs.miniworld.tasks import FARAMA_ACTION_INDEX, SIGN_END_INDEX, chosen_actions, task_for
from vldac.envs.world_settings import check_world_settings

GOAL_OBJECTS = ("box", "key")  # Sign's goal argument: 0 = a box, 1 = a key


class MiniWorldWorld(gymnasium.Env):
    """One Farama MiniWorld task (``task``: a name such as "OneRoomS6") with vldac's contract."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        task: str,
        frame_size: int = 84,
        max_steps: int | None = 128,
        actions: list[str] | None = None,
        timeout_penalty: float = 0.0,
        domain_rand: bool = False,
        task_kwargs: dict | None = None,
        render_mode: str | None = None,
    ):
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode={render_mode!r} is not supported; use None or 'rgb_array'.")
        check_world_settings(frame_size=frame_size, max_steps=max_steps)
        self.task = task_for(task)
        self.action_names = list(chosen_actions(self.task, actions))
        self.frame_size = frame_size
        self.max_steps = max_steps
        self.timeout_penalty = float(timeout_penalty)
        self.render_mode = render_mode
        self.observation_space = spaces.Box(0, 255, (frame_size, frame_size, 3), np.uint8)
        self.action_space = spaces.Discrete(len(self.action_names))
        self._farama_actions = [
            SIGN_END_INDEX if name == "end" else FARAMA_ACTION_INDEX[name] for name in self.action_names
        ]
        load_miniworld()
        try:
            # Farama prints its frame-buffer fallbacks; keep stdout for results (vldac eval prints JSON).
            with contextlib.redirect_stdout(sys.stderr):
                self.engine = gymnasium.make(
                    self.task.farama_id, obs_width=frame_size, obs_height=frame_size, disable_env_checker=True,
                    **({"domain_rand": True} if domain_rand else {}), **(task_kwargs or {}),
                ).unwrapped
        except TypeError as error:
            raise ValueError(f"{self.task.farama_id} does not accept task_kwargs {task_kwargs}: {error}.") from None
        except Exception as error:
            if type(error).__module__.startswith("pyglet") or isinstance(error, (ImportError, OSError)):
                raise MiniWorldUnavailable(
                    f"MiniWorld could not open an off-screen OpenGL context ({error}); install {INSTALL_OPENGL}."
                ) from None
            raise
        self._floor_map: FloorMap | None = None
        goal_object = GOAL_OBJECTS[getattr(self.engine, "_goal", 0)]  # Sign's goal argument, fixed per world
        self._mission = self.task.mission.format(goal_object=goal_object)
        self._steps = 0
        self.frame = np.zeros(self.observation_space.shape, np.uint8)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        observation, _ = self.engine.reset(seed=seed)
        self._steps = 0
        self._floor_map = self._new_floor_map() if self.task.goal_reaching else None
        self.frame = self._frame(observation)
        return self.frame.copy(), self._info(success=False)

    def step(self, action: int):
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is not one of 0..{self.action_space.n - 1} ({self.action_names}).")
        observation, reward, terminated, truncated, native_info = self.engine.step(self._farama_actions[int(action)])
        self._steps += 1
        if self.max_steps is not None and self._steps >= self.max_steps:
            truncated = True
        truncated = bool(truncated) and not terminated
        if truncated:
            reward += self.timeout_penalty
        self.frame = self._frame(observation)
        info = self._info(success=self._succeeded(float(reward), bool(terminated), truncated))
        if "health" in native_info:
            info["health"] = int(native_info["health"])
        return self.frame.copy(), float(reward), bool(terminated), truncated, info

    def render(self) -> np.ndarray | None:
        """The current frame for render_mode="rgb_array", else None."""
        return self.frame.copy() if self.render_mode == "rgb_array" else None

    def close(self) -> None:
        self.engine.close()

    def _frame(self, observation) -> np.ndarray:
        """Sign observes {"obs": frame, "goal": kind}; every other task the frame itself."""
        frame = observation["obs"] if isinstance(observation, dict) else observation
        return np.ascontiguousarray(frame, dtype=np.uint8)

    def _succeeded(self, reward: float, terminated: bool, truncated: bool) -> bool:
        if self.task.success == "goal":
            return terminated and reward > 0
        if self.task.success == "all_picked":
            return terminated
        if self.task.success == "survived":
            return truncated
        return False

    def _new_floor_map(self) -> FloorMap:
        """The episode's floor plan: walls, rooms, the entities to walk around, and the goal (reached
        a little inside the distance at which Farama's ``near`` fires)."""
        engine = self.engine
        walls = np.asarray(engine.wall_segs)[:, :, [0, 2]]
        rooms = [(room.outline[:, [0, 2]], room.edge_norms[:, [0, 2]]) for room in engine.rooms]
        obstacles = [
            (float(entity.pos[0]), float(entity.pos[2]), float(entity.radius))
            for entity in engine.entities if entity is not engine.box and entity is not engine.agent
        ]
        reach = engine.box.radius + engine.agent.radius + 0.5 * engine.max_forward_step
        return FloorMap(walls, rooms, obstacles, engine.box.pos[[0, 2]], reach)

    def _info(self, success: bool) -> dict:
        info = {"success": bool(success), "mission": self._mission}
        if self.task.goal_reaching:
            agent = self.engine.agent
            position = agent.pos[[0, 2]].astype(float)
            goal = self.engine.box.pos[[0, 2]].astype(float)
            info.update(
                agent_pos=position.tolist(), agent_dir=float(agent.dir), goal_pos=goal.tolist(),
                floor_map=self._floor_map, action_names=self.action_names,
                turn_step=float(self.engine.params.sample(None, "turn_step")),
            )
        return info
