"""A run's metrics: metrics.jsonl (one JSON object per update), TensorBoard when it is installed,
and Weights & Biases with ``train.wandb`` (offline unless the WANDB_MODE environment variable
says otherwise, so a run never needs the network)."""

from __future__ import annotations

import json
import math
import os
import secrets
from pathlib import Path

from vldac.config import ConfigError


WANDB_ID_FILE = "wandb_run_id"
"""The run folder's W&B run id, drawn once, so that a resumed run continues the same W&B run."""


def check_wandb() -> None:
    """One sentence when ``train.wandb`` is asked for without the package."""
    try:
        import wandb  # noqa: F401
    except ImportError as error:
        raise ConfigError("train.wandb=true needs the wandb package: pip install 'vldac[wandb]' "
                          "(or set train.wandb=false).") from error


def finite_numbers(row: dict) -> dict:
    """The row's int and float entries that are finite numbers (for scalar loggers)."""
    return {key: value for key, value in row.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)}


class MetricsLog:
    """Appends one row per update; a resumed run first drops the rows after its checkpoint."""

    def __init__(self, run_dir: Path, resume_after: int | None, wandb_config: dict | None = None):
        self.path = run_dir / "metrics.jsonl"
        if resume_after is not None and self.path.exists():
            kept = []
            for line in self.path.read_text().splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if row.get("update", math.inf) <= resume_after:
                    kept.append(line)
            self.path.write_text("".join(line + "\n" for line in kept))
        self.tensorboard = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tensorboard = SummaryWriter(run_dir / "tensorboard")
        except ImportError:
            pass
        self.wandb = None
        if wandb_config is not None:
            import wandb

            id_file = run_dir / WANDB_ID_FILE
            if not id_file.is_file():
                id_file.write_text(secrets.token_hex(6))
            run_id = id_file.read_text().strip()
            self.wandb = wandb.init(
                project=os.environ.get("WANDB_PROJECT", "vldac"), name=run_dir.name, id=run_id, resume="allow",
                dir=str(run_dir), config=wandb_config, mode=None if "WANDB_MODE" in os.environ else "offline",
            )

    def write(self, row: dict) -> None:
        """Append one row; a non-finite number is written as null (JSON has no NaN). W&B's steps
        are updates (a resumed run logs the updates after its checkpoint again; W&B keeps the
        first values it received for a step)."""
        row = {key: None if isinstance(value, float) and not math.isfinite(value) else value for key, value in row.items()}
        with open(self.path, "a") as handle:
            handle.write(json.dumps(row, allow_nan=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        scalars = finite_numbers(row)
        if self.tensorboard is not None:
            for key, value in scalars.items():
                self.tensorboard.add_scalar(key, value, row["env_steps"])
        if self.wandb is not None:
            self.wandb.log(scalars, step=row["update"])

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()
        if self.wandb is not None:
            self.wandb.finish()
