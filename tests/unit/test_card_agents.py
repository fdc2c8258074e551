"""Language interfaces of EZPoints and Points24: instructions, thoughts, state keys, answers."""

import gymnasium
import pytest

import vldac.envs
from vldac.agents import EZPointsInterface, LanguageInterface, Points24Interface, interface_for

CASES = [
    ("vldac/EZPoints-v0", EZPointsInterface),
    ("vldac/Points24-v0", Points24Interface),
]


def info(values: list[int], formula: list[str], cards: list[int] | None = None) -> dict:
    return {
        "values": values,
        "cards": cards or values,
        "formula": formula,
        "formula_text": "".join(formula),
        "used": [False] * len(values),
        "steps": len(formula),
        "success": False,
    }


@pytest.mark.parametrize("env_id, interface_class", CASES)
def test_interface_for_and_action_names_match_the_env(env_id, interface_class):
    interface = interface_for(env_id)
    assert isinstance(interface, interface_class) and isinstance(interface, LanguageInterface)
    assert interface.action_names == gymnasium.make(env_id).unwrapped.action_names


@pytest.mark.parametrize("env_id, interface_class", CASES)
def test_instruction_shows_the_formula_never_the_cards(env_id, interface_class):
    interface = interface_class()
    empty = interface.instruction(info([10, 2, 3, 4][: 2 if "EZ" in env_id else 4], []))
    assert 'Formula so far: "".' in empty
    assert '"thoughts"' in empty and '"action"' in empty and '"="' in empty
    assert len(empty) < 300
    written = interface.instruction(info([10, 2, 3, 4][: 2 if "EZ" in env_id else 4], ["10", "+"]))
    assert 'Formula so far: "10+".' in written
    other_cards = interface.instruction(info([7, 5, 1, 1][: 2 if "EZ" in env_id else 4], ["10", "+"]))
    assert other_cards == written  # the values are only in the frame


def test_thoughts_name_card_values_in_table_order():
    assert EZPointsInterface().thoughts(info([10, 2], [], cards=[12, 2])) == "cards 10 and 2"
    assert Points24Interface().thoughts(info([1, 5, 10, 4], [], cards=[1, 5, 13, 4])) == "cards 1, 5, 10, 4"


def test_state_key_is_the_sorted_values():
    assert EZPointsInterface().state_key(info([10, 2], ["10"], cards=[11, 2])) == [2, 10]
    assert Points24Interface().state_key(info([10, 5, 1, 5], [])) == [1, 5, 5, 10]


@pytest.mark.parametrize("env_id, interface_class", CASES)
def test_every_demonstration_round_trips(env_id, interface_class):
    interface = interface_class()
    state = info([10, 2] if "EZ" in env_id else [1, 5, 10, 4], [])
    for action, name in enumerate(interface.action_names):
        text = interface.demonstration(state, action)
        parsed = interface.parse(text)
        assert (parsed.action, parsed.thoughts, parsed.error) == (action, interface.thoughts(state), None)
        assert text.endswith(f'"action": "{name}"}}')


@pytest.mark.parametrize("env_id, interface_class", CASES)
def test_expert_episode_prompts_follow_the_formula(env_id, interface_class):
    interface = interface_class()
    env = gymnasium.make(env_id, frame_size=32)
    expert = vldac.envs.expert_for(env_id)
    _, step_info = env.reset(seed=2)
    texts, done = [], False
    while not done:
        texts.append(interface.instruction(step_info))
        action = expert(step_info)
        assert interface.parse(interface.demonstration(step_info, action)).action == action
        _, _, terminated, truncated, step_info = env.step(action)
        done = terminated or truncated
    assert step_info["success"] is True
    assert f'Formula so far: "{step_info["formula_text"]}".' in texts[-1]
    assert len(set(texts)) == len(texts)  # each step shows a longer formula
