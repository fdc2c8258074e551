"""The run report: trajectories saved by the trainer, report.html self-contained and rendered in
headless Chromium, W&B logging offline."""

from __future__ import annotations

import base64
import importlib.metadata
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from PIL import Image

import vldac as vldac_package

from tests.helpers import FRAME_SIZE, vldac_here
from vldac import __version__ as vldac_version
from vldac import cli
from vldac.provenance import settings_hash
from vldac.report import CURVES, write_report
from vldac.train.run_log import check_wandb
from vldac.train.trajectories import TrajectoryLog

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def test_the_trainer_saves_each_checkpointed_update_s_trajectories(trained_run):
    run, _ = trained_run
    paths = sorted((run / "trajectories").glob("update_*.json"))
    assert [path.name for path in paths] == [f"update_{n:05d}.json" for n in range(1, 7)]
    document = json.loads(paths[-1].read_text())
    assert document["update"] == 6 and document["env_steps"] == 48
    assert [episode["env"] for episode in document["episodes"]] == [0, 1]
    for episode in document["episodes"]:
        assert len(episode["steps"]) == 2
        for step in episode["steps"]:
            assert {"answer", "thoughts", "action", "invalid", "reward", "value", "observation"} <= set(step)
            assert step["invalid"] == (step["action"] is None)
            assert step["error"] is None if not step["invalid"] else step["error"]
            frame = Image.open(io.BytesIO(base64.b64decode(document["images"][step["frames"][0]])))
            assert frame.size == (FRAME_SIZE, FRAME_SIZE)


def test_train_writes_a_self_contained_report_and_says_where(trained_run):
    run, stderr = trained_run
    report = run / "report.html"
    assert f"report:             {report.resolve()}" in stderr
    page = report.read_text()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    logged = {metric for metric, _ in CURVES if any(isinstance(row.get(metric), (int, float)) for row in rows)}
    assert {"greedy_success_rate", "policy_loss", "value_loss", "kl", "clip_fraction", "explained_variance",
            "env_steps_per_s"} <= logged
    assert {metric for metric, _ in CURVES if f"id='curve-{metric}'" in page} == logged
    if "success_rate" not in logged:
        assert "no number logged yet: success_rate" in page
    assert page.count("class='trajectory-frame'") >= 2 * 2 * 4
    external = re.findall(r"""(?:src|href)=["'](?!data:)([^"']+)""", page)
    assert external == ["https://arxiv.org/abs/2508.04280"], external
    assert "<script" not in page and "<link" not in page


def test_report_renders_in_headless_chromium_without_console_errors(trained_run, tmp_path):
    if not Path(CHROMIUM).exists():
        if os.environ.get("VLDAC_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    try:
        from playwright import sync_api as playwright
    except ImportError:
        if os.environ.get("VLDAC_REQUIRE_BROWSER"):
            pytest.fail("playwright is missing: pip install -e '.[test]'")
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    run, _ = trained_run
    errors, requests = [], []
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda request: requests.append(request.url))
        page.goto((run / "report.html").resolve().as_uri())
        page.wait_for_load_state("load")
        for metric in ("greedy_success_rate", "policy_loss", "kl"):
            width = page.eval_on_selector(f"#curve-{metric} img", "image => image.complete && image.naturalWidth")
            assert width > 100
        frames = page.query_selector_all("img.trajectory-frame")
        assert frames and frames[-1].is_visible()
        assert frames[-1].evaluate("image => image.complete && image.naturalWidth") == FRAME_SIZE
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert errors == []
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    assert Image.open(tmp_path / "report.png").size[0] == 1280


def test_wandb_receives_the_metrics_offline_under_the_run_folder_s_own_id(trained_run):
    run, _ = trained_run
    run_id = (run / "wandb_run_id").read_text()
    offline = list((run / "wandb").glob(f"offline-run-*-{run_id}/run-{run_id}.wandb"))
    assert len(offline) == 1
    logged = offline[0].read_bytes()  # protobuf records keep each metric's key as text
    for metric in ("policy_loss", "value_loss", "kl", "env_steps_per_s", "greedy_success_rate"):
        assert metric.encode() in logged, metric


