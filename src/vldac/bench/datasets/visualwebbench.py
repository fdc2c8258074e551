"""VisualWebBench (visualwebbench/VisualWebBench): web page screenshots, seven tasks, scored as its
official code scores them.

The folder holds one parquet per task, ``<task>/test-*.parquet``; the screenshots carry their
boxes and element labels already drawn. Prompts are the official ones (the action-prediction
choices included as the Python list the official code pastes). Answers are read as the official
adapters read them (a caption from its meta tag, OCR text after the first colon). Scores: ROUGE-L
F for captions, headings and element OCR (the ``rouge`` package the official evaluation uses), the
best ROUGE-1 F over the gold answers for WebQA, and accuracy of the answered letter for the
grounding and action tasks. Answers are up to 512 tokens, as the official adapters allow every
task. Overall is the mean of the seven tasks.
"""

from __future__ import annotations

import functools
import re
import sys

from vldac.bench.datasets.question import Dataset, DatasetUnavailable, Question, decoded_image, read_rows

try:
    from rouge import Rouge
except ImportError as error:
    raise DatasetUnavailable("VisualWebBench is scored with rouge: pip install 'vldac[bench]'.") from error

PROMPTS = {
    "web_caption": (
        "You are given a screenshot of a webpage. Please generate the meta web description information of this "
        'webpage, i.e., content attribute in <meta name="description" content=""> HTML element.\n\n'
        "You should use the following format, and do not output any explanation or any other contents:\n"
        '<meta name="description" content="YOUR ANSWER">\n'
    ),
    "heading_ocr": (
        "You are given a screenshot of a webpage. Please generate the main text within the screenshot, which can be "
        "regarded as the heading of the webpage.\n\n"
        "You should directly tell me the main content, and do not output any explanation or any other contents.\n"
    ),
    "webqa": (
        "{question}\nYou should directly tell me your answer in the fewest words possible, and do not output any "
        "explanation or any other contents.\n"
    ),
    "element_ocr": (
        "You are given a screenshot of a webpage with a red rectangle bounding box. The [x1, y1, x2, y2] coordinates "
        "of the bounding box is {bbox}.\nPlease perform OCR in the bounding box and recognize the text content within "
        "the red bounding box.\n\nYou should use the following format:\n"
        "The text content within the red bounding box is: <YOUR ANSWER>\n"
    ),
    "element_ground": (
        "In this website screenshot, I have labeled IDs for some HTML elements as candicates. Tell me which one best "
        "matches the description: {elem_desc}\n\n"
        "You should directly tell me your choice in a single uppercase letter, and do not output any explanation or "
        "any other contents.\n"
    ),
    "action_prediction": (
        "You are given a screenshot of a webpage with a red rectangle bounding box. The [x1, y1, x2, y2] coordinates "
        "of the bounding box is {bbox}.\nPlease select the best webpage description that matches the new webpage "
        "after clicking the selected element in the bounding box:\n{options}\n\n"
        "You should directly tell me your choice in a single uppercase letter, and do not output any explanation or "
        "any other contents.\n"
    ),
    "action_ground": (
        "In this website screenshot, I have labeled IDs for some HTML elements as candicates. Tell me which one I "
        "should click to complete the following task: {instruction}\n\n"
        "You should directly tell me your choice in a single uppercase letter, and do not output any explanation or "
        "any other contents.\n"
    ),
}
"""The official prompts by task, in the order the paper lists the tasks (its misspelling kept)."""
FIELDS = {"web_caption": (), "heading_ocr": (), "webqa": ("question",), "element_ocr": ("bbox",),
          "element_ground": ("elem_desc",), "action_prediction": ("bbox", "options"), "action_ground": ("instruction",)}
"""The columns each task's prompt is filled from."""
TEXT_TASKS = ("web_caption", "heading_ocr", "element_ocr")
CHOICE_TASKS = ("element_ground", "action_prediction", "action_ground")
LETTERS = "ABCDEFGH"
META_DESCRIPTION = re.compile(r"<meta name=\"description\" content=\"(.*)\">")


