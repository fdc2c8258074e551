"""Drawing helpers shared by the card worlds: canvas, text and seeded nuisance variation.

All randomness comes from a numpy Generator passed in, so a world's frames are
reproducible from its seed. Text uses Pillow's built-in scalable font
(`ImageFont.load_default(size=...)`), never a system font, so frames are identical on
every machine with the same Pillow.

A world draws a `Style` once per episode with `sample_style` and keeps it, so only the
game state changes between the frames of one episode, while unseen seeds give unseen
frames.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

Colour = tuple[int, int, int]

# Channel ranges of light and dark colours: any light colour against any dark one has a
# WCAG contrast ratio of at least 4.5 (the worst pair, (180,)*3 against (70,)*3, gives 4.55).
LIGHT_CHANNELS = (180, 255)
DARK_CHANNELS = (0, 70)


@functools.lru_cache(maxsize=256)
def font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's built-in scalable font at `size` pixels (cached)."""
    return ImageFont.load_default(size=size)


@dataclass(frozen=True, eq=False)
class Style:
    """Nuisance variation of one episode's frames, fixed from reset to the end.

    background, ink: RGB colours of the canvas and of the text (contrast ratio >= 4.5).
    offset: (dx, dy) in pixels, added to every text position.
    scale: multiplies every text size.
    noise: (H, W, 3) int16 pixel noise added to every finished frame.
    """

    background: Colour
    ink: Colour
    offset: tuple[int, int]
    scale: float
    noise: np.ndarray


def _random_colour(rng: np.random.Generator, channels: tuple[int, int]) -> Colour:
    low, high = channels
    return tuple(int(c) for c in rng.integers(low, high + 1, size=3))


def sample_style(
    rng: np.random.Generator,
    frame_size: int,
    max_offset: float = 0.04,
    scale_range: tuple[float, float] = (0.9, 1.1),
    max_noise_std: float = 6.0,
) -> Style:
    """Draw an episode's style: light-on-dark or dark-on-light colours, a shift of up to
    `max_offset` * frame_size pixels on each axis, a text scale in `scale_range` and
    Gaussian pixel noise with a standard deviation up to `max_noise_std`."""
    light, dark = _random_colour(rng, LIGHT_CHANNELS), _random_colour(rng, DARK_CHANNELS)
    background, ink = (light, dark) if rng.random() < 0.5 else (dark, light)
    shift = round(max_offset * frame_size)
    offset = tuple(int(d) for d in rng.integers(-shift, shift + 1, size=2))
    scale = float(rng.uniform(*scale_range))
    noise_std = rng.uniform(0.0, max_noise_std)
    noise = rng.standard_normal((frame_size, frame_size, 3), dtype=np.float32) * noise_std
    return Style(background, ink, offset, scale, noise.round().astype(np.int16))


def relative_luminance(colour: Colour) -> float:
    """WCAG relative luminance of an sRGB colour with 0..255 channels."""
    srgb = [c / 255 for c in colour]
    red, green, blue = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in srgb)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(a: Colour, b: Colour) -> float:
    """WCAG contrast ratio between two colours, from 1 (none) to 21 (black on white)."""
    high, low = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def new_canvas(frame_size: int, style: Style) -> Image.Image:
    """A square RGB image filled with the style's background colour."""
    return Image.new("RGB", (frame_size, frame_size), style.background)


def draw_text(
    draw: ImageDraw.ImageDraw,
    style: Style,
    xy: tuple[float, float],
    text: str,
    size: float,
    anchor: str = "ls",
    bold: bool = False,
) -> None:
    """Draw `text` in the style's ink at `xy` shifted by the style's offset, at `size`
    pixels times the style's scale. `anchor` is Pillow's two-letter text anchor
    ("ls" = left end of the baseline). `bold` thickens strokes for legibility at small sizes."""
    pixels = max(1, round(size * style.scale))
    x, y = xy[0] + style.offset[0], xy[1] + style.offset[1]
    stroke = max(1, pixels // 24) if bold else 0
    draw.text(
        (x, y), text, fill=style.ink, font=font(pixels), anchor=anchor, stroke_width=stroke, stroke_fill=style.ink
    )


def finish(image: Image.Image, style: Style) -> np.ndarray:
    """The image as an (H, W, 3) uint8 array with the style's pixel noise added."""
    return np.clip(np.asarray(image, dtype=np.int16) + style.noise, 0, 255).astype(np.uint8)
