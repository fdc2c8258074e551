"""A frame of an ALFWorld game's current state, drawn by vldac from the engine's facts: where
the agent is (the receptacle, open or closed), the objects it can see there with their states,
and what it holds. Pillow's built-in font, no randomness: the same state gives the same pixels
on every machine with the same Pillow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

STATE_WORDS = {"isclean": "clean", "ishot": "hot", "iscool": "cold", "issliced": "sliced", "ison": "on"}
"""The object states a frame shows, by the domain's predicate."""
BACKGROUND, PANEL, INK, MUTED, ACCENT = (244, 241, 232), (255, 255, 255), (20, 20, 20), (95, 95, 95), (30, 90, 170)


@dataclass
class SceneView:
    """What the agent sees: ``place`` (the receptacle it is at, or None in the middle of the room),
    ``opened`` (None for a receptacle that does not open), the objects visible there and the ones
    it holds, each (name, [states])."""

    place: str | None = None
    opened: bool | None = None
    visible: list[tuple[str, list[str]]] = field(default_factory=list)
    held: list[tuple[str, list[str]]] = field(default_factory=list)


def scene_view(facts) -> SceneView:
    """The view of a state from its facts (textworld Propositions, names demangled)."""
    by_name: dict[str, list[list[str]]] = {}
    for fact in facts:
        by_name.setdefault(fact.name, []).append([argument.name for argument in fact.arguments])
    locations = {args[1] for args in by_name.get("atlocation", [])}
    place = next((r for r, loc in by_name.get("receptacleatlocation", []) if loc in locations), None)
    states: dict[str, list[str]] = {}
    for predicate, word in STATE_WORDS.items():
        for (name,) in by_name.get(predicate, []):
            states.setdefault(name, []).append(word)
    openable = {r for (r,) in by_name.get("openable", [])}
    opened = {r for (r,) in by_name.get("opened", [])}
    view = SceneView(place=place, opened=(place in opened) if place in openable else None)
    if place is not None and view.opened is not False:
        view.visible = sorted((o, states.get(o, [])) for o, r in by_name.get("inreceptacle", []) if r == place)
    view.held = sorted((o, states.get(o, [])) for _, o in by_name.get("holds", []))
    return view


@cache
def font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def draw_frame(view: SceneView, size: int = 224) -> np.ndarray:
    """The view as a [size, size, 3] uint8 frame: a title naming the place, a panel listing what
    is visible there (or "closed"), and the agent's hands at the bottom."""
    scale = size / 224
    image = Image.new("RGB", (size, size), BACKGROUND)
    draw = ImageDraw.Draw(image)
    title = font(max(8, round(15 * scale)))
    body = font(max(7, round(13 * scale)))
    margin = round(8 * scale)
    heading = f"at the {view.place}" if view.place else "in the middle of the room"
    if view.opened is not None:
        heading += " (open)" if view.opened else " (closed)"
    draw.text((margin, margin), heading, fill=INK, font=title)
    top, bottom = round(34 * scale), size - round(52 * scale)
    draw.rounded_rectangle((margin, top, size - margin, bottom), radius=round(6 * scale), fill=PANEL, outline=MUTED)
    if view.place is None:
        lines = ["go to a place to see it"]
    elif view.opened is False:
        lines = ["closed: open it to look inside"]
    else:
        lines = [_label(name, states) for name, states in view.visible] or ["nothing here"]
    line_height = round(16 * scale)
    for index, line in enumerate(lines[: max(1, (bottom - top - margin) // line_height)]):
        colour = INK if view.visible else MUTED
        draw.text((2 * margin, top + margin // 2 + index * line_height), line, fill=colour, font=body)
    hands = ", ".join(_label(name, states) for name, states in view.held) or "nothing"
    draw.text((margin, bottom + round(10 * scale)), f"holding: {hands}", fill=ACCENT, font=body)
    return np.asarray(image, dtype=np.uint8).copy()


def _label(name: str, states: list[str]) -> str:
    return f"{name} ({', '.join(states)})" if states else name
