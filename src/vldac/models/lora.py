"""LoRA adapters through peft, with the adapter's update added to the frozen projection's output in
one fused multiply-add.

peft's LoRA linear layer computes y = W x + (B (A x)) * s as three passes over the output [N, out]:
the rank-r product B (A x), its scaling, the sum. ``FusedLoraLinear`` is that layer with the plain
case (one active adapter, not merged, float32 like its adapter weights, no bias on B, no variant
such as DoRA) computed as ``addmm(W x, A x, Bᵀ, alpha=s)``: the same math in one pass, forward and
backward. On a CPU the three passes cost more than the projection itself (measured in
benchmarks/RESULTS.md); every other case is peft's own forward. It is registered through peft's
custom-module hook, so the adapters, their names and their saved files are peft's.
"""

from __future__ import annotations

import torch
from peft import LoraConfig
from peft.tuners.lora.layer import Linear as PeftLoraLinear


class FusedLoraLinear(PeftLoraLinear):
    """peft's ``lora.Linear`` with the adapter's update fused into the output (see the module docstring)."""

    def forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        adapter = self._fusable_adapter(x, args, kwargs)
        if adapter is None:
            return super().forward(x, *args, **kwargs)
        lora_A, lora_B = self.lora_A[adapter], self.lora_B[adapter]
        result = self.base_layer(x)
        low_rank = lora_A(self.lora_dropout[adapter](x))
        fused = torch.addmm(result.reshape(-1, result.shape[-1]), low_rank.reshape(-1, low_rank.shape[-1]),
                            lora_B.weight.t(), alpha=self.scaling[adapter])
        return fused.view(result.shape)

    def _fusable_adapter(self, x: torch.Tensor, args: tuple, kwargs: dict) -> str | None:
        """The one active adapter when this call is the plain case, else None."""
        if args or kwargs or self.disable_adapters or self.merged:
            return None
        adapters = [name for name in self.active_adapters if name in self.lora_A]
        if len(adapters) != 1 or adapters[0] in self.lora_variant:
            return None
        lora_A, lora_B = self.lora_A[adapters[0]], self.lora_B[adapters[0]]
        weight = self.get_base_layer().weight
        if lora_B.bias is not None or not (x.dtype == weight.dtype == lora_A.weight.dtype == lora_B.weight.dtype):
            return None
        return adapters[0]


def with_fused_layers(config: LoraConfig) -> LoraConfig:
    """``config`` with its linear layers made ``FusedLoraLinear`` (peft's custom-module hook; not saved)."""
    config._register_custom_module({torch.nn.Linear: FusedLoraLinear})
    return config
