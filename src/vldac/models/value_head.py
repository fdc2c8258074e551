"""The step-level critic: V(s_t) = MLP(stopgrad(h_t)), h_t the last-layer state at the last prompt token."""

from __future__ import annotations

import torch
from torch import nn


class ValueHead(nn.Module):
    """An MLP from the backbone's hidden size to one value per environment step.

    With ``stop_gradient`` (VL-DAC's default) the input is detached inside ``forward``: the
    value loss trains this MLP only, and its gradient never reaches the backbone or the LoRA
    weights. Without it the critic shares the backbone, as in the original RL4VLM.
    """

    def __init__(self, input_size: int, hidden_sizes: list[int], stop_gradient: bool = True):
        super().__init__()
        self.stop_gradient = stop_gradient
        layers: list[nn.Module] = []
        width = input_size
        for hidden in hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)

    def forward(self, prompt_state: torch.Tensor) -> torch.Tensor:
        """prompt_state [B, H] (any dtype) -> values [B] float32."""
        if self.stop_gradient:
            prompt_state = prompt_state.detach()
        return self.mlp(prompt_state.float()).squeeze(-1)
