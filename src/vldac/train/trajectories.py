"""A few of each logged update's trajectories, saved for the run report's viewer.

At every checkpointed update the trainer saves the rollout of its first ``train.log_trajectories``
environments to ``RUN_DIR/trajectories/update_NNNNN.json``: each step's frame history (as PNG,
each distinct frame stored once), the observation text, the model's answer as generated, the
parsed thoughts and action (or why the answer was invalid), the reward and the critic's value.
The files are kept for the whole run (about 250 KB per logged update of the default job).
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from vldac.agents.base import LanguageInterface
from vldac.models.vision_cache import frame_key
from vldac.rollout.buffer import StepRecord

def png_base64(frame: np.ndarray) -> str:
    """An HxWx3 uint8 frame as base64-encoded PNG."""
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class TrajectoryLog:
    """Writes ``trajectories/update_NNNNN.json`` files; a resumed run first drops those of the
    updates after its checkpoint (they are written again)."""

    def __init__(self, run_dir: Path, episodes_per_update: int, resume_after: int | None):
        self.folder = run_dir / "trajectories"
        self.episodes_per_update = episodes_per_update
        if resume_after is not None and self.folder.is_dir():
            for path in self.folder.glob("update_*.json"):
                if int(path.stem.removeprefix("update_")) > resume_after:
                    path.unlink()

    def write(
        self, update: int, env_steps: int, trajectories: list[list[StepRecord]],
        decode: Callable[[list[int]], str], interface: LanguageInterface,
    ) -> Path | None:
        """Save the first ``episodes_per_update`` trajectories (each one env's records, in time
        order) of an update; ``decode`` turns answer token ids into text."""
        if not self.episodes_per_update:
            return None
        frames: dict[str, int] = {}
        images: list[str] = []

        def frame_index(frame: np.ndarray) -> int:
            key = frame_key(frame)
            if key not in frames:
                frames[key] = len(images)
                images.append(png_base64(frame))
            return frames[key]

        episodes = []
        for env_index, records in enumerate(trajectories[: self.episodes_per_update]):
            steps = []
            for record in records:
                answer = decode(record.token_ids.tolist())
                parsed = record.answer or interface.parse("" if record.cut_off else answer)  # as the collector parsed it
                steps.append({
                    "frames": [frame_index(frame) for frame in record.frames],
                    "observation": record.text,
                    "answer": answer,
                    "thoughts": parsed.thoughts,
                    "action": None if record.invalid else interface.action_text(parsed.action),
                    "invalid": record.invalid,
                    "error": ("it reached the token limit without an end token" if record.cut_off else parsed.error)
                    if record.invalid else None,
                    "cut_off": record.cut_off,
                    "reward": record.reward,
                    "value": record.value if math.isfinite(record.value) else None,
                    "terminated": record.terminated,
                    "truncated": record.truncated,
                })
            episodes.append({"env": env_index, "steps": steps})
        self.folder.mkdir(exist_ok=True)
        path = self.folder / f"update_{update:05d}.json"
        document = {"update": update, "env_steps": env_steps, "images": images, "episodes": episodes}
        partial = path.with_suffix(".json.partial")
        partial.write_text(json.dumps(document, allow_nan=False, separators=(",", ":")))
        os.replace(partial, path)  # a report of a running or killed run never reads half a file
        return path
