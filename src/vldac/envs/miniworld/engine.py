"""Import Farama's MiniWorld for off-screen rendering: EGL, no X server, no GPU needed.

pyglet must be told it is headless BEFORE miniworld is imported (miniworld opens a hidden
window at import; with no display that raises NoSuchDisplayException).
"""

from __future__ import annotations

import sys
from types import ModuleType

INSTALL_EXTRA = "pip install 'vldac[miniworld]'"
INSTALL_OPENGL = "apt-get install libegl1 libgl1-mesa-dri (Debian/Ubuntu: the Mesa EGL and software OpenGL drivers)"


class MiniWorldUnavailable(RuntimeError):
    """Farama MiniWorld or the OpenGL libraries it renders with are missing."""


def load_miniworld() -> ModuleType:
    """The ``miniworld`` package, imported headless (idempotent); one clear sentence if it cannot be."""
    try:
        import pyglet
    except ImportError:
        raise MiniWorldUnavailable(f"MiniWorld worlds need the optional extra; install it with {INSTALL_EXTRA}.") from None
    if "miniworld" not in sys.modules:
        pyglet.options["headless"] = True
    try:
        import miniworld
    except ModuleNotFoundError as error:
        if error.name == "miniworld":
            raise MiniWorldUnavailable(
                f"MiniWorld worlds need the optional extra; install it with {INSTALL_EXTRA}."
            ) from None
        raise
    except (ImportError, OSError) as error:
        raise MiniWorldUnavailable(
            f"MiniWorld could not start OpenGL off-screen ({error}); install {INSTALL_OPENGL}."
        ) from None
    return miniworld