def read_answer(task: str, answer: str) -> str:
    """The official adapters' reading: a caption's meta description, OCR text after the first colon."""
    if task == "web_caption":
        found = META_DESCRIPTION.findall(answer)
        return found[0] if found else answer
    if task == "element_ocr" and ":" in answer:
        return ":".join(answer.split(":")[1:]).strip().strip('"').strip("'")
    return answer


def rouge_f(metric: str, answer: str, gold: str) -> float:
    """ROUGE F (``metric``: rouge-1, rouge-2, rouge-l) of ``answer`` against ``gold`` as the ``rouge``
    package computes it; an answer with no words (empty, spaces or dots) scores 0, where the official
    code puts a space for it."""
    if not answer.replace(".", "").strip() or not gold.replace(".", "").strip():
        return 0.0
    return float(Rouge(metrics=[metric]).get_scores([answer], [gold])[0][metric]["f"])


def letter_choice(answer: str, letters: str = LETTERS) -> int:
    """The official multiple-choice reading: the index of the letter chosen, -1 for none.

    A one-character answer is that letter; an answer starting "X." is X; otherwise, with the
    punctuation , . ! ? ; : ' " removed, the letters written "(X)", or failing those " X ", and of
    several the one written last."""
    if len(answer) == 1:
        letter = answer.upper()
        return letters.index(letter) if letter in letters else -1
    if re.match(r"[A-Z]\.", answer):
        return letters.index(answer[0]) if answer[0] in letters else -1
    padded = " " + answer.translate(str.maketrans("", "", ",.!?;:'\"")) + " "
    found = [letter for letter in letters if f"({letter})" in padded]
    where = {letter: padded.rfind(f"({letter})") for letter in found}
    if not found:
        found = [letter for letter in letters if f" {letter} " in padded]
        where = {letter: padded.rfind(f" {letter} ") for letter in found}
    return letters.index(max(found, key=where.get)) if found else -1


class VisualWebBench(Dataset):
    name = "VisualWebBench"
    question_files = "*/test-*.parquet"
    answer_tokens = 512

    def questions(self) -> list[Question]:
        files = {task: sorted((self.folder / task).glob("test-*.parquet")) for task in PROMPTS}
        missing = [task for task, paths in files.items() if not paths]
        if len(missing) == len(PROMPTS):
            raise FileNotFoundError(f"{self.folder} holds no <task>/test-*.parquet; point --data at a copy of "
                                    "visualwebbench/VisualWebBench.")
        for task in missing:
            print(f"bench visualwebbench: {self.folder / task}/test-*.parquet not found: {task} left out.",
                  file=sys.stderr)
        questions = []
        for task, paths in files.items():
            for row in (row for path in paths for row in read_rows(path, ("id", "image", "answer", *FIELDS[task]))):
                if task == "webqa" and not row["answer"]:
                    continue  # the official evaluation leaves out a question without gold answers
                fields = {field: row[field] for field in FIELDS[task]}
                questions.append(Question(task, task, str(row["id"]), PROMPTS[task].format(**fields),
                                          functools.partial(_images, row["image"]), row["answer"],
                                          answer_tokens=self.answer_tokens))
        return questions

    def score(self, question: Question, answer: str) -> float:
        answer = read_answer(question.task, answer.strip())
        if question.task == "element_ocr" and len(answer) == 1:
            return 0.0  # the official evaluation blanks a one-character reading
        if question.task in TEXT_TASKS:
            return rouge_f("rouge-l", answer, question.gold)
        if question.task == "webqa":
            golds = [question.gold] if isinstance(question.gold, str) else question.gold
            return max(rouge_f("rouge-1", answer, gold) for gold in golds)
        return float(letter_choice(answer) == int(question.gold))


def _images(image: dict | bytes) -> list:
    return [decoded_image(image)]
