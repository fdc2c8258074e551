"""A benchmark question as the model meets it, and a dataset: its questions read from a local copy
in the layout the public dataset is distributed in, and its official scoring."""

from __future__ import annotations

import io
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vldac.bench.scoring import Result


class DatasetUnavailable(RuntimeError):
    """A dataset's package (an optional extra) is not installed."""


@dataclass(frozen=True)
class Question:
    """``text`` follows the images in one user turn; ``images`` loads them ([H, W, 3] uint8, decoded
    only when asked); ``gold`` is what the dataset's scorer compares the answer with;
    ``answer_tokens`` the answer's token limit (the official one)."""

    task: str
    subtask: str
    id: str
    text: str
    images: Callable[[], list[np.ndarray]]
    gold: object
    answer_tokens: int = 16


class Dataset(ABC):
    """One dataset: ``name`` (its folder's name on the hub), ``question_files`` (a glob, relative to
    the folder, matching its question files), ``answer_tokens`` (the official answer length limit)."""

    name: str
    question_files: str
    answer_tokens: int = 16
    takes_frames: bool = False
    """Whether the dataset's questions are videos, asked with a ``frames`` count."""

    def __init__(self, folder: Path):
        if not folder.is_dir():
            raise FileNotFoundError(f"The {self.name} folder {folder} does not exist; point --data at a local copy.")
        self.folder = folder

    @classmethod
    def holds(cls, folder: Path) -> bool:
        """Whether ``folder`` looks like a copy of this dataset (its question files are there)."""
        return any(folder.glob(cls.question_files)) if folder.is_dir() else False

    @abstractmethod
    def questions(self) -> list[Question]:
        """Every question, in the dataset's order."""

    @abstractmethod
    def score(self, question: Question, answer: str) -> float:
        """The official score (0..1) of the model's ``answer`` text to ``question``."""

    def limited(self, questions: list[Question], count: int | None) -> list[Question]:
        """The first ``count`` questions of every (task, subtask); all when None."""
        if count is None:
            return questions
        seen: dict[tuple[str, str], int] = {}
        kept = []
        for question in questions:
            key = (question.task, question.subtask)
            seen[key] = seen.get(key, 0) + 1
            if seen[key] <= count:
                kept.append(question)
        return kept

    def results(self, questions: list[Question], answers: list[str]) -> list[Result]:
        """One result per question (group: task, subgroup: subtask, key: id)."""
        return [Result(question.task, question.subtask, question.id, self.score(question, answer))
                for question, answer in zip(questions, answers, strict=True)]


def evenly_spread(total: int, count: int) -> list[int]:
    """``count`` indices of ``total`` items spread evenly, first and last included (rounded down)."""
    return np.linspace(0, total - 1, count).astype(int).tolist()


def read_rows(path: Path, columns: tuple[str, ...]) -> list[dict]:
    """The rows of a dataset's parquet or jsonl file, each holding ``columns``; a file that cannot be
    read or lacks a column is one sentence naming it."""
    try:
        if path.suffix == ".jsonl":
            rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        else:
            import pyarrow.parquet as parquet

            rows = parquet.read_table(path).to_pylist()
    except (OSError, ValueError) as error:  # pyarrow's and json's errors are both
        raise ValueError(f"{path} cannot be read ({error}); replace it with the dataset's copy.") from None
    for number, row in enumerate(rows, start=1):
        missing = [column for column in columns if column not in row]
        if missing:
            raise ValueError(f"{path} row {number} has no {', '.join(missing)} column; the file is not the dataset's "
                             "distributed copy.")
    return rows


def decoded_image(data: bytes | dict | str, folder: Path | None = None) -> np.ndarray:
    """An image stored as parquet holds it (a struct of ``bytes`` and ``path``, raw bytes, or a path
    relative to ``folder``), as [H, W, 3] uint8; one that cannot be decoded is one sentence."""
    if isinstance(data, dict):
        data = data.get("bytes") or data.get("path")
    if isinstance(data, str):
        path = Path(data) if folder is None else folder / data
        if not path.is_file():
            raise FileNotFoundError(f"The image {path} is missing; the dataset folder must hold its images as distributed.")
        data = path.read_bytes()
    if not data:
        raise ValueError("A question's image is empty; replace the dataset's file with its distributed copy.")
    try:
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    except OSError as error:
        raise ValueError(f"A question's image cannot be decoded ({error}); replace the dataset's file with its "
                         "distributed copy.") from None
