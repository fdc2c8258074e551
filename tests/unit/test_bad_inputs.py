"""Every declared setting, given a value it does not allow, through the CLI's entry in-process: exit
2, one line on stderr naming the key, no traceback, nothing created (property-based: the values
are generated from each setting's declared range)."""

from __future__ import annotations

import dataclasses
import math
import os
import typing
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vldac import cli
from vldac.config import Allowed, SFTConfig, SweepConfig, TrainConfig

EXAMPLES = int(os.environ.get("VLDAC_BAD_INPUT_EXAMPLES", "150"))
"""Examples per command in the default run; the slow run raises it (the CI's second pass)."""


def declared_settings(cls: type, prefix: str = "") -> list[tuple[str, type, Allowed]]:
    """(dotted key, type, allowed values) of every setting of ``cls`` that declares its range."""
    found = []
    hints = typing.get_type_hints(cls)
    for declared in dataclasses.fields(cls):
        kind = hints[declared.name]
        if dataclasses.is_dataclass(kind):
            found += declared_settings(kind, f"{prefix}{declared.name}.")
        elif "allowed" in declared.metadata:
            found.append((prefix + declared.name, kind, declared.metadata["allowed"]))
    return found


def scalar_type(kind: type) -> type:
    """int for int, int | None, list[int]; float, str likewise."""
    options = [option for option in typing.get_args(kind) if option is not type(None)] or [kind]
    inner = options[0]
    return typing.get_args(inner)[0] if typing.get_origin(inner) is list else inner


def bad_values(kind: type, allowed: Allowed) -> st.SearchStrategy:
    """Values outside ``allowed`` (or of the wrong type, or not finite) for a setting of type ``kind``."""
    scalar = scalar_type(kind)
    strategies = [st.sampled_from(["abc", [1, 2], {"a": 1}] if scalar is not str else [[1, 2], {"a": 1}])]
    if scalar in (int, float):
        number = st.integers if scalar is int else st.floats
        if allowed.at_least is not None:
            strategies.append(number(max_value=math.ceil(allowed.at_least) - 1) if scalar is int
                              else number(max_value=allowed.at_least, exclude_max=True, allow_nan=False))
        if allowed.above is not None:
            strategies.append(number(max_value=math.floor(allowed.above)) if scalar is int
                              else number(max_value=allowed.above, allow_nan=False))
        if allowed.at_most is not None:
            strategies.append(number(min_value=math.floor(allowed.at_most) + 1) if scalar is int
                              else number(min_value=allowed.at_most, exclude_min=True, allow_nan=False))
        if scalar is float:
            strategies.append(st.sampled_from([math.nan, math.inf, -math.inf]))
    if allowed.choices is not None:
        strategies.append(st.text(min_size=1, max_size=12, alphabet="abcdefgxyz019_").filter(lambda v: v not in allowed.choices))
    values = st.one_of(strategies)
    return st.lists(values, min_size=1, max_size=3) if typing.get_origin(kind) is list else values


def override(key: str, value) -> str:
    return f"{key}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}"


def cases(cls: type) -> st.SearchStrategy:
    return st.sampled_from(declared_settings(cls)).flatmap(
        lambda setting: st.tuples(st.just(setting[0]), bad_values(setting[1], setting[2])))


def refused(arguments: list[str], key: str, folder: Path, capsys) -> None:
    """``key``: a dotted setting (its last part must be named) or the words the line must hold."""
    before = sorted(folder.rglob("*"))
    assert cli.main(arguments) == 2, arguments
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert (key if " " in key else key.split(".")[-1]) in lines[0], (key, lines[0])
    assert sorted(folder.rglob("*")) == before, "a refused command must leave nothing behind"


@pytest.fixture
def nothing_runs(monkeypatch):
    """A value the range check let through would start real work: make that fail at once instead."""
    def started(*args, **kwargs):
        raise AssertionError("a setting out of its declared range got past the range check")

    for target in ("vldac.train.trainer.train", "vldac.train.sft.run_sft", "vldac.train.sweep.run_sweep"):
        monkeypatch.setattr(target, started)


def test_every_declared_setting_is_found():
    keys = {key for key, _, _ in declared_settings(TrainConfig)}
    assert {"env.num_envs", "generation.temperature", "optim.lr", "model.value_head_hidden", "train.bench.budget"} <= keys


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases(TrainConfig))
def test_vldac_train_refuses_every_setting_out_of_its_range(case, tmp_path, capsys, monkeypatch, nothing_runs):
    monkeypatch.chdir(tmp_path)
    key, value = case
    refused(["train", override(key, value)], key, tmp_path, capsys)


