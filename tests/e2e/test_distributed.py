"""Many processes on one CPU machine (torchrun, gloo): one update over two ranks equals one
process given all the steps, and a two-rank run counts both ranks' steps and resumes exactly
after a kill -9 of its whole process group."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.distributed_update import run_cases
from tests.helpers import killed_after_third_checkpoint, tiny_overrides, vldac_here, without_timing
from vldac.train.distributed import Ranks

TWO_RANKS = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2")
WORKER = Path(__file__).parents[1] / "distributed_update.py"


def run(command: list[str], cwd: Path) -> None:
    """Run to completion within 5 minutes (a hung collective fails the test instead of the suite)."""
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.slow  # a torchrun of two ranks beside the one-process run (about 10 s idle): .ci/run's slow run
def test_two_ranks_update_the_weights_as_one_process_given_all_the_steps(tmp_path):
    """VL-DAC: advantages normalised over both ranks' steps; LOOP: the ranks hold different
    numbers of steps (uneven episodes), weighted by their share. The same weights to 1e-5 after
    two epochs, and rank 1 agrees with rank 0 bit for bit; with small mini-batches the ranks'
    step counts would differ, and the update still ends (same number of steps on each). A NaN
    loss on rank 1 alone skips the step on both ranks."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_cases(Ranks("cpu"), tmp_path, ["vldac", "loop"])
    finally:
        torch.set_num_threads(threads)
    run([*TWO_RANKS, str(WORKER), str(tmp_path)], cwd=tmp_path)
    one, two = (json.loads((tmp_path / f"summary-{n}.json").read_text()) for n in (1, 2))
    for case in ("vldac", "loop"):
        assert sum(two[case]["rows"]) == one[case]["rows"][0] and two[case]["ranks_agree"], case
        assert two[case]["moved"] > 1e-3, case  # the update changed the adapters, so equality means something
        alone, together = (load_file(tmp_path / f"{case}-{n}.safetensors") for n in (1, 2))
        assert alone.keys() == together.keys()
        assert max(float((alone[k] - together[k]).abs().max()) for k in alone) < 1e-5, case
    rows = two["loop"]["rows"]
    assert rows[0] != rows[1]  # uneven: the weighting is exercised
    small = two["loop_small_minibatches"]
    assert small["ranks_agree"] and small["skipped_steps"] == 0 and round(rows[0] / 2) != round(rows[1] / 2)
    poisoned = two["nan_on_last_rank"]
    assert poisoned["skipped_steps"] == 2 and poisoned["moved"] == 0.0 and poisoned["ranks_agree"]


@pytest.mark.slow  # about 45 s: .ci/run runs it after the default suite
def test_a_two_rank_run_counts_both_ranks_and_resumes_bit_for_bit_after_kill_9(tiny_qwen2vl_dir, tmp_path):
    """env_steps per update = ranks x env.num_envs x train.rollout_steps in one metrics.jsonl; a kill
    -9 of the process group after the third checkpoint, then --resume on two ranks: the same rows
    (timing aside) and final weights as the uninterrupted two-rank run. Resuming on one process
    instead is one sentence, before the model loads."""
    overrides = [*tiny_overrides(tiny_qwen2vl_dir, 96), "generation.max_new_tokens=8", "train.eval_every=3"]
    launcher = (*TWO_RANKS, "-m", "vldac")
    run([*launcher, "train", *overrides, "name=whole"], cwd=tmp_path)
    killed = killed_after_third_checkpoint(overrides, tmp_path, launcher)
    run([*launcher, "train", "--resume", str(killed)], cwd=tmp_path)
    rows = {name: [without_timing(json.loads(line)) for line in (tmp_path / "runs" / name / "metrics.jsonl").read_text().splitlines()]
            for name in ("whole", "killed")}
    assert [row["env_steps"] for row in rows["whole"]] == [16 * n for n in range(1, 7)]  # 2 ranks x 4 envs x 2 steps
    assert "greedy_success_rate" in rows["whole"][2]
    assert rows["killed"] == rows["whole"]
    state = json.loads((killed / "checkpoints" / "last" / "trainer_state.json").read_text())
    first, second = (rank["episodes"]["seeds"] for rank in state["ranks"])
    assert state["world_size"] == 2 and max(first) < min(second)  # disjoint seed ranges
    for file in ("adapter_model.safetensors", "value_head.safetensors"):
        whole = load_file(tmp_path / "runs" / "whole" / "checkpoints" / "last" / file)
        resumed = load_file(killed / "checkpoints" / "last" / file)
        assert whole.keys() == resumed.keys() and all(torch.equal(whole[k], resumed[k]) for k in whole), file
    code, stderr = vldac_here(tmp_path, "train", "--resume", str(killed))
    assert code == 2 and stderr.strip().count("\n") == 0, stderr
    assert "trained by 2 process(es) and this resume has 1" in stderr


def test_every_shipped_accelerate_config_is_one_accelerate_reads(tmp_path):
    from accelerate.commands.config.config_args import load_config_from_file

    from vldac.config import packaged_accelerate_configs

    engines = {path.stem: load_config_from_file(str(path)) for path, _ in packaged_accelerate_configs()}
    assert {name: config.distributed_type.value for name, config in engines.items()} == {
        "single_gpu": "NO", "multi_gpu_ddp": "MULTI_GPU", "fsdp": "FSDP", "deepspeed_zero2": "DEEPSPEED",
        "deepspeed_zero3": "DEEPSPEED", "multi_node": "MULTI_GPU",
    }
    assert engines["fsdp"].fsdp_config["fsdp_activation_checkpointing"] and engines["fsdp"].mixed_precision == "bf16"
    assert [engines[f"deepspeed_zero{n}"].deepspeed_config["zero_stage"] for n in (2, 3)] == [2, 3]
    assert engines["multi_node"].num_machines == 2 and engines["multi_node"].main_process_ip


@pytest.mark.parametrize("installed", [False, True])
def test_a_deepspeed_launch_without_deepspeed_is_one_sentence(monkeypatch, installed):
    from vldac.config import ConfigError
    from vldac.train import distributed

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(distributed.importlib.util, "find_spec",
                        lambda name, *args: (find_spec("json") if installed else None) if name == "deepspeed" else find_spec(name, *args))
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    if installed:
        distributed.check_engine_installed()
    else:
        with pytest.raises(ConfigError, match=r"DeepSpeed, which is not installed; pip install 'vldac\[deepspeed\]'"):
            distributed.check_engine_installed()
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "false")
    distributed.check_engine_installed()  # no DeepSpeed asked for: nothing to check
