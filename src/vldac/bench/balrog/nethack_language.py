"""NetHack's screen in words, as BALROG shows it: the language observation of
nle-language-wrapper (its C++ ``nle_language_obsv``, which BALROG loads from its fork of NLE),
restated from nle's own glyph tables so that it runs on the PyPI release of nle.

- ``describe_glyphs``: what is around the player. Every notable thing on the whole map (monsters,
  objects, doors, stairs, fountains, ...) and the walls, floors' edges and traps met by rays cast
  in eight directions up to nine squares (a ray stops at the first wall, dark area or closed door),
  as "<name> <distance> <directions>" lines, farthest first, things of one name and distance on
  one line ("horizontal wall very near north, northeast, and south"; a name met more than once in
  one direction is written in the plural).
- ``describe_message``: the top line (more lines for a menu or a --More-- text).
- ``describe_cursor``, ``describe_inventory``, ``describe_statistics``.

Distances are Chebyshev: 1 adjacent, 2 very near, 3-5 near, 6-19 far, else very far. Directions
are one of 16 (north, northnortheast, northeast, eastnortheast, east, ...). The quirks of the
original are kept where they change the text (a few names, the duplicated plural line of a name
that is its own plural, the whitespace a message is trimmed of).
"""

from __future__ import annotations

import numpy as np

from vldac.bench.balrog.game import GameUnavailable

try:
    from nle import nethack
except ImportError as error:
    raise GameUnavailable("MiniHack and NetHack need nle: pip install --no-deps nle==1.3.0 minihack==1.0.2 "
                          "(see the README's 'vldac bench' set-up).") from error

MAP_WIDTH, MAP_HEIGHT = 79, 21
MAP_FEATURES = (
    "dark area", "vertical wall", "horizontal wall", "northwest room corner", "northeast room corner",
    "southwest corner", "southeast corner", "cross wall", "t up wall", "t down wall", "t west wall", "t east wall",
    "doorway", "vertical open door", "horizontal open door", "vertical closed door", "horizontal closed door", "bars",
    "tree", "room floor", "dark room floor", "corridor floor", "lit corridor floor", "stairs up", "stairs down",
    "ladder up", "ladder down", "alter", "grave", "throne", "sink", "fountain", "pool", "ice", "lava",
    "vertical lowered drawbridge", "horizontal lowered drawbridge", "vertical raised drawbridge",
    "horizontal raised drawbridge", "air floor", "cloud floor", "water floor", "arrow trap", "dart trap",
    "falling rock trap", "squeaky board", "bear trap", "land mine", "rolling boulder trap", "sleeping gas trap",
    "rust trap", "fire trap", "pit", "spiked pit", "hole", "trap door", "teleportation trap", "level teleporter",
    "magic portal", "web", "statue trap", "magic trap", "anti magic trap", "polymorph trap", "vibrating square",
    "vertical beam", "horizontal beam", "left slant beam", "right slant beam", "dig beam", "flash beam", "boom left",
    "boom right", "shield 1", "shield 2", "shield 3", "shield 4", "poison cloud", "valid position",
    "swallow top left", "swallow top center", "swallow top right", "swallow middle left", "swallow middle right",
    "swallow bottom left", "swallow bottom center", "swallow bottom right", "explosion top left",
    "explosion top center", "explosion top right", "explosion middle left", "explosion middle center",
    "explosion middle right", "explosion bottom left", "explosion bottom center", "explosion bottom right",
)
"""The names of NetHack's map symbols (cmap), in its order ("alter" as the original spells it)."""
FLOORS = {"room floor", "dark room floor", "corridor floor", "lit corridor floor"}
SEEN_ANYWHERE = {
    "horizontal closed door", "vertical closed door", "bars", "tree", "stairs up", "stairs down", "ladder up",
    "ladder down", "alter", "grave", "throne", "sink", "fountain", "pool", "ice", "lava",
    "vertical raised drawbridge", "horizontal raised drawbridge",
}
"""Map symbols described wherever they are on the map; the others only where a ray meets them."""
STOPS_A_RAY = {
    "dark area", "vertical wall", "horizontal wall", "northwest room corner", "northeast room corner",
    "southwest corner", "southeast corner", "cross wall", "t up wall", "t down wall", "t west wall", "t east wall",
    "horizontal closed door", "vertical closed door", "horizontal raised drawbridge", "vertical raised drawbridge",
}
WARNINGS = tuple(f"unknown creature causing you {feeling}"
                 for feeling in ("worry", "concern", "anxiety", "disquiet", "alarm", "dread"))
