"""Language interface layer: frame history, chat structure, NumberLine's prompt, the registry."""

import numpy as np
import pytest

from vldac.agents import (
    FrameHistory,
    LanguageInterface,
    NumberLineInterface,
    build_messages,
    interface_for,
)


def frame(value: int) -> np.ndarray:
    return np.full((4, 4, 3), value, dtype=np.uint8)


def values(frames: list) -> list[int]:
    return [int(f[0, 0, 0]) for f in frames]


def test_history_of_one_keeps_only_the_newest_frame():
    history = FrameHistory(1)
    history.reset(0, frame(0))
    assert values(history.frames(0)) == [0]
    history.push(0, frame(1))
    history.push(0, frame(2))
    assert values(history.frames(0)) == [2]


def test_history_of_four_grows_without_padding_then_slides_oldest_first():
    history = FrameHistory(4)
    history.reset(0, frame(0))
    assert values(history.frames(0)) == [0]
    history.push(0, frame(1))
    assert values(history.frames(0)) == [0, 1]
    for v in range(2, 7):
        history.push(0, frame(v))
    assert values(history.frames(0)) == [3, 4, 5, 6]


def test_history_keeps_environments_apart_and_reset_clears_one():
    history = FrameHistory(3)
    history.reset(0, frame(10))
    history.reset(1, frame(20))
    history.push(0, frame(11))
    history.push(1, frame(21))
    history.push(1, frame(22))
    history.reset(0, frame(30))
    assert values(history.frames(0)) == [30]
    assert values(history.frames(1)) == [20, 21, 22]


def test_history_errors():
    with pytest.raises(ValueError, match="at least 1"):
        FrameHistory(0)
    with pytest.raises(KeyError, match="reset"):
        FrameHistory(2).push(5, frame(0))


def test_build_messages_places_images_oldest_first_then_the_text():
    assert build_messages("do it", 3) == [
        {
            "role": "user",
            "content": [
                {"type": "image"},
                {"type": "image"},
                {"type": "image"},
                {"type": "text", "text": "do it"},
            ],
        }
    ]
    one_frame = build_messages("do it", 1)[0]["content"]
    assert one_frame == [{"type": "image"}, {"type": "text", "text": "do it"}]


def test_numberline_instruction_is_short_and_holds_no_numbers():
    text = NumberLineInterface().instruction({})
    assert not any(char.isdigit() for char in text)
    assert '"-"' in text and '"+"' in text and '"action"' in text
    assert len(text) < 300


@pytest.mark.parametrize("action", [0, 1])
def test_numberline_demonstration_round_trips(action):
    interface = NumberLineInterface()
    info = {"target": 3, "current": 1, "success": False}
    text = interface.demonstration(info, action)
    assert text == f'{{"thoughts": "target 3, current 1", "action": "{"-+"[action]}"}}'
    parsed = interface.parse(text)
    assert (parsed.action, parsed.thoughts, parsed.error) == (action, "target 3, current 1", None)


def test_interface_for():
    interface = interface_for("vldac/NumberLine-v0")
    assert isinstance(interface, NumberLineInterface) and isinstance(interface, LanguageInterface)
    assert interface.action_names == ["-", "+"]
    with pytest.raises(ValueError, match="vldac/Nope-v0.*vldac/NumberLine-v0"):
        interface_for("vldac/Nope-v0")