def test_wandb_asked_for_without_the_package_is_one_sentence(monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(ValueError, match=r"train.wandb=true needs the wandb package: pip install 'vldac\[wandb\]'"):
        check_wandb()


def test_report_of_a_stopped_run_with_a_cut_line_and_nulls(tmp_path):
    rows = [{"update": 1, "env_steps": 8, "success_rate": None, "policy_loss": None, "kl": 0.01},
            {"update": 2, "env_steps": 16, "success_rate": 0.5, "policy_loss": 0.2, "kl": 0.02}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows) + '{"update": 3, "env')
    page = write_report(tmp_path).read_text()
    assert "id='curve-success_rate'" in page and "id='curve-kl'" in page
    assert "id='curve-greedy_success_rate'" not in page
    assert "the run is still going or was stopped" in page
    assert "1 line(s) of metrics.jsonl could not be read" in page
    assert "None saved" in page


def test_a_damaged_trajectory_file_is_left_out_with_a_note(tmp_path):
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"update": 1, "env_steps": 1, "kl": 0.0}) + "\n")
    (tmp_path / "trajectories").mkdir()
    (tmp_path / "trajectories" / "update_00001.json").write_text('{"update": 1, "env_st')
    (tmp_path / "trajectories" / "update_00002.json").write_text('{"update": "<b>2</b>", "env_steps": 1, "images": [], "episodes": []}')
    (tmp_path / "summary.json").write_text("{not json")
    page = write_report(tmp_path).read_text()
    assert "update_00001.json is unreadable and was left out" in page
    assert "update_00002.json is unreadable and was left out" in page and "<b>2</b>" not in page
    assert "no readable summary.json" in page


def test_report_escapes_model_text(tmp_path):
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"update": 1, "env_steps": 1, "kl": 0.0}) + "\n")
    (tmp_path / "trajectories").mkdir()
    step = {"frames": [], "observation": "<b>obs</b>", "answer": "<script>alert(1)</script>", "thoughts": "<img src=x>",
            "action": None, "invalid": True, "error": "no JSON object", "cut_off": False, "reward": -1.0, "value": None,
            "terminated": False, "truncated": False}
    document = {"update": 1, "env_steps": 1, "images": [], "episodes": [{"env": 0, "steps": [step]}]}
    (tmp_path / "trajectories" / "update_00001.json").write_text(json.dumps(document))
    page = write_report(tmp_path).read_text()
    assert "<script>" not in page and "<img src=x>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "is-invalid" in page


def test_report_of_a_folder_without_metrics_is_one_sentence(tmp_path):
    code, stderr = vldac_here(tmp_path, "report", str(tmp_path))
    assert code == 2
    assert stderr.strip() == (f"vldac report: {tmp_path} has no metrics.jsonl; vldac report takes a run folder "
                              "written by vldac train.")
    assert not (tmp_path / "report.html").exists()


def test_report_output_must_name_a_file_in_an_existing_folder(tmp_path):
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"update": 1, "env_steps": 1, "kl": 0.0}) + "\n")
    for output in (f"{tmp_path / 'new'}/", str(tmp_path), str(tmp_path / "missing" / "report.html")):
        code, stderr = vldac_here(tmp_path, "report", str(tmp_path), "--output", output)
        assert code == 2 and "must name a file in an existing folder" in stderr, output
    assert not (tmp_path / "new").exists() and not (tmp_path / "report.html").exists()


def test_a_resumed_run_drops_the_trajectories_after_its_checkpoint(tmp_path):
    folder = tmp_path / "trajectories"
    folder.mkdir()
    for update in (5, 10, 15):
        (folder / f"update_{update:05d}.json").write_text("{}")
    TrajectoryLog(tmp_path, 2, resume_after=10)
    assert sorted(path.name for path in folder.iterdir()) == ["update_00005.json", "update_00010.json"]


NOT_CURVES = {"update", "env_steps", "episodes_completed", "total_episodes", "nonfinite_rewards", "world_restarts",
              "skipped_steps", "value_only", "seconds", "elapsed", "image_kl_stderr"}
"""Numbers in metrics.jsonl that are counters or bookkeeping, shown in the summary instead of as curves
(image_kl_stderr: the band around image_kl's curve)."""


def test_every_number_the_trainer_logs_has_a_curve(trained_run):
    run, _ = trained_run
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    logged = {key for row in rows for key, value in row.items() if isinstance(value, (int, float)) or value is None}
    assert logged - NOT_CURVES == {metric for metric, _ in CURVES}


