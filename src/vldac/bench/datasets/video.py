"""Video frames for the dataset suites, decoded with PyAV (FFmpeg's libraries)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from vldac.bench.datasets.question import DatasetUnavailable, evenly_spread

try:
    import av
except ImportError as error:
    raise DatasetUnavailable("Video questions need PyAV: pip install 'vldac[bench]'.") from error


@functools.lru_cache(maxsize=4)
def sample_frames(path: Path, count: int) -> tuple[np.ndarray, ...]:
    """``count`` frames [H, W, 3] uint8 spread evenly over the video, first and last included
    (indices ``linspace(0, frames - 1, count)`` rounded down, as VSI-Bench samples; a short video
    repeats frames). The last few videos' frames are kept: a video's questions follow each other."""
    if not path.is_file():
        raise FileNotFoundError(f"The video {path} is missing; the dataset folder must hold its videos as distributed.")
    try:
        return _decoded(path, count)
    except (av.error.FFmpegError, IndexError, ValueError) as error:
        raise ValueError(f"The video {path} cannot be decoded ({error}); replace it with the dataset's copy.") from None


def _decoded(path: Path, count: int) -> tuple[np.ndarray, ...]:
    with av.open(str(path)) as container:
        total = container.streams.video[0].frames or sum(1 for _ in container.decode(video=0))
    if total < 1:
        raise ValueError("it has no frames")
    wanted = evenly_spread(total, count)
    frames: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                frames[index] = frame.to_ndarray(format="rgb24")
            if index >= wanted[-1]:
                break
    if not frames:
        raise ValueError("no frame decodes")
    last = frames[max(frames)]  # a container that promised more frames than it holds: its last stands in
    return tuple(frames.get(index, last) for index in wanted)
