"""LoRA through peft with the adapter's update fused into the projection's output."""

from __future__ import annotations

import json

import pytest
import torch
from peft import LoraConfig, get_peft_model
from peft.tuners.lora.layer import Linear as PeftLoraLinear

from vldac.config import ModelSettings
from vldac.models.loading import build_policy, load_policy, save_policy
from vldac.models.lora import FusedLoraLinear, with_fused_layers


class TwoProjections(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.up = torch.nn.Linear(24, 40)
        self.down = torch.nn.Linear(40, 24, bias=False)

    def forward(self, x):
        return self.down(torch.tanh(self.up(x)))


def adapted(fused: bool, dtype=torch.float32, **lora):
    torch.manual_seed(0)
    config = LoraConfig(r=4, lora_alpha=12, target_modules=["up", "down"], **lora)
    model = get_peft_model(TwoProjections().to(dtype), with_fused_layers(config) if fused else config)
    for name, parameter in model.named_parameters():
        if "lora_B" in name:  # peft starts B at zero: give the adapters something to add
            torch.nn.init.normal_(parameter, std=0.5)
    return model


def outputs_and_gradients(model, x):
    y = model(x)
    y.square().sum().backward()
    return y, {name: p.grad for name, p in model.named_parameters() if p.requires_grad}


def test_the_fused_layer_computes_peft_lora_with_the_same_gradients():
    x = torch.randn(3, 7, 24)
    fused, plain = adapted(True), adapted(False)
    assert isinstance(fused.base_model.model.up, FusedLoraLinear)
    assert type(plain.base_model.model.up) is PeftLoraLinear
    y_fused, grads_fused = outputs_and_gradients(fused, x)
    y_plain, grads_plain = outputs_and_gradients(plain, x)
    torch.testing.assert_close(y_fused, y_plain, rtol=1e-5, atol=1e-6)
    assert grads_fused.keys() == grads_plain.keys() and len(grads_fused) == 4
    for name, grad in grads_plain.items():  # float32 sums in another order: rounding apart
        torch.testing.assert_close(grads_fused[name], grad, rtol=1e-4, atol=1e-5 * float(grad.abs().max()))


def test_the_fused_layer_takes_the_plain_path(monkeypatch):
    calls = []
    monkeypatch.setattr(PeftLoraLinear, "forward", lambda self, x, *a, **k: calls.append(1) or self.base_layer(x))
    model = adapted(True)
    model(torch.randn(2, 24))
    assert calls == []  # both projections fused


@pytest.mark.parametrize("case", ["disabled", "merged", "bfloat16"])
def test_every_other_case_is_peft_own_forward(case):
    x = torch.randn(5, 24)
    fused, plain = adapted(True, torch.bfloat16 if case == "bfloat16" else torch.float32), adapted(False)
    if case == "bfloat16":
        plain = adapted(False, torch.bfloat16)
        x = x.bfloat16()
    for model in (fused, plain):
        if case == "merged":
            model.merge_adapter()
    with fused.disable_adapter() if case == "disabled" else torch.no_grad(), \
            plain.disable_adapter() if case == "disabled" else torch.no_grad():
        assert torch.equal(fused(x), plain(x))


def test_policies_train_and_load_with_fused_layers_and_save_plain_peft_files(tiny_qwen2vl_dir, tmp_path):
    policy = build_policy(ModelSettings(path=str(tiny_qwen2vl_dir), value_head_hidden=[16]))
    layers = [m for m in policy.model.modules() if isinstance(m, PeftLoraLinear)]
    assert layers and all(isinstance(m, FusedLoraLinear) for m in layers)
    save_policy(policy, tmp_path / "checkpoint")
    saved = json.loads((tmp_path / "checkpoint" / "adapter_config.json").read_text())
    assert not any("custom" in key for key in saved)
    loaded = load_policy(str(tmp_path / "checkpoint"))
    assert all(isinstance(m, FusedLoraLinear) for m in loaded.model.modules() if isinstance(m, PeftLoraLinear))
