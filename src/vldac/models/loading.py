"""Load any Hugging Face VLM as a vldac policy: full model or LoRA, plus the value head.

Everything goes through AutoModelForImageTextToText and the model's own processor and chat
template, so Qwen2-VL, Qwen2.5-VL and other families load the same way. Paths are local
folders (no hub downloads at run time); ``builtin:<name>`` names a model shipped in vldac.
"""

from __future__ import annotations

import json
import sys
import warnings
from importlib import resources
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import AutoModelForImageTextToText, PreTrainedModel

from vldac.config import ModelSettings, PlaySettings, load_config, to_dict
from vldac.models.families import declined_fast_paths, family_processor, model_type
from vldac.models.manifest import MANIFEST, manifest_problem, unreadable_file
from vldac.models.policy import VLMPolicy
from vldac.models.scorer import attention_kernels
from vldac.models.value_head import ValueHead

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
VALUE_HEAD_FILE = "value_head.safetensors"
VALUE_HEAD_CONFIG = "value_head.json"
RUN_SETTINGS = "vldac_settings.json"
"""How a model was trained, saved beside it (vldac.config.PlaySettings), so that ``vldac eval`` and
``vldac sweep`` evaluate it as it was trained unless told otherwise."""
TRAINER_STATE = "trainer_state.json"
"""What a training checkpoint (and no other model folder) holds: the trainer's counters and random states."""


class ModelLoadError(RuntimeError):
    """A model path, checkpoint or setting that cannot be loaded."""


def resolve_model_path(path: str) -> Path:
    """A local model folder; ``builtin:<name>`` is a model shipped inside the vldac package."""
    if path.startswith("builtin:"):
        name = path.removeprefix("builtin:")
        folder = Path(str(resources.files("vldac.assets").joinpath(name)))
        if not (folder / "config.json").is_file():
            known = sorted(p.name for p in Path(str(resources.files("vldac.assets"))).iterdir() if (p / "config.json").is_file())
            raise ModelLoadError(f"No built-in model named '{name}'; built-in models are: {', '.join(known) or 'none'}.")
        return folder
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ModelLoadError(f"Model path '{path}' is a file, not a model folder; give the folder of a model or of a "
                             "checkpoint (a run's checkpoints/update_NNNNN).")
    if not folder.is_dir():
        raise ModelLoadError(
            f"Model path '{path}' does not exist; download the model to a local folder and set model.path to it."
        )
    if not (folder / "config.json").is_file() and not (folder / "adapter_config.json").is_file():
        raise ModelLoadError(
            f"Model path '{path}' has no config.json or adapter_config.json; point model.path at a Hugging Face model folder."
        )
    return folder


def resolve_device(name: str) -> torch.device:
    """``auto`` is the first CUDA device when there is one, else the CPU; anything else is passed to torch."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ModelLoadError(f"model.device '{name}' is not a torch device; use auto, cpu, cuda or cuda:N.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(f"model.device '{name}' asks for CUDA, which this machine (or this build of torch) does "
                             "not have; use auto or cpu.")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ModelLoadError(f"model.device '{name}' does not exist: this machine has {torch.cuda.device_count()} CUDA "
                             "device(s); use cuda:0 to cuda:N-1, or auto.")
    return device


def _dtype(name: str) -> torch.dtype:
    if name not in DTYPES:
        raise ModelLoadError(f"model.dtype '{name}' is not supported; use one of {', '.join(DTYPES)}.")
    return DTYPES[name]


def note_slow_cpu_bfloat16(dtype: torch.dtype, device: torch.device | str) -> None:
    """One line on standard error where bfloat16 would run on a CPU without bfloat16 matmul
    instructions (AVX512-BF16 or AMX): there it is emulated, and slower than float32."""
    if dtype != torch.bfloat16 or torch.device(device).type != "cpu":
        return
    if not (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()):
        print("Note: this CPU has no AVX512-BF16 or AMX instructions, so bfloat16 runs emulated here, slower than "
              "float32.", file=sys.stderr)


def load_base_model(folder: Path, dtype: torch.dtype, attn_implementation: str = "sdpa"):
    """The Hugging Face VLM in ``folder`` with ``dtype`` weights and the chosen attention kernels."""
    try:
        return AutoModelForImageTextToText.from_pretrained(folder, dtype=dtype, attn_implementation=attn_implementation)
    except (OSError, ValueError, ImportError) as error:
        raise ModelLoadError(
            f"The model at {folder} cannot be loaded with AutoModelForImageTextToText and "
            f"attn_implementation={attn_implementation} ({str(error).splitlines()[0]}); use an image-text-to-text "
            "checkpoint and an attention implementation it supports (sdpa or eager)."
        ) from None


def check_scoring_attention(model: PreTrainedModel, name: str | None) -> None:
    """Refuse, in one sentence, attention kernels the model cannot switch to for scoring (found
    at load time, not at the first update)."""
    try:
        with attention_kernels(model, name):
            pass
    except (ValueError, ImportError) as error:
        raise ModelLoadError(
            f"model.scoring_attn_implementation={name} cannot be used with this model ({str(error).splitlines()[0]}); "
            "use sdpa or eager, or leave it unset to score with model.attn_implementation."
        ) from None


def hidden_size(model) -> int:
    return model.config.get_text_config().hidden_size


def check_precision(settings: ModelSettings) -> None:
    """Refuse what cannot train correctly: full fine-tuning keeps its master weights and Adam state
    in the model's own dtype, so it needs float32 weights."""
    _dtype(settings.dtype)
    if settings.finetune == "full" and settings.dtype != "float32":
        raise ModelLoadError(
            f"Full fine-tuning with model.dtype={settings.dtype} would keep the trained weights and their optimiser "
            "state in that dtype and lose small updates; use model.dtype=float32 for full fine-tuning, or "
            "model.finetune=lora (LoRA weights and the value head are always float32)."
        )
    if settings.finetune not in ("lora", "full"):
        raise ModelLoadError(f"model.finetune '{settings.finetune}' is not supported; use 'lora' or 'full'.")