SWALLOWED = MAP_FEATURES[79:87]
ZAPS = ("horizontal zap beam", "vertical zap beam", "left slant zap beam", "right slant zap beam")
EXPLOSIONS = MAP_FEATURES[87:96]
DISTANCES = ("very far", "far", "near", "very near", "adjacent")
"""In the order lines are written: farthest first."""
DIRECTIONS = ("north", "northnortheast", "northeast", "eastnortheast", "east", "eastsoutheast", "southeast",
              "southsoutheast", "south", "southsouthwest", "southwest", "westsouthwest", "west", "westnorthwest",
              "northwest", "northnorthwest")
RAYS = ((1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1))
"""(columns east, rows south) steps: east, southeast, south, southwest, west, northwest, north, northeast."""
RAY_LENGTH = 9


def _monster(glyph: int) -> str:
    return nethack.permonst(nethack.glyph_to_mon(glyph)).mname


def _object(glyph: int) -> str:
    """An object's name as the original words it by its class."""
    index = nethack.glyph_to_obj(glyph)
    description = nethack.objdescr.from_idx(index)
    name, looks = description.oc_name or "", description.oc_descr or ""
    kind = ord(nethack.objclass(index).oc_class)
    if kind in (nethack.ILLOBJ_CLASS, nethack.WEAPON_CLASS, nethack.COIN_CLASS, nethack.ROCK_CLASS,
                nethack.BALL_CLASS, nethack.CHAIN_CLASS):
        return name
    if kind in (nethack.ARMOR_CLASS, nethack.TOOL_CLASS):
        return looks or name
    suffixed = {nethack.RING_CLASS: " ring", nethack.POTION_CLASS: " potion", nethack.SPBOOK_CLASS: " spellbook",
                nethack.WAND_CLASS: " wand"}
    if kind in suffixed:
        return looks + suffixed[kind]
    if kind == nethack.AMULET_CLASS:
        return looks if "Amulet" in looks else looks + " amulet"
    if kind == nethack.FOOD_CLASS:
        return name + looks
    if kind == nethack.SCROLL_CLASS:
        return "scroll labeled " + looks
    if kind == nethack.GEM_CLASS:
        return name if looks in name else f"{looks} {name}"
    if kind == nethack.VENOM_CLASS:
        return "splash of " + name
    return ""


def _seen_anywhere(glyph: int) -> str:
    """The name of what the glyph shows when it is described wherever it is, else ""."""
    offsets = (
        (nethack.GLYPH_STATUE_OFF, lambda g: _monster(g) + " statue"),
        (nethack.GLYPH_WARNING_OFF, lambda g: WARNINGS[nethack.glyph_to_warning(g)]),
        (nethack.GLYPH_SWALLOW_OFF, lambda g: SWALLOWED[(g - nethack.GLYPH_SWALLOW_OFF) % 8]),
        (nethack.GLYPH_ZAP_OFF, lambda g: ZAPS[(g - nethack.GLYPH_ZAP_OFF) % 4]),
        (nethack.GLYPH_EXPLODE_OFF, lambda g: EXPLOSIONS[(g - nethack.GLYPH_EXPLODE_OFF) % nethack.MAXEXPCHARS]),
        (nethack.GLYPH_CMAP_OFF, lambda g: _feature(g) if _feature(g) in SEEN_ANYWHERE else ""),
        (nethack.GLYPH_OBJ_OFF, _object),
        (nethack.GLYPH_RIDDEN_OFF, lambda g: "ridden " + _monster(g)),
        (nethack.GLYPH_BODY_OFF, lambda g: nethack.permonst(g - nethack.GLYPH_BODY_OFF).mname + " corpse"),
        (nethack.GLYPH_DETECT_OFF, lambda g: "detected " + _monster(g)),
        (nethack.GLYPH_INVIS_OFF, lambda g: "invisible creature"),
        (nethack.GLYPH_PET_OFF, lambda g: "tame " + _monster(g)),
    )
    for offset, name in offsets:
        if glyph >= offset:
            return name(glyph)
    return _monster(glyph)


def _feature(glyph: int) -> str:
    return MAP_FEATURES[nethack.glyph_to_cmap(glyph)]


def _seen_by_rays(glyph: int) -> str:
    """The name of a map symbol described only where a ray meets it (walls, doorways, traps), else ""."""
    if nethack.GLYPH_CMAP_OFF <= glyph < nethack.GLYPH_EXPLODE_OFF:
        feature = _feature(glyph)
        return feature if feature not in FLOORS and feature not in SEEN_ANYWHERE else ""
    return ""


def plural(name: str) -> str:
    """The original's English plural of a name."""
    if name.endswith(("boots", "shoes", "scales", "lenses", "bars")):
        return name
    irregular = {"can of grease": "cans of grease", "Master of Thieves": "Masters of Thieves", "ice": "area of ice",
                 "lava": "area of lava"}
    if name in irregular:
        return irregular[name]
    for head in ("boom", "shield", "swallow", "scroll", "worthless piece", "unknown creature"):
        if name.startswith(head + " "):
            return f"{head}s {name[len(head) + 1:]}"
    if len(name) < 2:
        return name + "s"
    if name[-1] == "y" and name[-2] not in "aeiou":
        return name[:-1] + "ies"
    if name[-1] in "zx" or name[-2:] in ("sh", "ss"):
        return name + "es"
    if name[-1] == "f":
        return (name[:-2] if name[-2] == "f" else name[:-1]) + "ves"
    if name[-1] == "s":
        return name + "es"
    return name + "s"


