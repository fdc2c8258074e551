"""The rollout buffer: one record per (step t, env i), stepped in lockstep, time first.

Sampled token ids are kept verbatim (never re-encoded from decoded text) with their float32
log-probs; frames stay as arrays until the processor builds prompts from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vldac.agents import ParsedAnswer


@dataclass
class StepRecord:
    """One environment step: the observation (frame history and instruction text), the answer
    and what followed.

    token_ids / logprobs [L_t]: the answer's tokens up to and including the end-of-turn token.
    final_frames: a truncated episode's final observation (for its bootstrap value), else None
    (a truncation without one, as when the world crashed, is not bootstrapped).
    cut_off: the answer reached the token limit without an end token.
    action_start: index of the first token of the answer's "action" field (None: no such field).
    answer: the answer as the collector parsed it (the action the world received, or the reason
    it was invalid; its thoughts).
    """

    frames: list[np.ndarray]
    text: str
    token_ids: torch.Tensor
    logprobs: torch.Tensor
    value: float
    reward: float
    terminated: bool
    truncated: bool
    invalid: bool
    final_frames: list[np.ndarray] | None = None
    final_text: str | None = None
    action_start: int | None = None
    cut_off: bool = False
    answer: ParsedAnswer | None = None


class RolloutBuffer:
    """Records [T, N]; after collection, ``next_values`` come from the following step's value,
    from V(final observation) on a truncation, or from V(last observation) at the rollout's end."""

    def __init__(self, num_steps: int, num_envs: int):
        self.num_steps = num_steps
        self.num_envs = num_envs
        self.records: list[list[StepRecord | None]] = [[None] * num_envs for _ in range(num_steps)]
        self.last_observations: list[tuple[list[np.ndarray], str]] = []
        self.bootstrap_values: dict[tuple[int, int], float] = {}

    def add(self, t: int, env_index: int, record: StepRecord) -> None:
        self.records[t][env_index] = record

    def bootstrap_requests(self) -> list[tuple[tuple[int, int], tuple[list[np.ndarray], str]]]:
        """(t, i) keys whose next value is V of an observation not otherwise scored, with that
        observation (frames, text)."""
        requests = []
        for t, row in enumerate(self.records):
            for i, record in enumerate(row):
                if record.truncated:
                    if record.final_frames is not None:
                        requests.append(((t, i), (record.final_frames, record.final_text)))
                elif t == self.num_steps - 1 and not record.terminated:
                    requests.append(((t, i), self.last_observations[i]))
        return requests

    def set_bootstrap_values(self, keys: list[tuple[int, int]], values: list[float]) -> None:
        self.bootstrap_values.update(zip(keys, values, strict=True))

    def _grid(self, name: str, dtype=torch.float32) -> torch.Tensor:
        return torch.tensor([[getattr(r, name) for r in row] for row in self.records], dtype=dtype)

    def step_tensors(self) -> dict[str, torch.Tensor]:
        """rewards, values, next_values [T, N] float32; terminated, truncated [T, N] bool."""
        values = self._grid("value")
        next_values = torch.zeros_like(values)
        for t in range(self.num_steps):
            for i in range(self.num_envs):
                record = self.records[t][i]
                if record.terminated:
                    continue
                if (t, i) in self.bootstrap_values:
                    next_values[t, i] = self.bootstrap_values[(t, i)]
                elif not record.truncated:
                    next_values[t, i] = values[t + 1, i]
        return {
            "rewards": self._grid("reward"),
            "values": values,
            "next_values": next_values,
            "terminated": self._grid("terminated", torch.bool),
            "truncated": self._grid("truncated", torch.bool),
        }

    def env_trajectories(self) -> list[list[StepRecord]]:
        """Each env's records of this rollout in time order (one or more episode segments)."""
        return [[row[i] for row in self.records] for i in range(self.num_envs)]

    def flat_records(self) -> list[StepRecord]:
        """Records in [T, N] row-major order (matches ``tensor.reshape(-1)`` of the step grids)."""
        return [record for row in self.records for record in row]