def nonzero_dropouts(model: torch.nn.Module) -> list[str]:
    """Where the model (or its LoRA adapters) would drop activations in train mode: dropout modules
    with p > 0 and *dropout settings > 0 in the model's configuration."""
    found = [f"{name} (p={module.p})" for name, module in model.named_modules()
             if isinstance(module, torch.nn.Dropout) and module.p > 0]
    configs = [model.config.get_text_config(), getattr(model.config, "vision_config", None)]
    for config in filter(None, configs):
        found += [f"config {key}={value}" for key, value in config.to_dict().items()
                  if key.endswith("dropout") and isinstance(value, (int, float)) and value > 0]
    return found


def build_policy(
    settings: ModelSettings,
    device: torch.device | str = "cpu",
    value_stop_gradient: bool = True,
    instruction_first: bool = False,
) -> VLMPolicy:
    """A trainable policy from settings: the base model, LoRA adapters (or full fine-tuning),
    a fresh float32 value head, and the frozen reference (adapters disabled, or a frozen copy)."""
    check_precision(settings)
    folder = resolve_model_path(settings.path)
    processor = family_processor(folder)
    note_slow_cpu_bfloat16(_dtype(settings.dtype), device)
    model = load_base_model(folder, _dtype(settings.dtype), settings.attn_implementation).to(device)
    check_scoring_attention(model, settings.scoring_attn_implementation)
    if settings.gradient_checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    if settings.finetune == "lora":
        lora = LoraConfig(
            r=settings.lora.r,
            lora_alpha=settings.lora.alpha,
            lora_dropout=settings.lora.dropout,
            target_modules=_language_model_targets(model, settings.lora.target_modules),
        )
        model = get_peft_model(model, lora, autocast_adapter_dtype=True)
    declined = declined_fast_paths(model)
    if declined and (settings.share_prompt_prefix or settings.vision_cache_frames):
        print(f"Note: {declined}", file=sys.stderr)
    dropouts = nonzero_dropouts(model)
    if dropouts:
        warnings.warn(
            f"Dropout is on during RL ({', '.join(dropouts[:4])}{', ...' if len(dropouts) > 4 else ''}): the update's "
            "log-probs then differ from the rollout's and the PPO ratio is noise; set lora.dropout=0 and the "
            "model's dropout settings to 0.",
            RuntimeWarning,
            stacklevel=2,
        )
    value_head = ValueHead(hidden_size(model), settings.value_head_hidden, value_stop_gradient).to(device)
    return VLMPolicy(
        model, processor, value_head, frozen_reference=settings.finetune == "full", chunk_size=settings.scoring_chunk_size,
        share_prefix=settings.share_prompt_prefix and not settings.gradient_checkpointing,
        instruction_first=instruction_first,
        vision_cache_frames=settings.vision_cache_frames if settings.finetune == "lora" else 0,
        scoring_attention=settings.scoring_attn_implementation,
    )


