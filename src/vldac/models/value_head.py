"""The step-level critic: V(s_t) = MLP(stopgrad(h_t)), h_t the last-layer state at the last prompt token."""

from __future__ import annotations

import torch
from torch import nn


class ValueHead(nn.Module):
    """An MLP from the backbone's hidden size to one value per environment step.

    The input is detached inside ``forward``: the value loss trains this MLP only, and its
    gradient never reaches the backbone or the LoRA weights (VL-DAC's stop-gradient).
    """

    def __init__(self, input_size: int, hidden_sizes: list[int]):
        super().__init__()
        layers: list[nn.Module] = []
        width = input_size
        for hidden in hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)

    def forward(self, prompt_state: torch.Tensor) -> torch.Tensor:
        """prompt_state [B, H] (any dtype) -> values [B] float32."""
        return self.mlp(prompt_state.detach().float()).squeeze(-1)
