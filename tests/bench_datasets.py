"""Small copies of the dataset suites' data, in the layouts the public datasets are distributed in,
written by the tests: VSI-Bench (test.jsonl + <dataset>/<scene>.mp4), VisualWebBench
(<task>/test-00000-of-00001.parquet), MMStar (mmstar.parquet), MMBench (en/dev-*.parquet with
its circular rotations as rows)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as parquet
from PIL import Image


def png(value: int, size: int = 24) -> bytes:
    """A square PNG of one grey ``value``."""
    buffer = io.BytesIO()
    Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def image_cell(value: int) -> dict:
    """An image as the hub's parquet stores it: a struct of bytes and path."""
    return {"bytes": png(value), "path": None}


def write_video(path: Path, frames: int, size: int = 32) -> None:
    """An mp4 whose frame k is a uniform grey of 6 k (so a decoded frame tells its index)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for k in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((size, size, 3), 6 * k, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


VSI_ROWS = [
    {"id": 1, "dataset": "arkitscenes", "scene_name": "41069025", "question_type": "object_counting",
     "question": "How many chair(s) are in this room?", "options": None, "ground_truth": "4"},
    {"id": 2, "dataset": "scannet", "scene_name": "scene0011_00", "question_type": "object_abs_distance",
     "question": "What is the distance between the bed and the sofa (in meters)?", "options": None, "ground_truth": "2.5"},
    {"id": 3, "dataset": "arkitscenes", "scene_name": "41069025", "question_type": "object_rel_direction_easy",
     "question": "Is the lamp left or right of the bed?", "options": ["A. left", "B. right"], "ground_truth": "A"},
    {"id": 4, "dataset": "arkitscenes", "scene_name": "41069025", "question_type": "object_rel_direction_medium",
     "question": "Is the lamp front-left or back-right of the sofa?", "options": ["A. front-left", "B. back-right"],
     "ground_truth": "B"},
    {"id": 5, "dataset": "scannet", "scene_name": "scene0011_00", "question_type": "object_rel_direction_hard",
     "question": "Standing at the door facing the bed, is the desk to the left?",
     "options": ["A. left", "B. right", "C. back"], "ground_truth": "C"},
    {"id": 6, "dataset": "scannet", "scene_name": "scene0011_00", "question_type": "route_planning",
     "question": "Go from the door to the bed: turn which way first?",
     "options": ["A. Turn Left", "B. Turn Right", "C. Go forward", "D. Turn Back"], "ground_truth": "D"},
    {"id": 7, "dataset": "arkitscenes", "scene_name": "41069025", "question_type": "object_counting",
     "question": "How many table(s) are in this room?", "options": None, "ground_truth": "2"},
]


def write_vsi(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "test.jsonl").write_text("".join(json.dumps(row) + "\n" for row in VSI_ROWS))
    write_video(folder / "arkitscenes" / "41069025.mp4", frames=40)
    write_video(folder / "scannet" / "scene0011_00.mp4", frames=5)
    return folder


VISUALWEBBENCH_ROWS = {
    "web_caption": [{"answer": "Fresh flowers delivered to your door"}],
    "heading_ocr": [{"bbox": [0.0, 0.0, 1.0, 0.1], "answer": "Welcome to the shop"}],
    "webqa": [{"question": "What is the price of the red rose?", "answer": ["$5", "5 dollars"]},
              {"question": "Who made the page?", "answer": []}],  # no gold answers: left out, as officially
    "element_ocr": [{"bbox": [0.2, 0.39, 0.8, 0.41], "answer": "Sign in to your account"}],
    "element_ground": [{"elem_desc": "the search box", "options": [[0.1, 0.1, 0.2, 0.2], [0.3, 0.3, 0.4, 0.4]],
                        "answer": 1}],
    "action_prediction": [{"bbox": [0.1, 0.1, 0.2, 0.2], "elem_desc": "Cart", "options": ["Your cart", "Home page"],
                           "answer": 0}],
    "action_ground": [{"instruction": "open the cart", "options": [[0.1, 0.1, 0.2, 0.2], [0.3, 0.3, 0.4, 0.4]],
                       "answer": 1}],
}


def write_visualwebbench(folder: Path) -> Path:
    for task, rows in VISUALWEBBENCH_ROWS.items():
        (folder / task).mkdir(parents=True, exist_ok=True)
        table = [{"id": f"{task}_{k}", "task_type": task, "website": "flowers.example", "image": image_cell(40 + k),
                  "image_size": [24, 24], **row} for k, row in enumerate(rows)]
        parquet.write_table(pa.Table.from_pylist(table), folder / task / "test-00000-of-00001.parquet")
    return folder


MMSTAR_ROWS = [
    {"index": 0, "question": "What is the main colour?\nOptions: A: red, B: grey, C: blue, D: green", "answer": "B",
     "category": "coarse perception", "l2_category": "image scene and topic"},
    {"index": 1, "question": "How many circles?\nOptions: A: 1, B: 2, C: 3, D: 4", "answer": "C",
     "category": "fine-grained perception", "l2_category": "object counting"},
    {"index": 2, "question": "Which is larger, 2 or 3?\nOptions: A: 2, B: 3, C: equal, D: unknown", "answer": "B",
     "category": "math", "l2_category": "numeric commonsense and calculation"},
]


def write_mmstar(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{**row, "image": image_cell(100 + row["index"]),
             "meta_info": {"source": "test", "split": "val", "image_path": f"{row['index']}.png"}} for row in MMSTAR_ROWS]
    parquet.write_table(pa.Table.from_pylist(rows), folder / "mmstar.parquet")
    return folder


def rotations(index: int, question: str, options: list[str], answer: int, category: str) -> list[dict]:
    """Every circular rotation of a question as MMBench distributes them: rotation k shifts the
    options by k and has index + k x 1,000,000."""
    rows = []
    for k in range(len(options)):
        shifted = options[k:] + options[:k]
        row = {"index": index + k * 1_000_000, "question": question, "hint": "nan", "answer": "ABCD"[shifted.index(options[answer])],
               "category": category, "L2-category": "attribute", "source": "test", "comment": None, "split": "dev",
               "image": image_cell(60 + index)}
        row.update({letter: (shifted[i] if i < len(shifted) else None) for i, letter in enumerate("ABCD")})
        rows.append(row)
    return rows


MMBENCH_QUESTIONS = [
    (7, "What is the colour of the square?", ["grey", "red", "blue", "green"], 0, "attribute_recognition"),
    (8, "Which shape is shown?", ["circle", "square", "triangle"], 1, "object_localization"),
    (9, "Is the square grey?", ["yes", "no"], 0, "attribute_recognition"),
]


def write_mmbench(folder: Path) -> Path:
    (folder / "en").mkdir(parents=True, exist_ok=True)
    rows = [row for question in MMBENCH_QUESTIONS for row in rotations(*question)]
    parquet.write_table(pa.Table.from_pylist(sorted(rows, key=lambda row: row["index"])),
                        folder / "en" / "dev-00000-of-00001.parquet")
    return folder


def write_all(folder: Path) -> Path:
    """All four datasets under ``folder``, each in the folder named as on the hub."""
    write_vsi(folder / "VSI-Bench")
    write_visualwebbench(folder / "VisualWebBench")
    write_mmstar(folder / "MMStar")
    write_mmbench(folder / "MMBench")
    return folder
