"""Typed configs: recipes, dotted overrides and one-sentence errors."""

from __future__ import annotations

import dataclasses
import json
from importlib import resources

import pytest

from vldac.agents import interface_for
from vldac.config import ConfigError, PlaySettings, SFTConfig, TrainConfig, load_config, read_recipe
from vldac.envs import make_world


def test_packaged_default_recipe_loads_and_overrides_apply():
    config = load_config(TrainConfig, read_recipe(None, "numberline_tiny"), ["optim.lr=1e-4", "env.num_envs=4"])
    assert config.optim.lr == 1e-4 and config.env.num_envs == 4
    assert config.env.id == "vldac/NumberLine-v0"


def test_int_is_accepted_for_float_and_lists_parse():
    config = load_config(TrainConfig, {}, ["algorithm.gamma=1", "model.lora.target_modules=[q_proj,v_proj]"])
    assert config.algorithm.gamma == 1.0 and isinstance(config.algorithm.gamma, float)
    assert config.model.lora.target_modules == ["q_proj", "v_proj"]


@pytest.mark.parametrize(
    "override, message",
    [
        ("optim.learning_rate=1", "Unknown config key 'optim.learning_rate'"),
        ("env.num_envs=many", "Config key 'env.num_envs' must be of type int"),
        ("algorithm.normalize_advantages=3", "Config key 'algorithm.normalize_advantages' must be of type bool"),
        ("optim.lr.x=1", "Config key 'optim.lr' must be of type float"),
        ("novalue", "not of the form dotted.key=value"),
    ],
)
def test_bad_keys_and_types_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(TrainConfig, {}, [override])


def test_missing_recipe_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        read_recipe(str(tmp_path / "none.yaml"), "numberline_tiny")


def test_invalid_yaml_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_recipe(str(bad), "numberline_tiny")


@pytest.mark.parametrize("recipe", sorted(p.stem for p in resources.files("vldac.configs").iterdir()
                                          if p.name.endswith(".yaml") and not p.name.startswith("sft_")))
def test_every_packaged_training_recipe_loads_and_names_a_world_it_can_make(recipe):
    config = load_config(TrainConfig, read_recipe(None, recipe), [])
    interface_for(config.env.id, config.env.kwargs)
    make_world(config.env.id, **config.env.kwargs).close()


def test_play_settings_files_of_every_age_load_and_move_between_worlds(tmp_path):
    from vldac.models.loading import read_play_settings, save_play_settings

    # A warm start's file from before the record (no invalid_penalty, no temperature): the defaults fill in.
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "vldac_settings.json").write_text(json.dumps({
        "env_id": "vldac/Points24-v0", "env_kwargs": {"frame_size": 56}, "history": 1, "instruction_first": True,
        "dtype": "bfloat16", "max_new_tokens": 40}))
    play = read_play_settings(str(tmp_path))
    assert play == PlaySettings("vldac/Points24-v0", {"frame_size": 56}, 1, -1.0, True, 40, 1.0, "bfloat16")
    save_play_settings(tmp_path, dataclasses.replace(play, temperature=0.5, invalid_penalty=-0.1))
    assert read_play_settings(str(tmp_path)) == dataclasses.replace(play, temperature=0.5, invalid_penalty=-0.1)
    assert play.in_world("vldac/Points24-v0") is play
    elsewhere = dataclasses.replace(play, invalid_penalty=-0.1).in_world("vldac/NumberLine-v0")
    assert (elsewhere.env_id, elsewhere.env_kwargs, elsewhere.invalid_penalty) == ("vldac/NumberLine-v0", {}, -1.0)
    assert (elsewhere.max_new_tokens, elsewhere.dtype, elsewhere.instruction_first) == (40, "bfloat16", True)


def test_a_run_and_a_warm_start_are_played_as_they_were_trained():
    config = load_config(TrainConfig, read_recipe("alfworld_smolvlm", ""))
    play = config.play_settings()
    assert (play.env_id, play.env_kwargs, play.invalid_penalty, play.max_new_tokens, play.dtype) == (
        config.env.id, config.env.kwargs, -0.1, 32, "bfloat16")
    sft = load_config(SFTConfig, read_recipe("sft_webshop_smolvlm", ""))
    assert sft.play_settings(max_new_tokens=20).dtype == "bfloat16" and sft.play_settings(20).max_new_tokens == 20
