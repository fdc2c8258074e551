"""vldac bench's dataset suites (VSI-Bench, VisualWebBench, MMStar, MMBench): loaders on small copies
in the distributed layouts (tests/bench_datasets.py), the official scorers on hand-worked cases, and
the command end to end.

Needs the extra vldac[bench] (PyAV, pyarrow, rouge); .ci/run installs it and sets
VLDAC_REQUIRE_BENCH=1, so that there a missing package fails these tests instead of skipping them.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os

import pytest

INSTALLED = all(importlib.util.find_spec(name) for name in ("av", "pyarrow", "rouge"))
if not INSTALLED and os.environ.get("VLDAC_REQUIRE_BENCH") != "1":
    pytest.skip("the bench extra is not installed (pip install -e '.[bench]')", allow_module_level=True)

import pyarrow as pa  # noqa: E402
import pyarrow.parquet  # noqa: E402, F401

from tests import bench_datasets as fixtures  # noqa: E402
from vldac.bench.datasets.imageqa import MMBench, MMStar, mmbench_letter, mmstar_correct  # noqa: E402
from vldac.bench.datasets.visualwebbench import VisualWebBench, letter_choice, read_answer, rouge_f  # noqa: E402
from vldac.bench.datasets.video import sample_frames  # noqa: E402
from vldac.bench.datasets.vsi import VSIBench, first_word, mean_relative_accuracy  # noqa: E402
from vldac.bench.scoring import DATASET_LAYOUT, Result, summarize  # noqa: E402
from vldac.bench.suites import LAYOUTS  # noqa: E402


# --- VSI-Bench ------------------------------------------------------------------------------------

@pytest.mark.parametrize("predicted, accuracy", [
    (10, 1.0), (9.6, 1.0),  # relative error 0.04: within every threshold
    (11.7, 0.7),  # 0.17 <= 1 - t for t = 0.50 .. 0.80: seven of ten
    (14.2, 0.2),  # 0.42: t = 0.50, 0.55
    (20, 0.0), (-10, 0.0),
])
def test_mean_relative_accuracy_over_ten_thresholds(predicted, accuracy):
    assert mean_relative_accuracy(predicted, 10) == pytest.approx(accuracy)


def test_vsi_questions_prompts_and_official_answer_reading(tmp_path):
    dataset = VSIBench(fixtures.write_vsi(tmp_path / "VSI-Bench"), frames=4)
    questions = dataset.questions()
    assert [question.subtask for question in questions] == [
        "object_counting", "object_counting", "object_abs_distance", "object_rel_direction_easy",
        "object_rel_direction_medium", "object_rel_direction_hard", "route_planning"]
    assert questions[0].text == ("These are frames of a video.\nHow many chair(s) are in this room?\n"
                                 "Please answer the question using a single word or phrase.")
    assert questions[3].text == ("These are frames of a video.\nIs the lamp left or right of the bed?\nOptions:\n"
                                 "A. left\nB. right\nAnswer with the option's letter from the given choices directly.")
    assert {question.task for question in questions[3:6]} == {"object_rel_direction"}
    assert first_word("B. because it is") == "B" and first_word("3.0 meters") == "3.0"
    answers = ["4 chairs", "two", "2.9", "A.", "(B)", "c", "D"]
    scores = [result.score for result in dataset.results(questions, answers)]
    assert scores == pytest.approx([1.0, 0.0, 0.7, 1.0, 0.0, 1.0, 1.0])  # 2.9 vs 2.5: relative error 0.16
    assert [len(question.images()) for question in questions[:3]] == [4, 4, 4]
    assert [question.id for question in dataset.limited(questions, 1)] == ["1", "2", "3", "4", "5", "6"]


def test_vsi_relative_direction_is_the_mean_of_its_levels_and_overall_the_mean_of_tasks():
    results = [Result("object_rel_direction", "object_rel_direction_easy", k, 1.0) for k in range(2)]
    results += [Result("object_rel_direction", "object_rel_direction_medium", 2, 0.0),
                Result("object_rel_direction", "object_rel_direction_hard", 3, 1.0),
                Result("object_counting", "object_counting", 4, 0.5)]
    summary = summarize(results, LAYOUTS["vsi"])
    assert summary["tasks"]["object_rel_direction"]["score"] == pytest.approx(200 / 3)  # pooled would be 75
    assert summary["tasks"]["object_rel_direction"]["items"] == 4
    assert summary["overall"]["score"] == pytest.approx((200 / 3 + 50) / 2)
    assert summarize(results, DATASET_LAYOUT)["tasks"]["object_rel_direction"]["score"] == 75.0


def test_video_frames_are_spread_evenly_and_a_short_video_repeats(tmp_path):
    fixtures.write_video(tmp_path / "long.mp4", frames=40)
    fixtures.write_video(tmp_path / "short.mp4", frames=5)
    long = [int(frame.mean()) for frame in sample_frames(tmp_path / "long.mp4", 4)]
    assert long == pytest.approx([0, 78, 156, 234], abs=6)  # frames 0, 13, 26, 39 of 40
    short = [int(frame.mean()) for frame in sample_frames(tmp_path / "short.mp4", 8)]
    assert short == pytest.approx([0, 0, 6, 6, 12, 12, 18, 24], abs=4)  # linspace(0, 4, 8) rounded down
    with pytest.raises(FileNotFoundError, match="missing.mp4 is missing"):
        sample_frames(tmp_path / "missing.mp4", 4)


def test_vsi_bad_copies_are_one_sentence(tmp_path):
    folder = fixtures.write_vsi(tmp_path / "VSI-Bench")
    (folder / "scannet" / "scene0011_00.mp4").unlink()
    with pytest.raises(FileNotFoundError, match="needs the video .*scene0011_00.mp4; unzip the dataset's scannet.zip"):
        VSIBench(folder).questions()
    (folder / "test.jsonl").write_text(json.dumps({**fixtures.VSI_ROWS[0], "question_type": "object_colour"}) + "\n")
    with pytest.raises(ValueError, match="unknown type 'object_colour'"):
        VSIBench(folder).questions()
    (folder / "test.jsonl").write_text(json.dumps({**fixtures.VSI_ROWS[1], "ground_truth": "0"}) + "\n")
    with pytest.raises(ValueError, match="question 2 has the answer '0', not a positive number"):
        VSIBench(folder).questions()
    (folder / "test.jsonl").write_text(json.dumps({key: value for key, value in fixtures.VSI_ROWS[1].items()
                                                   if key != "scene_name"}) + "\n")
    with pytest.raises(ValueError, match="test.jsonl row 1 has no scene_name column"):
        VSIBench(folder).questions()
    (folder / "test.jsonl").write_text("{not json\n")
    with pytest.raises(ValueError, match="test.jsonl cannot be read"):
        VSIBench(folder).questions()


def test_undecodable_pictures_and_videos_are_one_sentence(tmp_path):
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all")
    with pytest.raises(ValueError, match="broken.mp4 cannot be decoded"):
        sample_frames(tmp_path / "broken.mp4", 4)
    from vldac.bench.datasets.question import decoded_image

    with pytest.raises(ValueError, match="image cannot be decoded"):
        decoded_image({"bytes": b"not a png", "path": None})
    with pytest.raises(ValueError, match="image is empty"):
        decoded_image({"bytes": b"", "path": None})


def test_questions_are_batched_by_their_answer_limit():
    from vldac.bench.asking import batches
    from vldac.bench.datasets.question import Question

    questions = [Question("t", "t", str(k), "", list, "", answer_tokens=tokens)
                 for k, tokens in enumerate([16, 16, 16, 512, 512, 16])]
    assert [[int(q.id) for q in batch] for batch in batches(questions, 2)] == [[0, 1], [2], [3, 4], [5]]


# --- VisualWebBench -------------------------------------------------------------------------------

def test_rouge_on_known_strings():
    assert rouge_f("rouge-1", "the cat sat", "the cat sat on the mat") == pytest.approx(0.75)  # P 1, R 3/5
    assert rouge_f("rouge-2", "the cat sat", "the cat sat on the mat") == pytest.approx(4 / 7)  # P 1, R 2/5
    assert rouge_f("rouge-l", "the mat sat", "the cat sat on the mat") == pytest.approx(0.5)  # LCS 2: P 2/3, R 2/5
    assert rouge_f("rouge-1", "the mat sat", "the cat sat on the mat") == pytest.approx(0.75)
    assert rouge_f("rouge-l", "Hello, World!", "hello world") == 0.0  # no lower-casing, punctuation kept
    assert rouge_f("rouge-l", "...", "hello world") == 0.0 and rouge_f("rouge-l", "", "hello") == 0.0


@pytest.mark.parametrize("answer, choice", [
    ("B", 1), ("b", 1), ("C. because it is the cart", 2), ("(A) or rather (B)", 1), ("I choose D", 3),
    ("none of them", -1), ("", -1), ("Z", -1),
])
def test_letter_choice_reads_as_the_official_parser(answer, choice):
    assert letter_choice(answer) == choice


def test_visualwebbench_questions_and_scores(tmp_path):
    dataset = VisualWebBench(fixtures.write_visualwebbench(tmp_path / "VisualWebBench"))
    questions = {question.task: question for question in dataset.questions()}
    assert list(questions) == ["web_caption", "heading_ocr", "webqa", "element_ocr", "element_ground",
                               "action_prediction", "action_ground"]
    assert "bounding box is [0.2, 0.39, 0.8, 0.41].\n" in questions["element_ocr"].text
    assert "bounding box:\n['Your cart', 'Home page']\n" in questions["action_prediction"].text
    assert questions["webqa"].text.startswith("What is the price of the red rose?\nYou should directly")
    assert questions["web_caption"].answer_tokens == questions["action_ground"].answer_tokens == 512  # official
    assert questions["web_caption"].images()[0].shape == (24, 24, 3)
    assert read_answer("web_caption", '<meta name="description" content="Fresh flowers">') == "Fresh flowers"
    assert read_answer("element_ocr", "The text content within the red bounding box is: Sign in") == "Sign in"
    score = dataset.score
    assert score(questions["web_caption"], '<meta name="description" content="Fresh flowers delivered">') == \
        pytest.approx(2 * 0.5 / 1.5)  # ROUGE-L: LCS 3 of 3 answered, of 6 gold words
    assert score(questions["webqa"], "5 dollars") == pytest.approx(1.0)  # the best of the gold answers
    assert score(questions["element_ocr"], "The text content within the red bounding box is: Sign in") == \
        pytest.approx(2 * (2 / 5) / (1 + 2 / 5))
    assert score(questions["element_ground"], "B") == 1.0 and score(questions["action_prediction"], "B") == 0.0
    ocr_gold_a = dataclasses.replace(questions["element_ocr"], gold="A")
    assert score(ocr_gold_a, "A") == 0.0  # a one-character reading scores nothing, as officially
    assert score(ocr_gold_a, "The text content within the red bounding box is: A") == 0.0
    assert len([question for question in dataset.questions() if question.task == "webqa"]) == 1  # no-gold one out


def test_a_missing_visualwebbench_task_is_named_and_left_out(tmp_path, capsys):
    import shutil

    folder = fixtures.write_visualwebbench(tmp_path / "VisualWebBench")
    shutil.rmtree(folder / "action_ground")
    tasks = {question.task for question in VisualWebBench(folder).questions()}
    assert len(tasks) == 6 and "action_ground" not in tasks
    assert "action_ground/test-*.parquet not found: action_ground left out" in capsys.readouterr().err


# --- MMStar and MMBench ---------------------------------------------------------------------------

@pytest.mark.parametrize("answer, right", [
    ("B", True), ("(b) grey", True), ("Option B", True), ("The answer is B.", True), ("b", True),
    ("because it is grey", True),  # the official rule's quirk: it starts with the letter
    ("Answer: B", False), ("C", False), ("", False),
])
def test_mmstar_reads_answers_as_its_official_rule(answer, right):
    assert mmstar_correct(answer, "B") is right


OPTIONS = {"A": "grey", "B": "red", "C": "blue", "D": "green"}


@pytest.mark.parametrize("answer, letter", [
    ("A", "A"), ("The answer is (B).", "B"), ("C: blue", "C"), ("It is green", "D"),
    ("B or C", None), ("Cannot determine the answer", "Z"), ("no idea", None), ("Z", "Z"),
])
def test_mmbench_exact_matching(answer, letter):
    assert mmbench_letter(answer, OPTIONS) == letter


def test_mmbench_circular_eval_on_a_rotated_set(tmp_path):
    dataset = MMBench(fixtures.write_mmbench(tmp_path / "MMBench"))
    questions = dataset.questions()
    assert sorted(int(question.id) for question in questions) == [7, 8, 9, 1000007, 1000008, 1000009, 2000007,
                                                                   2000008, 3000007]
    first = next(question for question in questions if question.id == "7")
    assert first.text == ("What is the colour of the square?\nA. grey\nB. red\nC. blue\nD. green\n"
                          "Answer with the option's letter from the given choices directly.")
    right = {question.id: question.gold["answer"] for question in questions}
    answers = [right[question.id] if question.id != "2000008" else "A" for question in questions]
    results = {result.key: result for result in dataset.results(questions, answers)}
    assert set(results) == {7, 8, 9} and results[7].score == 1.0 and results[8].score == 0.0  # one rotation wrong
    assert results[8].subgroup == "object_localization" and results[9].score == 1.0
    assert summarize(list(results.values()), DATASET_LAYOUT)["tasks"]["MMBench"]["score"] == pytest.approx(200 / 3)
    kept = dataset.limited(questions, 1)  # the first question of each category, with every rotation of it
    assert sorted(int(question.id) for question in kept) == [7, 8, 1000007, 1000008, 2000007, 2000008, 3000007]


def test_mmstar_questions(tmp_path):
    dataset = MMStar(fixtures.write_mmstar(tmp_path / "MMStar"))
    questions = dataset.questions()
    assert [question.subtask for question in questions] == ["coarse perception", "fine-grained perception", "math"]
    assert questions[0].text.endswith("D: green\nAnswer with the option's letter from the given choices directly")
    assert [result.score for result in dataset.results(questions, ["B", "(a)", "the answer is B"])] == [1.0, 0.0, 1.0]
    with pytest.raises(FileNotFoundError, match="holds no mmstar.parquet"):
        MMStar(tmp_path).questions()
    table = pa.parquet.read_table(tmp_path / "MMStar" / "mmstar.parquet").drop_columns(["answer"])
    pa.parquet.write_table(table, tmp_path / "MMStar" / "mmstar.parquet")
    with pytest.raises(ValueError, match="mmstar.parquet row 1 has no answer column"):
        dataset.questions()


# --- the command ----------------------------------------------------------------------------------

def test_bench_all_runs_every_suite_and_compares(tmp_path, capsys):
    from vldac.cli import main

    data = fixtures.write_all(tmp_path / "data")
    out = tmp_path / "bench.json"
    assert main(["bench", "all", "builtin:tiny-numberline", "--compare", "builtin:tiny-blackjack", "--data", str(data),
                 "--environments", "babyai", "--episodes", "1", "--max-steps", "2", "--max-new-tokens", "6",
                 "--frames", "4", "--json", str(out)]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out.splitlines()[-1])
    assert json.loads(out.read_text()) == report and report["suite"] == "all"
    assert list(report["suites"]) == ["balrog", "vsi", "visualwebbench", "imageqa"]
    vsi = report["suites"]["vsi"]
    assert list(vsi["tasks"]) == ["object_counting", "object_abs_distance", "object_rel_direction", "route_planning"]
    assert vsi["tasks"]["object_counting"]["items"] == 1  # --episodes 1: the first question of each subtask
    assert vsi["tasks"]["object_rel_direction"]["items"] == 3 and set(vsi["overall"]) == {"score", "stderr"}
    assert set(vsi["difference"]["tasks"]) == set(vsi["tasks"])
    assert len(report["suites"]["visualwebbench"]["tasks"]) == 7
    imageqa = report["suites"]["imageqa"]["tasks"]
    assert imageqa["MMStar"]["items"] == 3 and imageqa["MMBench"]["items"] == 2  # the first circular group per category
    assert "bench imageqa: MMBench" not in captured.err
    for table in ("vsi: builtin:tiny-numberline (base: builtin:tiny-blackjack)", "imageqa: builtin:tiny-numberline"):
        assert any(line.startswith(table) for line in captured.out.splitlines())
    block = report["provenance"]  # what produced the scores: the flags, the games and datasets, the libraries
    assert block["settings"]["compare"] == "builtin:tiny-blackjack" and block["settings"]["episodes"] == 1
    assert block["seeds"] == {"episode_seeds_from": 0, "episodes_per_task": 1}
    assert {"balrog/babyai", "vsi/VSI-Bench", "imageqa/MMStar"} <= {world["id"] for world in block["worlds"]}
    assert block["versions"]["torch"] and block["machine"]["cpu"]["flags"]


def test_a_dataset_suite_runs_what_its_data_holds(tmp_path, capsys):
    from vldac.cli import main

    data = tmp_path / "data"
    fixtures.write_mmstar(data / "MMStar")
    assert main(["bench", "imageqa", "builtin:tiny-numberline", "--data", str(data), "--max-new-tokens", "4"]) == 0
    captured = capsys.readouterr()
    assert list(json.loads(captured.out.splitlines()[-1])["tasks"]) == ["MMStar"]
    assert "bench imageqa: MMBench (expected" in captured.err and "not found: left out" in captured.err


@pytest.mark.parametrize("argv, message", [
    (["bench", "vsi", "builtin:tiny-numberline"], "give --data DIR"),
    (["bench", "all", "builtin:tiny-numberline"], "suite 'all' asks the dataset suites too"),
    (["bench", "vsi", "builtin:tiny-numberline", "--data", "/nowhere"], "--data /nowhere is not a folder"),
    (["bench", "visualwebbench", "builtin:tiny-numberline", "--data", "{empty}"], "no copy of VisualWebBench"),
    (["bench", "vsi", "builtin:tiny-numberline", "--data", "{vsi}", "--frames", "0"], "--frames 0 does not work: it must be at least 1."),
    (["bench", "vsi", "/nowhere/model", "--data", "{vsi}"], "/nowhere/model"),
    (["bench", "vsi", "builtin:tiny-numberline", "--data", "{empty_vsi}"], "holds no VSI-Bench questions"),
    (["bench", "vsi", "builtin:tiny-numberline", "--data", "{vsi}", "--token-budget", "4090",
      "--max-new-tokens", "16"], "--token-budget 4090 with 16 answer tokens exceeds"),
])
def test_dataset_bad_input_is_one_sentence(argv, message, tmp_path, capsys):
    from vldac.cli import main

    (tmp_path / "empty").mkdir()
    fixtures.write_vsi(tmp_path / "vsi")
    (fixtures.write_vsi(tmp_path / "empty_vsi") / "test.jsonl").write_text("")
    argv = [arg.format(empty=tmp_path / "empty", vsi=tmp_path / "vsi", empty_vsi=tmp_path / "empty_vsi") for arg in argv]
    assert main(argv) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("vldac bench: ") and message in error
