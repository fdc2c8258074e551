"""VSI-Bench (nyu-visionx/VSI-Bench): spatial questions about indoor scene videos, scored as its
official code (vision-x-nyu/thinking-in-space) scores them.

The folder holds ``test.jsonl`` (the hub's current layout; the original release's
``test-00000-of-00001.parquet`` is read when there is no jsonl) and the videos unzipped as
``<dataset>/<scene_name>.mp4``. Each question sees ``frames`` frames spread evenly over its video.
An answer is read as its first word without trailing dots; multiple choice scores an exact
(case-blind) letter match, a numeric answer its mean relative accuracy (MRA) over the thresholds
0.50, 0.55, .., 0.95. Each question type is a task, and the relative-direction task is the mean of
its easy, medium and hard subtasks; overall is the mean of the eight tasks (route planning is one
of them and has its own row).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from vldac.bench.datasets.question import Dataset, Question, read_rows

MULTIPLE_CHOICE = ("object_rel_direction_easy", "object_rel_direction_medium", "object_rel_direction_hard",
                   "object_rel_distance", "route_planning", "obj_appearance_order")
NUMERIC = ("object_abs_distance", "object_counting", "object_size_estimation", "room_size_estimation")
RELATIVE_DIRECTION = "object_rel_direction"
TASKS = ("object_counting", "object_abs_distance", "object_size_estimation", "room_size_estimation",
         "object_rel_distance", RELATIVE_DIRECTION, "route_planning", "obj_appearance_order")
"""In the order the official results list them."""
COLUMNS = ("id", "dataset", "scene_name", "question_type", "question", "options", "ground_truth")
PRE_PROMPT = "These are frames of a video."
NUMERIC_POST_PROMPT = "Please answer the question using a single word or phrase."
CHOICE_POST_PROMPT = "Answer with the option's letter from the given choices directly."
THRESHOLDS = np.linspace(0.5, 0.95, 10)
"""The official code's ten thresholds (its point count (0.95 - 0.5) / 0.05 + 2 truncates to 10)."""


def first_word(answer: str) -> str:
    """The official reading of an answer: its first space-separated word, trailing dots removed."""
    return answer.strip().split(" ")[0].rstrip(".").strip()


def mean_relative_accuracy(predicted: float, truth: float) -> float:
    """The fraction of thresholds t in 0.50..0.95 with |predicted - truth| / truth <= 1 - t."""
    relative_error = abs(predicted - truth) / truth
    return float(np.mean(relative_error <= 1 - THRESHOLDS))


def task_of(question_type: str) -> str:
    """The table's task: the question type, with the three relative-direction levels in one."""
    return RELATIVE_DIRECTION if question_type.startswith(RELATIVE_DIRECTION) else question_type


class VSIBench(Dataset):
    name = "VSI-Bench"
    question_files = "test*"
    takes_frames = True

    def __init__(self, folder: Path, frames: int = 32):
        super().__init__(folder)
        self.frames = frames

    def _rows(self) -> list[dict]:
        jsonl = self.folder / "test.jsonl"
        files = [jsonl] if jsonl.is_file() else sorted(self.folder.glob("test-*.parquet"))
        if not files:
            raise FileNotFoundError(f"{self.folder} holds neither test.jsonl nor test-*.parquet; point --data at a "
                                    "copy of nyu-visionx/VSI-Bench.")
        return [row for path in files for row in read_rows(path, COLUMNS)]

    def questions(self) -> list[Question]:
        questions = []
        for row in self._rows():
            kind = row["question_type"]
            if kind in MULTIPLE_CHOICE:
                text = "\n".join([PRE_PROMPT, row["question"], "Options:\n" + "\n".join(row["options"]), CHOICE_POST_PROMPT])
            elif kind in NUMERIC:
                text = f"{PRE_PROMPT}\n{row['question']}\n{NUMERIC_POST_PROMPT}"
                if not _positive_number(row["ground_truth"]):
                    raise ValueError(f"VSI-Bench question {row['id']} has the answer '{row['ground_truth']}', not a "
                                     "positive number; the folder is not a copy of nyu-visionx/VSI-Bench.")
            else:
                raise ValueError(f"VSI-Bench question {row['id']} has the unknown type '{kind}'; the folder is not "
                                 "a copy of nyu-visionx/VSI-Bench.")
            video = self.folder / row["dataset"] / f"{row['scene_name']}.mp4"
            if not video.is_file():
                raise FileNotFoundError(f"VSI-Bench question {row['id']} needs the video {video}; unzip the dataset's "
                                        f"{row['dataset']}.zip into {self.folder}.")
            questions.append(Question(task_of(kind), kind, str(row["id"]), text,
                                      functools.partial(_video_frames, video, self.frames), str(row["ground_truth"])))
        return sorted(questions, key=lambda question: TASKS.index(question.task))

    def score(self, question: Question, answer: str) -> float:
        word = first_word(answer)
        if question.subtask in MULTIPLE_CHOICE:
            return float(word.lower() == question.gold.lower())
        try:
            predicted = float(word)
        except ValueError:
            return 0.0
        return mean_relative_accuracy(predicted, float(question.gold))


def _positive_number(text: str) -> bool:
    try:
        return float(text) > 0
    except ValueError:
        return False


def _video_frames(path: Path, count: int) -> list[np.ndarray]:
    from vldac.bench.datasets.video import sample_frames

    return list(sample_frames(path, count))
