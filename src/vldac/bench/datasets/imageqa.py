"""General image understanding as multiple choice: MMStar (Lin-Chen/MMStar) and MMBench
(lmms-lab/MMBench), each scored as its official code scores it.

- MMStar: ``mmstar.parquet`` (the options are inside the question text); the prompt is the
  question and "Answer with the option's letter from the given choices directly"; an answer is
  right when it starts with the letter, "(X", "option X" or "the answer is X" (case-blind), as its
  official evaluation reads answers.
- MMBench: ``<language>/<split>-*.parquet`` (default en/dev: the test split's answers are
  withheld); the prompt is the hint, the question, the options as "A. text" lines and the letter
  instruction; the letter is read by VLMEvalKit's exact matching (one option letter among the
  answer's words, else one option's text inside it), with no judge model: an unread answer is
  wrong. CircularEval: MMBench distributes every rotation of a question's options as its own row
  (index + k x 1,000,000), and a question counts as right only when all its rotations are.

Each dataset is a task of the ``imageqa`` suite, its categories the subtasks.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

from vldac.bench.datasets.question import Dataset, Question, decoded_image, read_rows
from vldac.bench.scoring import Result

LETTER_INSTRUCTION = "Answer with the option's letter from the given choices directly"
ROTATION = 1_000_000
"""MMBench's circular copies of a question have indices original + k x ROTATION."""
REFUSALS = ("Sorry, I can't help with images of people yet.", "I can't process this file.",
            "I'm sorry, but without the image provided", "Cannot determine the answer")


def mmstar_correct(answer: str, gold: str) -> bool:
    """MMStar's official reading: the answer (lower case, newlines as spaces) starts with the letter,
    with "(" and the letter, with "option " and the letter, or with "the answer is " and the letter."""
    a, p = gold.lower().strip(), answer.lower().strip().replace("\n", " ")
    return any(p[len(prefix):len(prefix) + 1] == a and p.startswith(prefix)
               for prefix in ("", "(", "option ", "the answer is "))


def mmbench_letter(answer: str, options: dict[str, str]) -> str | None:
    """VLMEvalKit's exact matching of an answer to one of ``options`` (letter -> text): "Z" for a
    refusal; the one option letter standing as a word (with .()[],:;!*#{} read as spaces); "Z" when
    no option letter but a "Z" stands; else the one option whose text the answer contains
    (case-blind); None when none of these reads one answer."""
    if any(refusal in answer for refusal in REFUSALS):
        return "Z"
    words = answer.translate(str.maketrans({character: " " for character in ".()[],:;!*#{}"})).split()
    letters = [letter for letter in options if letter in words]
    if len(letters) == 1:
        return letters[0]
    if not letters and "Z" in words:
        return "Z"
    texts = [letter for letter, text in options.items() if text.lower() in answer.lower()]
    return texts[0] if len(texts) == 1 else None


class MMStar(Dataset):
    name = "MMStar"
    question_files = "mmstar.parquet"

    def questions(self) -> list[Question]:
        path = self.folder / "mmstar.parquet"
        if not path.is_file():
            raise FileNotFoundError(f"{self.folder} holds no mmstar.parquet; point --data at a copy of Lin-Chen/MMStar.")
        return [Question(self.name, row["category"], str(row["index"]),
                         f"{row['question'].strip()}\n{LETTER_INSTRUCTION}", functools.partial(_images, row["image"]),
                         row["answer"], answer_tokens=32)
                for row in read_rows(path, ("index", "question", "image", "answer", "category"))]

    def score(self, question: Question, answer: str) -> float:
        return float(mmstar_correct(answer, question.gold))


class MMBench(Dataset):
    name = "MMBench"
    question_files = "en/dev-*.parquet"

    def __init__(self, folder: Path, language: str = "en", split: str = "dev"):
        super().__init__(folder)
        self.language, self.split = language, split

    def questions(self) -> list[Question]:
        paths = sorted((self.folder / self.language).glob(f"{self.split}-*.parquet"))
        if not paths:
            raise FileNotFoundError(f"{self.folder} holds no {self.language}/{self.split}-*.parquet; point --data at a "
                                    "copy of lmms-lab/MMBench.")
        questions = []
        columns = ("index", "question", "hint", "answer", "A", "B", "category", "image")
        for row in (row for path in paths for row in read_rows(path, columns)):
            if not row.get("answer"):
                raise ValueError(f"MMBench {self.language}/{self.split} has no answers (the test split's are withheld); "
                                 "score the dev split.")
            options = {letter: str(row[letter]) for letter in "ABCD" if _given(row.get(letter))}
            hint = f"{row['hint']}\n" if _given(row.get("hint")) else ""
            text = hint + row["question"] + "".join(f"\n{letter}. {option}" for letter, option in options.items())
            questions.append(Question(self.name, row["category"], str(int(row["index"])),
                                      f"{text}\n{LETTER_INSTRUCTION}.", functools.partial(_images, row["image"]),
                                      {"answer": row["answer"], "options": options}, answer_tokens=32))
        return questions

    def limited(self, questions: list[Question], count: int | None) -> list[Question]:
        """The first ``count`` original questions of every category, with all their rotations."""
        if count is None:
            return questions
        kept_originals: dict[str, list[int]] = {}
        for question in sorted(questions, key=lambda question: int(question.id)):
            originals = kept_originals.setdefault(question.subtask, [])
            if int(question.id) < ROTATION and len(originals) < count:
                originals.append(int(question.id))
        kept = {original for originals in kept_originals.values() for original in originals}
        return [question for question in questions if int(question.id) % ROTATION in kept]

    def score(self, question: Question, answer: str) -> float:
        return float(mmbench_letter(answer.strip(), question.gold["options"]) == question.gold["answer"])

    def results(self, questions: list[Question], answers: list[str]) -> list[Result]:
        """CircularEval: one result per original question (key: index mod 1,000,000), 1 when every
        rotation of it was answered right; its category is the original row's."""
        rotations: dict[int, list[tuple[Question, float]]] = {}
        for question, answer in zip(questions, answers, strict=True):
            rotations.setdefault(int(question.id) % ROTATION, []).append((question, self.score(question, answer)))
        results = []
        for key, answered in rotations.items():
            original = min(answered, key=lambda pair: int(pair[0].id))[0]
            results.append(Result(original.task, original.subtask, key, float(all(score for _, score in answered))))
        return results


def _given(value) -> bool:
    """MMBench writes a missing option or hint as null or "nan"."""
    return value is not None and not (isinstance(value, float) and math.isnan(value)) and str(value).lower() != "nan"


def _images(image: dict | bytes) -> list:
    return [decoded_image(image)]
