"""Video frames for the dataset suites, decoded with PyAV (FFmpeg's libraries)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vldac.bench.datasets.question import DatasetUnavailable

try:
    import av
except ImportError as error:
    raise DatasetUnavailable("Video questions need PyAV: pip install 'vldac[bench]'.") from error


def sample_frames(path: Path, count: int) -> list[np.ndarray]:
    """``count`` frames [H, W, 3] uint8 spread evenly over the video, first and last included
    (indices ``linspace(0, frames - 1, count)`` rounded down, as VSI-Bench samples; a short video
    repeats frames)."""
    if not path.is_file():
        raise FileNotFoundError(f"The video {path} is missing; the dataset folder must hold its videos as distributed.")
    with av.open(str(path)) as container:
        total = container.streams.video[0].frames or sum(1 for _ in container.decode(video=0))
    if total < 1:
        raise ValueError(f"The video {path} has no frames; replace it with the dataset's copy.")
    wanted = np.linspace(0, total - 1, count).astype(int).tolist()
    frames: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                frames[index] = frame.to_ndarray(format="rgb24")
            if index >= wanted[-1]:
                break
    last = max(frames) if frames else None
    if last is None:
        raise ValueError(f"The video {path} could not be decoded; replace it with the dataset's copy.")
    return [frames.get(index, frames[last]) for index in wanted]
