"""Saved folders that prove themselves: a manifest of every file's size and SHA-256.

A checkpoint writes ``manifest.json`` last; reading it back checks each listed file, so a
truncated, garbled or missing file is named instead of surfacing as a traceback (or as a
silently broken policy).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

from safetensors import safe_open

MANIFEST = "manifest.json"


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path) -> None:
    """List every file under ``folder`` (but the manifest; subfolders too, by relative path) with
    its size and checksum."""
    files = {
        path.relative_to(folder).as_posix(): {"size": path.stat().st_size, "sha256": file_digest(path)}
        for path in sorted(folder.rglob("*")) if path.is_file() and path != folder / MANIFEST
    }
    (folder / MANIFEST).write_text(json.dumps({"files": files}, indent=1))


def manifest_problem(folder: Path) -> str | None:
    """What is wrong with a folder that has a manifest (None when every listed file is intact,
    or when the folder has no manifest, as models not written by vldac do not)."""
    if not folder.is_dir():
        return f"{folder} is missing"
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        files = json.loads(path.read_text())["files"]
    except (ValueError, KeyError, TypeError):
        return f"{path} is not a readable manifest"
    for name, expected in files.items():
        file = folder / name
        if not file.is_file():
            return f"{file} is missing"
        if file.stat().st_size != expected["size"]:
            return f"{file} has {file.stat().st_size} bytes where {expected['size']} were written"
        if file_digest(file) != expected["sha256"]:
            return f"{file} does not match the checksum written with it"
    return None


def unreadable_file(folder: Path) -> str | None:
    """The first file of a saved folder whose content cannot be read, and why (None when all can):
    safetensors files (an empty or cut one, even under a manifest rewritten to match), torch.save
    archives (``*.pt``) and JSON files."""
    for file in sorted(folder.rglob("*.safetensors")):
        try:
            with safe_open(file, "pt") as weights:
                weights.keys()
        except Exception as error:  # safetensors raises its own error types for cut or empty files
            return f"{file} cannot be read ({error})"
    for file in sorted(folder.rglob("*.pt")):
        if not zipfile.is_zipfile(file):
            return f"{file} cannot be read (not a whole torch.save archive)"
    for file in sorted(folder.rglob("*.json")):
        try:
            json.loads(file.read_text())
        except (OSError, ValueError) as error:
            return f"{file} cannot be read ({error})"
    return None