SEEN_ANYWHERE_NAMES = [_seen_anywhere(glyph) for glyph in range(nethack.MAX_GLYPH)]
SEEN_BY_RAYS_NAMES = [_seen_by_rays(glyph) for glyph in range(nethack.MAX_GLYPH)]
"""Per glyph: its name when described anywhere / where a ray meets it ("" when not)."""


def _distance(steps: int) -> str:
    if steps == 1:
        return "adjacent"
    if steps == 2:
        return "very near"
    if steps < 6:
        return "near"
    return "far" if steps < 20 else "very far"


def distance_and_direction(east: int, north: int) -> tuple[str, str]:
    """The words for a square ``east`` columns east and ``north`` rows north of the player: the
    diagonal part names the quadrant, the rest the straight part before it ("northnortheast")."""
    diagonal_steps = min(abs(east), abs(north))
    diagonal = ""
    if diagonal_steps:
        diagonal = ("south" if north < 0 else "north") + ("west" if east < 0 else "east")
    straight_north = north - diagonal_steps if north > 0 else north + diagonal_steps
    straight_east = east - diagonal_steps if east > 0 else east + diagonal_steps
    direction = ("south" if straight_north < 0 else "north" if straight_north > 0 else "")
    direction += ("west" if straight_east < 0 else "east" if straight_east > 0 else "") + diagonal
    return _distance(max(abs(east), abs(north))), direction


def _listed(words: list[str]) -> str:
    if len(words) == 1:
        return words[0]
    if len(words) == 2:
        return f"{words[0]} and {words[1]}"
    return ", ".join(words[:-1]) + ", and " + words[-1]


def describe_glyphs(glyphs: np.ndarray, blstats: np.ndarray) -> str:
    """The language observation: ``glyphs`` [21, 79] int, ``blstats`` [27] (the player at columns
    blstats[0], row blstats[1])."""
    glyphs = np.asarray(glyphs).reshape(MAP_HEIGHT, MAP_WIDTH)
    column, row = int(blstats[0]), int(blstats[1])
    seen: list[tuple[str, str, str]] = []
    for y in range(MAP_HEIGHT):
        for x in range(MAP_WIDTH):
            name = SEEN_ANYWHERE_NAMES[glyphs[y, x]]
            if name and (x, y) != (column, row):
                seen.append((name, *distance_and_direction(x - column, row - y)))
    for step_east, step_south in RAYS:
        for length in range(1, RAY_LENGTH + 1):
            x, y = column + step_east * length, row + step_south * length
            if not (0 <= x < MAP_WIDTH and 0 <= y < MAP_HEIGHT):
                break
            glyph = glyphs[y, x]
            name = SEEN_BY_RAYS_NAMES[glyph]
            if name and not SEEN_ANYWHERE_NAMES[glyph]:
                seen.append((name, *distance_and_direction(x - column, row - y)))
                if name in STOPS_A_RAY:
                    break
    seen.sort(key=lambda thing: (DISTANCES.index(thing[1]), DIRECTIONS.index(thing[2])))
    directions: dict[tuple[str, str], list[str]] = {}
    for name, distance, direction in seen:
        directions.setdefault((name, distance), []).append(direction)
    lines: list[tuple[str, str]] = []
    grouped: dict[tuple[str, str], list[str]] = {}
    for (name, distance), met in directions.items():
        once = [direction for direction in dict.fromkeys(met) if met.count(direction) == 1]
        more = [direction for direction in dict.fromkeys(met) if met.count(direction) > 1]
        if once:
            lines.append((name, distance))
            grouped[name, distance] = once
        if more:  # the plural's line; a name that is its own plural replaces its singular line's directions
            lines.append((plural(name), distance))
            grouped[plural(name), distance] = more
    return "\n".join(f"{name} {distance} {_listed(grouped[name, distance])}" for name, distance in lines)


def describe_cursor(glyphs: np.ndarray, blstats: np.ndarray, tty_cursor: np.ndarray) -> str:
    """What the terminal's cursor is on: "Yourself a <name>" on the player, else where and what."""
    glyphs = np.asarray(glyphs).reshape(-1)
    column, row = int(blstats[0]), int(blstats[1])
    x, y = int(tty_cursor[1]), int(tty_cursor[0]) - 1
    east, north = x - column, row - y
    index = x + y * MAP_WIDTH
    if not (-MAP_WIDTH <= east < MAP_WIDTH and -MAP_HEIGHT <= north < MAP_HEIGHT and 0 < index < glyphs.size):
        return ""
    name = SEEN_ANYWHERE_NAMES[glyphs[index]]
    if east == 0 and north == 0:
        return "Yourself a " + name
    distance, direction = distance_and_direction(east, north)
    return f"{distance} {direction} {name}"