def test_a_checkpoint_s_provenance_names_what_produced_it(trained_run):
    run, _ = trained_run
    last = run / "checkpoints" / "last"
    block = json.loads((last / "provenance.json").read_text())
    settings = yaml.safe_load((run / "config.yaml").read_text())
    assert block["settings"] == settings and block["settings_sha256"] == settings_hash(settings)
    assert block["vldac"]["version"] == vldac_version
    commit = subprocess.run(["git", "-C", str(Path(vldac_package.__file__).parent), "rev-parse", "HEAD"],
                            capture_output=True, text=True)
    assert block["vldac"]["commit"] == (commit.stdout.strip() if commit.returncode == 0 else None)
    assert block["python"] == platform.python_version()
    versions = block["versions"]
    for name in ("torch", "transformers", "peft", "accelerate", "gymnasium"):
        assert versions[name] == importlib.metadata.version(name)
    assert {"miniworld", "alfworld", "textworld", "nle"} <= set(versions)
    assert block["seeds"]["seed"] == settings["seed"] and block["seeds"]["training_episode_seeds"] == [0, 1_000_000]
    assert block["worlds"] == [{"id": "vldac/NumberLine-v0", "kwargs": settings["env"]["kwargs"]}]
    machine = block["machine"]
    assert isinstance(machine["cpu"]["model"], str) and isinstance(machine["cpu"]["flags"], list)
    assert block["recipe_sha256"] == settings_hash({k: v for k, v in settings.items() if k not in ("seed", "name", "output_dir")})
    assert block["resumed_from"] is None
    assert machine["torch_threads"] == 1 and machine["cpu_count"] == os.cpu_count() and machine["gpus"] == []
    manifest = json.loads((last / "manifest.json").read_text())
    assert "provenance.json" in json.dumps(manifest)


def test_the_report_shows_the_provenance(trained_run):
    run, _ = trained_run
    page = (run / "report.html").read_text()
    block = json.loads((run / "checkpoints" / "last" / "provenance.json").read_text())
    section = page[page.index("id='provenance'"):]
    assert block["settings_sha256"] in section and f"torch {block['versions']['torch']}" in section
    assert block["machine"]["cpu"]["model"] in section


def test_eval_of_several_checkpoints_gives_their_mean_and_standard_error_with_provenance(trained_run, capsys):
    run, _ = trained_run
    checkpoints = sorted((run / "checkpoints").glob("update_*"))[-2:]
    assert cli.main(["eval", *map(str, checkpoints), "--env", "vldac/NumberLine-v0", "--episodes", "6", "--sample",
                     "--num-envs", "6"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert [run_result["model"] for run_result in line["runs"]] == list(map(str, checkpoints))
    rates = [run_result["success_rate"] for run_result in line["runs"]]
    assert line["success_rate"] == pytest.approx(sum(rates) / 2)
    assert line["success_stderr"] == pytest.approx(abs(rates[0] - rates[1]) / 2)
    assert line["runs_count"] == 2 and line["episodes"] == 6
    block = line["provenance"]
    assert block["settings"]["models"] == list(map(str, checkpoints)) and block["seeds"]["episode_seeds"] == [1_000_000, 1_000_006]
    trained = json.loads((checkpoints[0] / "provenance.json").read_text())["settings_sha256"]
    assert line["runs"][0]["trained_with_settings_sha256"] == trained


def write_run(folder: Path, seed: int, greedy: list[float], lr: float = 1e-3) -> Path:
    """A run folder with a config and metrics rows (one per greedy value), as the trainer writes them."""
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump({"name": folder.name, "seed": seed, "optim": {"lr": lr}}))
    rows = [{"update": i + 1, "env_steps": 8 * (i + 1), "success_rate": value / 2, "greedy_success_rate": value,
             "elapsed": 10.0 * (i + 1)} for i, value in enumerate(greedy)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return folder


def test_report_of_several_seeds_gives_their_mean_and_standard_error(tmp_path, capsys):
    runs = [write_run(tmp_path / "a", 0, [0.2, 0.5]), write_run(tmp_path / "b", 1, [0.3, 0.7]),
            write_run(tmp_path / "c", 2, [0.1, 0.9])]
    assert cli.main(["report", *map(str, runs)]) == 0
    written = Path(capsys.readouterr().out.strip())
    page = written.read_text()
    assert written == tmp_path / "seeds_report.html"
    # last greedy 0.5, 0.7, 0.9: mean 0.7, sample s.d. 0.2, standard error 0.2 / sqrt(3) = 0.115
    assert "<th>mean &plusmn; s.e.</th><td>3 runs</td><td>0.700 &plusmn; 0.115</td>" in page
    assert "id='curve-greedy_success_rate'" in page and "differ" not in page
    other = write_run(tmp_path / "d", 3, [0.4], lr=1e-4)
    assert cli.main(["report", str(runs[0]), str(other)]) == 0
    page = Path(capsys.readouterr().out.strip()).read_text()
    assert "Settings other than the seed differ from a's in: d" in page
