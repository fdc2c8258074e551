"""Checkpoints that prove themselves: damage is named, resumes fall back to the newest intact one."""

from __future__ import annotations

import errno
import json
import shutil

import pytest
import torch

from tests.helpers import copy_run, lora_policy, tiny_overrides, vldac, vldac_here
from vldac import cli
from vldac.config import PlaySettings
from vldac.models.manifest import write_manifest
from vldac.train.checkpoints import CheckpointNotWritten, load_checkpoint, newest_intact_checkpoint, save_checkpoint


def saved_run(folder, tmp_path, updates: int = 3, keep: int | None = None):
    policy = lora_policy(folder)
    optimizer = torch.optim.AdamW(policy.scorer.parameters())
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    for update in range(1, updates + 1):
        save_checkpoint(policy, optimizer, {"progress": {"update": update}}, checkpoints, f"update_{update:05d}", PlaySettings(), {}, keep=keep)
    return policy, optimizer, checkpoints


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def garble(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte changed
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(("damage", "file", "problem"), [
    (truncate, "adapter_model.safetensors", "bytes where"),
    (garble, "optimizer.pt", "does not match the checksum"),
    (garble, "value_head.safetensors", "does not match the checksum"),
    (lambda path: path.unlink(), "trainer_state.json", "is missing"),
])
def test_a_damaged_last_checkpoint_is_named_and_the_newest_intact_one_used(
    tiny_qwen2vl_dir, tmp_path, capsys, damage, file, problem
):
    policy, optimizer, checkpoints = saved_run(tiny_qwen2vl_dir, tmp_path)
    damage(checkpoints / "update_00003" / file)
    with pytest.raises(FileNotFoundError, match=f"update_00003 is damaged: .*{file}.*{problem}"):
        load_checkpoint(policy, optimizer, checkpoints / "last")
    chosen = newest_intact_checkpoint(checkpoints)
    assert chosen.name == "update_00002"
    message = capsys.readouterr().err
    assert "Resuming from update_00002" in message and file in message and problem in message
    assert load_checkpoint(policy, optimizer, chosen)["progress"] == {"update": 2}


def test_last_pointing_at_a_deleted_folder_falls_back_to_older_checkpoints(tiny_qwen2vl_dir, tmp_path, capsys):
    _, _, checkpoints = saved_run(tiny_qwen2vl_dir, tmp_path)
    shutil.rmtree(checkpoints / "update_00003")
    assert newest_intact_checkpoint(checkpoints).name == "update_00002"
    assert "update_00003 is missing" in capsys.readouterr().err


def test_no_intact_checkpoint_is_one_sentence(tiny_qwen2vl_dir, tmp_path):
    _, _, checkpoints = saved_run(tiny_qwen2vl_dir, tmp_path, updates=2)
    for name in ("update_00001", "update_00002"):
        truncate(checkpoints / name / "adapter_model.safetensors")
    with pytest.raises(FileNotFoundError, match=r"^No intact checkpoint in .*start the run again\.$"):
        newest_intact_checkpoint(checkpoints)


def test_a_checkpoint_without_its_manifest_is_unverified_and_not_resumed_unless_accepted(tiny_qwen2vl_dir, tmp_path, capsys):
    _, _, checkpoints = saved_run(tiny_qwen2vl_dir, tmp_path)
    (checkpoints / "update_00003" / "manifest.json").unlink()
    garble(checkpoints / "update_00003" / "value_head.safetensors")  # unverifiable, so never resumed silently
    assert newest_intact_checkpoint(checkpoints).name == "update_00002"
    assert "update_00003 has no manifest.json, so its files cannot be verified" in capsys.readouterr().err
    assert newest_intact_checkpoint(checkpoints, accept_unverified=True).name == "update_00003"


def test_an_unreadable_file_with_a_rewritten_manifest_is_named_and_skipped(tiny_qwen2vl_dir, tmp_path, capsys):
    _, _, checkpoints = saved_run(tiny_qwen2vl_dir, tmp_path)
    (checkpoints / "update_00003" / "adapter_model.safetensors").write_bytes(b"")
    write_manifest(checkpoints / "update_00003")  # the manifest agrees with the empty file
    assert newest_intact_checkpoint(checkpoints).name == "update_00002"
    assert "adapter_model.safetensors cannot be read" in capsys.readouterr().err


def test_eval_of_an_empty_adapter_under_a_rewritten_manifest_is_one_sentence(tiny_qwen2vl_dir, tmp_path, capsys):
    _, _, checkpoints = saved_run(tiny_qwen2vl_dir, tmp_path, updates=1)
    (checkpoints / "update_00001" / "adapter_model.safetensors").write_bytes(b"")
    write_manifest(checkpoints / "update_00001")
    assert cli.main(["eval", str(checkpoints / "update_00001"), "--env", "vldac/NumberLine-v0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "is damaged" in err and "adapter_model.safetensors cannot be read" in err and "Traceback" not in err


def test_last_replaced_by_a_regular_file_is_named_and_the_newest_checkpoint_used(tiny_qwen2vl_dir, tmp_path, capsys):
    _, _, checkpoints = saved_run(tiny_qwen2vl_dir, tmp_path)
    (checkpoints / "last").unlink()
    (checkpoints / "last").write_text("update_00003")
    assert newest_intact_checkpoint(checkpoints).name == "update_00003"
    assert "last is not a link to a checkpoint" in capsys.readouterr().err
    assert cli.main(["eval", str(checkpoints / "last"), "--env", "vldac/NumberLine-v0"]) == 2
    assert "is a file, not a model folder" in capsys.readouterr().err


def test_eval_warns_that_a_checkpoint_without_its_manifest_is_unverified(tiny_qwen2vl_dir, tmp_path, capsys):
    _, _, checkpoints = saved_run(tiny_qwen2vl_dir, tmp_path, updates=1)
    (checkpoints / "update_00001" / "manifest.json").unlink()
    assert cli.main(["eval", str(checkpoints / "update_00001"), "--env", "vldac/NumberLine-v0", "--episodes", "1",
                     "--max-new-tokens", "2"]) == 0
    assert "has no manifest.json, so its files cannot be verified" in capsys.readouterr().err


def test_a_full_disk_is_one_sentence_and_the_previous_checkpoint_stays(tiny_qwen2vl_dir, tmp_path, monkeypatch):
    policy, optimizer, checkpoints = saved_run(tiny_qwen2vl_dir, tmp_path, updates=1)

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointNotWritten, match=r"^Could not write checkpoint update_00002 in .*No space left on device; "
                                                   r"[\d,]+ MiB free there\); checkpoints/last still points at the previous"):
        save_checkpoint(policy, optimizer, {"progress": {"update": 2}}, checkpoints, "update_00002", PlaySettings(), {})
    assert sorted(p.name for p in checkpoints.iterdir()) == ["last", "update_00001"]
    assert newest_intact_checkpoint(checkpoints).name == "update_00001"


def test_only_the_newest_checkpoints_are_kept(tiny_qwen2vl_dir, tmp_path):
    _, _, checkpoints = saved_run(tiny_qwen2vl_dir, tmp_path, updates=5, keep=2)
    assert sorted(p.name for p in checkpoints.iterdir()) == ["last", "update_00004", "update_00005"]
    assert (checkpoints / "last").resolve().name == "update_00005"


def test_eval_of_a_damaged_checkpoint_is_one_sentence(tiny_qwen2vl_dir, tmp_path, capsys):
    _, _, checkpoints = saved_run(tiny_qwen2vl_dir, tmp_path, updates=1)
    garble(checkpoints / "update_00001" / "adapter_model.safetensors")
    assert cli.main(["eval", str(checkpoints / "last"), "--env", "vldac/NumberLine-v0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "is damaged" in err and "adapter_model.safetensors does not match the checksum" in err


def test_resume_continues_from_the_newest_intact_checkpoint(trained_run, tmp_path):
    run = copy_run(trained_run[0], tmp_path, "damaged")
    assert sorted(p.name for p in (run / "checkpoints").glob("update_*")) == ["update_00004", "update_00005", "update_00006"]
    truncate(run / "checkpoints" / "update_00006" / "optimizer.pt")
    code, stderr = vldac_here(tmp_path, "train", "--resume", str(run))
    assert code == 0 and "Resuming from update_00005" in stderr and "optimizer.pt has" in stderr
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["update"] for row in rows] == list(range(1, 7))


@pytest.mark.slow  # two short trainings: .ci/run runs it after the default suite
def test_resume_before_the_first_checkpoint_starts_the_run_again_in_its_folder(tiny_qwen2vl_dir, tmp_path):
    vldac("train", *tiny_overrides(tiny_qwen2vl_dir, 8), "train.eval_every=0", "name=early", cwd=tmp_path)
    run = tmp_path / "runs" / "early"
    first = (run / "metrics.jsonl").read_text()
    shutil.rmtree(run / "checkpoints")  # as if killed before its first checkpoint was written,
    (run / "summary.json").unlink()  # so before its end too
    (run / "metrics.jsonl").write_text('{"update": 1, "env_steps": 8}\n')  # a row it had logged
    result = vldac("train", "--resume", str(run), cwd=tmp_path)
    assert "stopped before its first checkpoint: starting it again" in result.stderr
    assert sorted(p.name for p in tmp_path.joinpath("runs").iterdir()) == ["early"]
    again = (run / "metrics.jsonl").read_text()
    drop = ("seconds", "elapsed", "env_steps_per_s", "tokens_per_s")
    rows = [[{k: v for k, v in json.loads(line).items() if k not in drop} for line in text.splitlines()] for text in (first, again)]
    assert rows[0] == rows[1]  # the same run as the first start: nothing of the killed one kept


def test_an_unparsable_model_config_is_one_sentence_and_leaves_no_run(tiny_qwen2vl_dir, tmp_path, capsys, monkeypatch):
    broken = tmp_path / "model"
    shutil.copytree(tiny_qwen2vl_dir, broken)
    (broken / "config.json").write_text('{"model_type": "qwen2_vl", ')
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", f"model.path={broken}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("vldac train: ") and "config.json" in err and "Traceback" not in err, err
    assert not (tmp_path / "runs").exists()


def test_a_run_with_no_checkpoint_left_but_a_stray_last_is_not_silently_restarted(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    assert newest_intact_checkpoint(checkpoints) is None  # stopped before its first checkpoint
    (checkpoints / "last").write_text("update_00003")
    with pytest.raises(FileNotFoundError, match="last is not a link to a checkpoint"):
        newest_intact_checkpoint(checkpoints)
    (checkpoints / "last").unlink()
    (tmp_path / "summary.json").write_text("{}")  # a finished run whose checkpoints are gone
    with pytest.raises(FileNotFoundError, match="No intact checkpoint"):
        newest_intact_checkpoint(checkpoints)
