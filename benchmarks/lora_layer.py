"""One LoRA projection, forward + backward, as peft computes it and as vldac's FusedLoraLinear does.

The shapes of the throughput workload's models (M: hidden 256, intermediate 1024; L: 512 / 1536),
r 16, alpha 32, float32, rows = a 16-row mini-batch of ~80 own tokens; timed with
torch.utils.benchmark, the two layers alternated in one process.

    python benchmarks/lora_layer.py [--threads 2]
"""

from __future__ import annotations

import argparse

import torch
from peft import LoraConfig, get_peft_model
from torch.utils import benchmark

from vldac.models.lora import with_fused_layers

SHAPES = {"M q_proj": (256, 256), "M up_proj": (256, 1024), "M down_proj": (1024, 256),
          "L q_proj": (512, 512), "L up_proj": (512, 1536), "L down_proj": (1536, 512)}


class Projection(torch.nn.Module):
    def __init__(self, inputs: int, outputs: int):
        super().__init__()
        self.proj = torch.nn.Linear(inputs, outputs, bias=False)

    def forward(self, x):
        return self.proj(x)


def adapted(inputs: int, outputs: int, fused: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    config = LoraConfig(r=16, lora_alpha=32, target_modules=["proj"])
    model = get_peft_model(Projection(inputs, outputs), with_fused_layers(config) if fused else config)
    for name, parameter in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.02)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=int, default=16 * 80)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"| projection | rows | peft forward+backward | fused forward+backward | ratio |")
    print("|---|---|---|---|---|")
    for name, (inputs, outputs) in SHAPES.items():
        x = torch.randn(args.rows, inputs, requires_grad=True)
        medians = {}
        for label, fused in (("peft", False), ("fused", True)):
            model = adapted(inputs, outputs, fused)
            timer = benchmark.Timer("model(x).sum().backward()", globals={"model": model, "x": x}, num_threads=args.threads)
            medians[label] = timer.blocked_autorange(min_run_time=1.0).median
        print(f"| {name} [{inputs} -> {outputs}] | {args.rows} | {medians['peft'] * 1e3:.2f} ms | "
              f"{medians['fused'] * 1e3:.2f} ms | {medians['peft'] / medians['fused']:.2f}x |")


if __name__ == "__main__":
    main()