@settings(max_examples=EXAMPLES // 3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases(SFTConfig))
def test_vldac_sft_refuses_every_setting_out_of_its_range(case, tmp_path, capsys, monkeypatch, nothing_runs):
    monkeypatch.chdir(tmp_path)
    key, value = case
    refused(["sft", override(key, value)], key, tmp_path, capsys)


@settings(max_examples=EXAMPLES // 3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases(SweepConfig))
def test_vldac_sweep_refuses_every_setting_out_of_its_range(case, tmp_path, capsys, monkeypatch, nothing_runs):
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "spec.yaml"
    if not spec.exists():
        spec.write_text("cells: [{algorithm: vldac}]\n")
    key, value = case
    refused(["sweep", str(spec), override(key, value)], key, tmp_path, capsys)


@pytest.mark.parametrize(("arguments", "key"), [
    (["--sample", "--temperature", "0"], "--temperature 0.0 does not work: it must be above 0"),
    (["--temperature", "nan"], "--temperature nan does not work: it must be a finite number."),
    (["--history", "0"], "--history 0 does not work"),
    (["--max-new-tokens", "100000"], "--max-new-tokens 100000 does not work"),
    (["--dtype", "int4"], "--dtype int4 does not work: it must be one of float32, bfloat16, float16."),
    (["--invalid-penalty", "inf"], "--invalid-penalty inf does not work: it must be a finite number."),
])
def test_vldac_eval_refuses_flags_out_of_range(arguments, key, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused(["eval", "builtin:tiny-numberline", "--env", "vldac/NumberLine-v0", *arguments], key, tmp_path, capsys)


@pytest.mark.parametrize("kind", ["folder", "fifo", "latin-1", "output file", "name with a slash", "long name"])
def test_paths_that_cannot_be_used_are_one_sentence(kind, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recipe, overrides, key = "numberline_tiny", [], "Recipe"
    if kind == "folder":
        (tmp_path / "recipe").mkdir()
        recipe = "recipe"
    elif kind == "fifo":
        os.mkfifo(tmp_path / "recipe.yaml")
        recipe = "recipe.yaml"
    elif kind == "latin-1":
        (tmp_path / "recipe.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
        recipe = "recipe.yaml"
    elif kind == "output file":
        (tmp_path / "taken").write_text("")
        overrides, key = ["output_dir=taken"], "output_dir"
    elif kind == "name with a slash":
        overrides, key = ["name=a/b"], "name"
    else:
        overrides, key = [f"name={'x' * 300}"], "name"
    refused(["train", recipe, *overrides], key, tmp_path, capsys)


@pytest.mark.parametrize(("override", "message"), [
    ("env.kwargs={frame_size: 0}", "env.kwargs.frame_size=0 does not work: it must be between 16 and 1024"),
    ("env.kwargs={frame_size: 84, max_steps: 0}", "env.kwargs.max_steps=0 does not work: it must be between 1 and 10000"),
    ("env.kwargs={frame_size: 8.5}", "env.kwargs.frame_size=8.5 does not work: it must be an integer."),
    ("model.device=cuda:7", "model.device 'cuda:7'"),
])
def test_world_settings_and_devices_out_of_range_are_one_sentence(override, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", override]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert message in lines[-1] and lines[-1].startswith("vldac train: ")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("arguments", "message"), [
    (["--episodes", "0"], "--episodes 0 does not work: it must be at least 1."),
    (["--batch-size", "100000"], "--batch-size 100000 does not work: it must be between 1 and 1024."),
    (["--text-history", "0"], "--text-history 0 does not work"),
    (["--seed", "-5"], "--seed -5 does not work: it must be at least 0."),
])
def test_vldac_bench_flags_go_through_the_declared_ranges(arguments, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused(["bench", "cards", "builtin:tiny-numberline", *arguments], message, tmp_path, capsys)


def test_a_web_world_without_chromium_is_one_sentence(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium on it
    monkeypatch.delenv("VLDAC_CHROMIUM", raising=False)
    assert cli.main(["eval", "expert", "--env", "vldac/WebShop-v0", "--episodes", "1"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("vldac eval: WebShop worlds see pages through Chromium, which is not installed")


def test_an_unknown_miniworld_task_is_one_sentence(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "env.id=vldac/MiniWorld-OneRoom-v0", "env.kwargs={task: Bogus}"]) == 2
    assert "is not a MiniWorld task" in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (tmp_path / "runs").exists()
