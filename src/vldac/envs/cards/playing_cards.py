"""Drawing one playing card: a white rounded rectangle with a large rank and a small suit.

Ranks are 1..13, written "A", "2".."10", "J", "Q", "K". Suits (0 spades, 1 hearts,
2 diamonds, 3 clubs) are drawn as shapes made of polygons and ellipses, since Pillow's
built-in font has no suit glyphs. Hearts and diamonds are red, spades and clubs black.
The rank fills most of the card so that it stays legible on small frames.
"""

from __future__ import annotations

from PIL import ImageDraw

from vldac.envs.cards import render

SUIT_NAMES = ("spades", "hearts", "diamonds", "clubs")
RED, BLACK = (200, 16, 32), (16, 16, 16)
OUTLINE = (60, 60, 60)
FACE_LABELS = {1: "A", 11: "J", 12: "Q", 13: "K"}

# Layout as fractions of the card's height: the rank's centre and largest glyph height,
# the suit's centre and size. The rank is also kept within RANK_WIDTH of the card's width.
RANK_CENTRE, RANK_HEIGHT, RANK_WIDTH = 0.39, 0.50, 0.86
SUIT_CENTRE, SUIT_SIZE = 0.81, 0.22


def rank_label(rank: int) -> str:
    """"A", "2".."10", "J", "Q" or "K"."""
    if not 1 <= rank <= 13:
        raise ValueError(f"a card rank must be 1..13, got {rank}.")
    return FACE_LABELS.get(rank, str(rank))


def draw_card(
    draw: ImageDraw.ImageDraw,
    box: tuple[int, int, int, int],
    rank: int,
    suit: int,
    face: render.Colour = (255, 255, 255),
) -> None:
    """Draw a card filling `box` = (left, top, right, bottom) in pixels."""
    left, top, right, bottom = box
    width, height = right - left, bottom - top
    draw.rounded_rectangle(
        box, radius=max(2, round(0.12 * min(width, height))), fill=face, outline=OUTLINE, width=max(1, width // 40)
    )
    colour = RED if SUIT_NAMES[suit] in ("hearts", "diamonds") else BLACK
    label = rank_label(rank)
    size = _rank_font_size(label, RANK_WIDTH * width, RANK_HEIGHT * height)
    font = render.font(size)
    ink_left, ink_top, ink_right, ink_bottom = font.getbbox(label, anchor="ls")
    draw.text(  # the ink's box centred on the rank's centre
        (left + width / 2 - (ink_left + ink_right) / 2, top + RANK_CENTRE * height - (ink_top + ink_bottom) / 2),
        label,
        fill=colour,
        font=font,
        anchor="ls",
        stroke_width=max(1, size // 24),
        stroke_fill=colour,
    )
    _draw_suit(draw, (left + width / 2, top + SUIT_CENTRE * height), SUIT_SIZE * height, SUIT_NAMES[suit], colour)


def _rank_font_size(label: str, max_width: float, max_height: float) -> int:
    """The font size at which a digit is `max_height` tall, shrunk until `label` fits `max_width`."""
    reference = 100
    _, digit_top, _, digit_bottom = render.font(reference).getbbox("8", anchor="ls")
    size = int(max_height * reference / (digit_bottom - digit_top))
    while size > 1 and render.font(size).getlength(label) > max_width:
        size -= 1
    return max(1, size)


def _draw_suit(draw: ImageDraw.ImageDraw, centre: tuple[float, float], size: float, suit: str, colour) -> None:
    """A suit shape `size` pixels tall centred on `centre`."""
    x, y = centre
    half = size / 2
    if suit == "diamonds":
        draw.polygon([(x, y - half), (x + 0.75 * half, y), (x, y + half), (x - 0.75 * half, y)], fill=colour)
    elif suit == "hearts":
        lobe = 0.52 * half
        for dx in (-lobe, lobe):
            draw.ellipse((x + dx - lobe, y - half, x + dx + lobe, y - half + 2 * lobe), fill=colour)
        shoulder = y - half + 1.1 * lobe
        draw.polygon([(x - 2 * lobe, shoulder), (x + 2 * lobe, shoulder), (x, y + half)], fill=colour)
    elif suit == "spades":
        lobe = 0.45 * half
        for dx in (-lobe, lobe):
            draw.ellipse((x + dx - lobe, y + 0.35 * half - lobe, x + dx + lobe, y + 0.35 * half + lobe), fill=colour)
        draw.polygon([(x, y - half), (x + 2 * lobe, y + 0.35 * half), (x - 2 * lobe, y + 0.35 * half)], fill=colour)
        draw.polygon([(x, y + 0.2 * half), (x + 0.4 * half, y + half), (x - 0.4 * half, y + half)], fill=colour)
    else:  # clubs
        lobe = 0.40 * half
        for cx, cy in ((x, y - half + lobe), (x - 1.05 * lobe, y + 0.25 * half), (x + 1.05 * lobe, y + 0.25 * half)):
            draw.ellipse((cx - lobe, cy - lobe, cx + lobe, cy + lobe), fill=colour)
        draw.polygon([(x, y), (x + 0.4 * half, y + half), (x - 0.4 * half, y + half)], fill=colour)