def describe_inventory(inv_strs: np.ndarray, inv_letters: np.ndarray) -> str:
    """One "<letter>: <item>" line per inventory slot, up to the first empty one."""
    lines = []
    for text, letter in zip(inv_strs, inv_letters, strict=False):
        if letter == 0:
            break
        item = bytes(text).split(b"\0")[0].decode("latin-1")
        lines.append(f"{chr(letter)}: {item}")
    return "\n".join(lines)


def _trimmed(text: str) -> str:
    """The original's trim: spaces and \\x1a off both ends; a line whose text starts at its last
    character reads as empty."""
    start = next((i for i, character in enumerate(text) if character not in " \x1a"), None)
    if start is None or start == len(text) - 1:
        return ""
    return text[start:].rstrip(" \x1a")


def describe_message(tty_chars: np.ndarray) -> str:
    """The message: the top terminal line, or the lines of a menu / text up to its "--More--",
    "(end)" or "(N of M)"; a death screen's lines up to two blank rows."""
    rows = [bytes(row).decode("latin-1") for row in np.asarray(tty_chars)]
    first, second = rows[0], _trimmed(rows[1])
    indent = len(first) - len(first.lstrip(" ")) if first.strip(" ") else 0
    first = _trimmed(first)
    if not first and not second:
        return ""
    death = "Points" in second or "list!" in second
    text, blank_rows = "", 0
    for row in rows:
        line = _trimmed(row[indent:])
        blank_rows = blank_rows + 1 if not line else 0
        of = line.find(" of ")
        pages = of >= 2 and of + 5 < len(line) and line[of - 2] == "(" and line[of + 5] == ")"
        text += line
        if pages or "--More--" in line or "(end)" in line:
            return text
        if line:
            text += "\n"
        if death and blank_rows > 1:
            return text
    return first


HUNGER = ("Satiated", "Not Hungry", "Hungry", "Weak", "Fainting", "Fainted", "Starved")
ENCUMBRANCE = ("Unencumbered", "Burdened", "Stressed", "Strained", "Overtaxed", "Overloaded")
ALIGNMENT = {-128: "None", 1: "Lawful", 0: "Neutral", -1: "Chaotic"}
CONDITIONS = (
    (nethack.BL_MASK_FLY, "Flying"), (nethack.BL_MASK_LEV, "Levitating"), (nethack.BL_MASK_HALLU, "Hallucinating"),
    (nethack.BL_MASK_CONF, "Confused"), (nethack.BL_MASK_STUN, "Stunned"), (nethack.BL_MASK_DEAF, "Deaf"),
    (nethack.BL_MASK_BLIND, "Blind"), (nethack.BL_MASK_TERMILL, "Terminally Ill"),
    (nethack.BL_MASK_FOODPOIS, "Food Poisoning"), (nethack.BL_MASK_STRNGL, "Strangled"),
    (nethack.BL_MASK_SLIME, "Slimed"), (nethack.BL_MASK_RIDE, "Riding"), (nethack.BL_MASK_STONE, "Stoned"),
)
"""In the order the original writes them."""


def describe_statistics(blstats: np.ndarray) -> str:
    """The bottom lines' statistics, one per line."""
    s = [int(value) for value in blstats]
    conditions = [name for mask, name in CONDITIONS if s[25] & mask]
    return "\n".join([
        f"Strength: {s[3]}/{s[2]}", f"Dexterity: {s[4]}", f"Constitution: {s[5]}", f"Intelligence: {s[6]}",
        f"Wisdom: {s[7]}", f"Charisma: {s[8]}", f"Depth: {s[12]}", f"Gold: {s[13]}", f"HP: {s[10]}/{s[11]}",
        f"Energy: {s[14]}/{s[15]}", f"AC: {s[16]}", f"XP: {s[18]}/{s[19]}", f"Time: {s[20]}",
        f"Position: {s[0]}|{s[1]}", f"Hunger: {HUNGER[s[21]] if 0 <= s[21] < len(HUNGER) else ''}",
        f"Monster Level: {s[17]}", f"Encumbrance: {ENCUMBRANCE[s[22]] if 0 <= s[22] < len(ENCUMBRANCE) else ''}",
        f"Dungeon Number: {s[23]}", f"Level Number: {s[24]}", f"Score: {s[9]}", f"Alignment: {ALIGNMENT.get(s[26], '')}",
        "Condition: " + (" ".join(conditions) if conditions else "None"),
    ])
