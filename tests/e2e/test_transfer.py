"""Transfer evaluation during training (train.bench_every): the scores in the metrics rows and the
report, the warm start kept, the costs in summary.json, and exact resume with it on."""

from __future__ import annotations

import json

import pytest

from tests.helpers import killed_after_third_checkpoint, tiny_overrides, vldac, vldac_here, without_timing

BENCH = ["train.bench_every=2", "train.bench.suite=cards", "train.bench.environments=[numberline,blackjack]",
         "train.bench.episodes=2", "generation.max_new_tokens=8"]


@pytest.mark.slow  # a training that plays the benchmark three times (about 9 s idle): .ci/run's slow run
def test_a_run_with_a_transfer_benchmark_logs_scores_keeps_the_warm_start_and_states_costs(tiny_qwen2vl_dir, tmp_path):
    code, stderr = vldac_here(tmp_path, "train", *tiny_overrides(tiny_qwen2vl_dir, 40), *BENCH, "name=bench")
    assert code == 0, stderr
    run = tmp_path / "runs" / "bench"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    keys = ["bench/cards/numberline", "bench/cards/numberline_stderr", "bench/cards/blackjack",
            "bench/cards/blackjack_stderr"]
    assert [row["update"] for row in rows if set(keys) <= set(row)] == [2, 4, 5]  # every 2 updates and the end
    assert all(0 <= row[key] <= 100 for row in rows for key in keys if key in row)
    warm = json.loads((run / "bench_warm_start.json").read_text())
    assert set(warm["scores"]) == set(keys)
    assert sorted((result["group"], result["key"]) for result in warm["results"]) == [
        ("blackjack", 1_000_000), ("blackjack", 1_000_001), ("numberline", 1_000_000), ("numberline", 1_000_001)]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["env_steps"] == 40 and summary["cpu_seconds"] > 0 and summary["gpu_seconds"] == 0
    for key in ("bench/cards/numberline", "bench/cards/blackjack"):
        change = summary["transfer"][key]
        assert set(change) == {"difference", "stderr", "per_1000_env_steps", "per_device_hour"}
        assert change["per_1000_env_steps"] == pytest.approx(change["difference"] / 0.04)
        assert change["per_device_hour"] == pytest.approx(change["difference"] / (summary["cpu_seconds"] / 3600))
    page = (run / "report.html").read_text()
    assert "id='curve-bench-cards-numberline'" in page and "id='curve-bench-cards-blackjack'" in page


def test_an_unplayable_benchmark_is_one_sentence_before_the_run_folder(tiny_qwen2vl_dir, tmp_path):
    code, stderr = vldac_here(tmp_path, "train", *tiny_overrides(tiny_qwen2vl_dir, 16), "train.bench_every=1",
                              "train.bench.environments=[chess]")
    assert code == 2 and "cards has no world 'chess'; use some of numberline, ezpoints, points24, blackjack." in stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_a_killed_and_resumed_run_with_a_transfer_benchmark_equals_the_uninterrupted_one(tiny_qwen2vl_dir, tmp_path):
    overrides = [*tiny_overrides(tiny_qwen2vl_dir, 48), *BENCH]
    vldac("train", *overrides, "name=whole", cwd=tmp_path)
    killed = killed_after_third_checkpoint(overrides, tmp_path)
    vldac("train", "--resume", str(killed), cwd=tmp_path)
    rows = {name: [without_timing(json.loads(line)) for line in (tmp_path / "runs" / name / "metrics.jsonl").read_text().splitlines()]
            for name in ("whole", "killed")}
    assert [row["update"] for row in rows["whole"] if "bench/cards/numberline" in row] == [2, 4, 6]
    assert rows["killed"] == rows["whole"]
    whole, killed_summary = (json.loads((tmp_path / "runs" / name / "summary.json").read_text()) for name in ("whole", "killed"))
    assert {key: change["difference"] for key, change in whole["transfer"].items()} == {
        key: change["difference"] for key, change in killed_summary["transfer"].items()}
