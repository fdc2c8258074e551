"""vldac: train vision-language models as agents with VL-DAC in cheap synthetic worlds."""

from vldac import envs as envs

__version__ = "0.1.0"
