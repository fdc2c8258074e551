"""vldac's NetHack language observation against BALROG's own (nle-language-wrapper's C++ module).

BALROG reads NetHack's screen with ``nle_language_obsv``, a compiled module of its fork of nle
(PyPI's balrog-nle). vldac restates it in Python over PyPI's nle. This script compares the two:
every glyph's name alone and in the plural, then every text (glyphs, message, cursor, inventory,
statistics) over random steps of NetHack and three MiniHack tasks, and prints the mismatches and
the time per observation.

The reference module is taken from the balrog-nle wheel without installing it (installing it
would replace nle):

    pip download balrog-nle==0.9.0 --no-deps -d /tmp/balrog-nle
    unzip -o -j /tmp/balrog-nle/balrog_nle-0.9.0-*.whl 'nle/nle_language_obsv*.so' -d /tmp/balrog-nle/reference
    python benchmarks/nethack_language_parity.py --reference /tmp/balrog-nle/reference
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from vldac.bench.balrog import nethack_language as ours
from vldac.bench.balrog.nethack import OBSERVATION_KEYS

WORLDS = (("NetHackChallenge-v0", 2000), ("MiniHack-Quest-Medium-v0", 1000), ("MiniHack-CorridorBattle-Dark-v0", 500),
          ("MiniHack-MazeWalk-15x15-v0", 500))


def texts_by_reference(reference, observation: dict) -> dict[str, str]:
    glyphs, blstats = observation["glyphs"], observation["blstats"]
    return {
        "glyphs": reference.text_glyphs(glyphs, blstats).decode("latin-1"),
        "message": reference.text_message(observation["tty_chars"]).decode("latin-1"),
        "cursor": reference.text_cursor(glyphs, blstats, observation["tty_cursor"]).decode("latin-1"),
        "inventory": reference.text_inventory(observation["inv_strs"], observation["inv_letters"]).decode("latin-1"),
        "statistics": reference.text_blstats(blstats).decode("latin-1"),
    }


def texts_by_vldac(observation: dict) -> dict[str, str]:
    glyphs, blstats = observation["glyphs"], observation["blstats"]
    return {
        "glyphs": ours.describe_glyphs(glyphs, blstats),
        "message": ours.describe_message(observation["tty_chars"]),
        "cursor": ours.describe_cursor(glyphs, blstats, observation["tty_cursor"]),
        "inventory": ours.describe_inventory(observation["inv_strs"], observation["inv_letters"]),
        "statistics": ours.describe_statistics(blstats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", required=True, help="folder holding nle_language_obsv*.so from balrog-nle")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sys.path.insert(0, args.reference)
    import gymnasium
    import minihack  # noqa: F401
    import nle_language_obsv
    from nle import nethack

    reference = nle_language_obsv.NLELanguageObsv()
    floor = nethack.GLYPH_CMAP_OFF + 19
    blstats = np.zeros(27, np.int64)
    blstats[0], blstats[1] = 40, 10
    mismatched = 0
    for glyph in range(nethack.MAX_GLYPH):
        glyphs = np.full((21, 79), floor, np.int16)
        for column in (43, 44):  # one of it, then two in one direction (the plural)
            glyphs[10, column] = glyph
            mismatched += reference.text_glyphs(glyphs, blstats).decode("latin-1") != ours.describe_glyphs(glyphs, blstats)
    print(f"glyph names: {mismatched} mismatches over {nethack.MAX_GLYPH} glyphs, alone and in the plural")
    for world, steps in WORLDS:
        env = gymnasium.make(world, observation_keys=OBSERVATION_KEYS)
        observation, _ = env.reset(seed=args.seed)
        actions = np.random.default_rng(args.seed)
        mismatches = dict.fromkeys(("glyphs", "message", "cursor", "inventory", "statistics"), 0)
        seconds = {"reference": 0.0, "vldac": 0.0}
        for _ in range(steps):
            start = time.perf_counter()
            expected = texts_by_reference(reference, observation)
            middle = time.perf_counter()
            got = texts_by_vldac(observation)
            seconds["reference"] += middle - start
            seconds["vldac"] += time.perf_counter() - middle
            for key in mismatches:
                mismatches[key] += expected[key] != got[key]
            observation, _, terminated, truncated, _ = env.step(int(actions.integers(env.action_space.n)))
            if terminated or truncated:
                observation, _ = env.reset()
        env.close()
        print(f"{world}: {steps} random steps, mismatches {mismatches}; per observation "
              f"{1000 * seconds['reference'] / steps:.2f} ms reference, {1000 * seconds['vldac'] / steps:.2f} ms vldac")


if __name__ == "__main__":
    main()