def _language_model_targets(model: PreTrainedModel, names: list[str]) -> list[str]:
    """Full module paths of the named linear projections inside the language model (the decoder
    ``get_decoder()`` finds, whatever the family calls it), so no adapter lands in the vision
    tower or the projector (``visual``, ``vision_tower``, ``vision_model``, ...)."""
    decoder = model.get_decoder()
    if decoder is model:
        raise ModelLoadError(
            f"{type(model).__name__} has no separate language model (get_decoder() returned the model itself), so "
            "LoRA cannot be kept off its vision tower; use model.finetune=full or a transformers-native VLM checkpoint."
        )
    prefix = next(name for name, module in model.named_modules() if module is decoder)
    targets = [
        f"{prefix}.{module_name}"
        for module_name, module in decoder.named_modules()
        if module_name.rsplit(".", 1)[-1] in names and isinstance(module, torch.nn.Linear)
    ]
    if not targets:
        raise ModelLoadError(f"None of lora.target_modules {names} were found in the model's language layers ({prefix}).")
    return targets


def save_play_settings(folder: Path, settings: PlaySettings) -> None:
    """The settings a model was trained with, for playing it (RUN_SETTINGS)."""
    (folder / RUN_SETTINGS).write_text(json.dumps(to_dict(settings)))


def read_play_settings(path: str) -> PlaySettings | None:
    """The settings saved with a model (RUN_SETTINGS; older files, with fewer keys, take the
    defaults for the rest), or None when it has none."""
    file = resolve_model_path(path) / RUN_SETTINGS
    return load_config(PlaySettings, json.loads(file.read_text())) if file.is_file() else None


def save_policy(policy: VLMPolicy, folder: Path) -> None:
    """Hugging Face layout: the adapter (or full model) with save_pretrained, the processor,
    and the value head as safetensors beside them."""
    folder.mkdir(parents=True, exist_ok=True)
    policy.model.save_pretrained(folder)
    policy.processor.save_pretrained(folder)
    save_file({k: v.detach().cpu().contiguous() for k, v in policy.value_head.state_dict().items()}, folder / VALUE_HEAD_FILE)
    sizes = [m.out_features for m in policy.value_head.mlp if isinstance(m, torch.nn.Linear)][:-1]
    (folder / VALUE_HEAD_CONFIG).write_text(json.dumps({"input_size": hidden_size(policy.model), "hidden_sizes": sizes}))


def load_policy(path: str, dtype: str | None = None, device: torch.device | str = "cpu") -> VLMPolicy:
    """A saved policy for evaluation: a full model folder or a LoRA adapter folder (its base
    model is read from adapter_config.json), with its value head when one was saved. The dtype
    defaults to the one it was trained in (float32 when unknown), and so does the prompt layout."""
    folder = resolve_model_path(path)
    problem = manifest_problem(folder) or unreadable_file(folder)
    if problem is not None:
        raise ModelLoadError(f"The checkpoint at {folder} is damaged: {problem}; evaluate another checkpoint of the run.")
    if (folder / TRAINER_STATE).is_file() and not (folder / MANIFEST).is_file():
        print(f"Warning: the checkpoint at {folder} has no {MANIFEST}, so its files cannot be verified (vldac writes "
              "one with every checkpoint); its results are only as good as its files.", file=sys.stderr)
    trained = read_play_settings(path) or PlaySettings()
    dtype = dtype or trained.dtype
    note_slow_cpu_bfloat16(_dtype(dtype), device)
    if (folder / "adapter_config.json").is_file():
        base_path = json.loads((folder / "adapter_config.json").read_text())["base_model_name_or_path"]
        base_folder = resolve_model_path(base_path)
        model = PeftModel.from_pretrained(load_base_model(base_folder, _dtype(dtype)), folder)
        processor_folder = folder if (folder / "tokenizer_config.json").is_file() else base_folder
    else:
        model = load_base_model(folder, _dtype(dtype))
        processor_folder = folder
    model.to(device).eval()
    value_head = ValueHead(hidden_size(model), [])
    if (folder / VALUE_HEAD_FILE).is_file():
        value_config = json.loads((folder / VALUE_HEAD_CONFIG).read_text())
        value_head = ValueHead(value_config["input_size"], value_config["hidden_sizes"])
        value_head.load_state_dict(load_file(folder / VALUE_HEAD_FILE))
    broken = next((n for n, p in [*model.named_parameters(), *value_head.named_parameters()] if not torch.isfinite(p).all()), None)
    if broken is not None:
        raise ModelLoadError(f"{folder} holds non-finite weights ({broken}); evaluate an earlier checkpoint of the run instead.")
    processor = family_processor(processor_folder, model_type(model))
    return VLMPolicy(
        model, processor, value_head.to(device), instruction_first=trained.instruction_first,
        vision_cache_frames=ModelSettings().vision_cache_frames,
    )
