"""Blackjack (Gym-Cards): hit or stand against the dealer, reading the cards from the frame.

Gymnasium's Blackjack-v1 rules with natural=False, sab=False: an infinite deck (ranks
1..13 equally likely; J, Q, K count 10; an ace counts 11 while that keeps the hand at 21 or
less, a "usable" ace, else 1). Reset deals the dealer two cards (the first face up) and
then the player two. "hit" deals the player a card: over 21 is a bust, reward -1, the
episode terminates. "stand" ends the hand: the dealer draws while its best total is under
17 (so it stands on soft 17), then reward +1 (win: dealer busts or ends lower), 0 (equal
totals) or -1 (dealer higher); the episode terminates. No bonus for a natural. success is
a won hand. `max_steps` truncates only as a safety limit (with the default of 10 it takes
ten hits without a bust).

The game draws its cards from self.np_random and nothing else, so the hands of a seed do
not depend on the frame size; the look of the frame (style, suits, card jitter, card back)
comes from a second generator seeded from it at reset. Card images are cached by rank,
suit and size, since text is the slow part of drawing a frame.

The expert is the optimal policy for these rules, computed exactly with fractions by
dynamic programming over the infinite deck (`hit_and_stand_values`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from fractions import Fraction
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from vldac.envs.cards import playing_cards, render
from vldac.envs.cards.table import CardTableEnv

STAND, HIT = 0, 1
DEALER_STANDS_AT = 17
OUTCOMES = {1: "win", 0: "draw", -1: "loss"}
CARD_VALUES = range(1, 11)

# Layout as fractions of the frame size: the two rows (label baseline, top and height of
# the cards' band), the width the cards may fill, the widest card, card width / height,
# the gap between cards (fraction of a card's width) and each card's jitter per axis.
DEALER_ROW = (0.09, 0.11, 0.35)
PLAYER_ROW = (0.56, 0.585, 0.35)
LABEL_SIZE = 0.06
ROW_WIDTH, CARD_WIDTH, CARD_ASPECT, CARD_GAP, CARD_JITTER = 0.9, 0.25, 0.714, 0.1, 0.01
# Card faces are white (playing_cards' default); backs are dark blue, red or green with a
# light pattern.
BACK_COLOURS = ((30, 50, 140), (140, 25, 35), (20, 100, 50))
BACK_PATTERN = (235, 235, 235)


def card_probability(value: int) -> Fraction:
    """Chance that a card from the infinite deck is worth `value` (1..10; 10 covers 10, J, Q, K)."""
    return Fraction(4, 13) if value == 10 else Fraction(1, 13)


def add_card(total: int, usable_ace: bool, value: int) -> tuple[int, bool]:
    """The best total and usable-ace flag of a hand (`total`, `usable_ace`) plus a card worth `value`."""
    hard = total - 10 * usable_ace + value
    usable_ace = (usable_ace or value == 1) and hard + 10 <= 21
    return hard + 10 * usable_ace, usable_ace


def hand_value(ranks: Iterable[int]) -> tuple[int, bool]:
    """The best total of a hand of ranks and whether it holds a usable ace."""
    total, usable_ace = 0, False
    for rank in ranks:
        total, usable_ace = add_card(total, usable_ace, min(rank, 10))
    return total, usable_ace


@functools.cache
def dealer_finals(total: int, usable_ace: bool) -> dict[int, Fraction]:
    """Exact distribution of the dealer's final total (17..21, or 0 for a bust, as in
    gymnasium's score) from a dealer hand with best total `total`: it draws while under 17."""
    if total > 21:
        return {0: Fraction(1)}
    if total >= DEALER_STANDS_AT:
        return {total: Fraction(1)}
    finals: dict[int, Fraction] = {}
    for value in CARD_VALUES:
        for final, chance in dealer_finals(*add_card(total, usable_ace, value)).items():
            finals[final] = finals.get(final, Fraction(0)) + card_probability(value) * chance
    return finals


def dealer_final_distribution(up_value: int) -> dict[int, Fraction]:
    """Distribution of the dealer's final total (0 = bust) given its up-card's value (ace = 1);
    the face-down card is an unseen draw from the infinite deck."""
    return dealer_finals(*add_card(0, False, up_value))


def stand_outcome(total: int, up_value: int) -> tuple[Fraction, Fraction]:
    """(expected return, win chance) of standing on `total` (at most 21) against `up_value`."""
    finals = dealer_final_distribution(up_value)
    win = sum((chance for final, chance in finals.items() if final < total), Fraction(0))
    loss = sum((chance for final, chance in finals.items() if final > total), Fraction(0))
    return win - loss, win


@functools.cache
def hit_and_stand_values(total: int, usable_ace: bool, up_value: int) -> tuple[Fraction, Fraction]:
    """Exact expected returns (stand, hit) of the player's hand (`total` <= 21, `usable_ace`)
    against the dealer's up-card `up_value`, playing optimally afterwards:

        stand = P(dealer busts or ends below total) - P(dealer ends above total)
        hit   = sum over card values v of P(v) * (-1 if bust else max(stand', hit'))

    The player's hard total grows with every card, so the recursion ends."""
    hit = Fraction(0)
    for value in CARD_VALUES:
        after = add_card(total, usable_ace, value)
        best = Fraction(-1) if after[0] > 21 else max(hit_and_stand_values(*after, up_value))
        hit += card_probability(value) * best
    return stand_outcome(total, up_value)[0], hit


def optimal_action(total: int, usable_ace: bool, up_value: int) -> int:
    """HIT when hitting has a strictly higher expected return than standing, else STAND."""
    if not (2 <= total <= 21 and 1 <= up_value <= 10):
        raise ValueError(f"no live blackjack state has player total {total} and dealer up-card value {up_value}.")
    stand, hit = hit_and_stand_values(total, usable_ace, up_value)
    return HIT if hit > stand else STAND


def expert_action(info: dict[str, Any]) -> int:
    """The optimal action index for a live Blackjack state, from its info."""
    return optimal_action(info["player_sum"], info["usable_ace"], info["dealer_value"])


def policy_outcome(hit_chance: Callable[[int, bool, int], float | Fraction]) -> tuple[Fraction, Fraction]:
    """Exact (expected return, win chance) over the initial deal of a policy that hits with
    probability hit_chance(player total, usable ace, dealer up-card value)."""

    @functools.cache
    def outcome(total: int, usable_ace: bool, up_value: int) -> tuple[Fraction, Fraction]:
        if total > 21:
            return Fraction(-1), Fraction(0)
        stand = stand_outcome(total, up_value)
        p = Fraction(hit_chance(total, usable_ace, up_value))
        if p == 0:
            return stand
        hit_return, hit_win = Fraction(0), Fraction(0)
        for value in CARD_VALUES:
            after_return, after_win = outcome(*add_card(total, usable_ace, value), up_value)
            hit_return += card_probability(value) * after_return
            hit_win += card_probability(value) * after_win
        return (1 - p) * stand[0] + p * hit_return, (1 - p) * stand[1] + p * hit_win

    expected, win = Fraction(0), Fraction(0)
    for up_value in CARD_VALUES:
        for first in CARD_VALUES:
            for second in CARD_VALUES:
                chance = card_probability(up_value) * card_probability(first) * card_probability(second)
                hand_return, hand_win = outcome(*add_card(*add_card(0, False, first), second), up_value)
                expected += chance * hand_return
                win += chance * hand_win
    return expected, win


@functools.cache
def _optimal_outcome() -> tuple[Fraction, Fraction]:
    return policy_outcome(optimal_action)


def optimal_value() -> float:
    """Exact expected return of the optimal policy from the initial deal (about -0.046)."""
    return float(_optimal_outcome()[0])


def optimal_win_rate() -> float:
    """Exact chance that the optimal policy wins a hand (about 0.43)."""
    return float(_optimal_outcome()[1])


class BlackjackEnv(CardTableEnv):
    """Hit or stand against the dealer, reading both hands from the frame.

    Observation: (frame_size, frame_size, 3) uint8 frame: the dealer's up-card and a
    face-down card on top (every dealer card once the hand is over), the player's cards below.
    Actions: 0 = "stand", 1 = "hit".
    info (every reset and step): success (bool), player_cards (ranks), player_sum (best
    total), usable_ace (bool), dealer_card (up-card rank), dealer_value (its value, ace = 1),
    dealer_cards (the up-card while playing, every dealer card once the hand is over),
    outcome (None while playing, else "win", "draw" or "loss"), steps (int).
    """

    def __init__(self, frame_size: int = 300, max_steps: int = 10, render_mode: str | None = None):
        super().__init__(frame_size, max_steps, render_mode, ["stand", "hit"])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.dealer = [self._draw_card(), self._draw_card()]
        self.player = [self._draw_card(), self._draw_card()]
        self.steps = 0
        self.outcome: str | None = None
        self.episode_over = False
        self._looks = np.random.default_rng(int(self.np_random.integers(2**63)))
        self.style = render.sample_style(self._looks, self.frame_size)
        self.card_back = int(self._looks.integers(len(BACK_COLOURS)))
        self._card_looks: dict[str, list[tuple[int, int, int]]] = {"dealer": [], "player": []}
        self._backdrop = self._draw_backdrop()
        self.frame = self._draw()
        return self.frame, self._info()

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is not in Discrete(2); use 0 for 'stand' or 1 for 'hit'.")
        if self.episode_over:
            raise RuntimeError("this Blackjack episode is over; call reset() to deal a new hand.")
        self.steps += 1
        reward = 0.0
        if action == HIT:
            self.player.append(self._draw_card())
            if hand_value(self.player)[0] > 21:
                reward, self.outcome = -1.0, "loss"
        else:
            while hand_value(self.dealer)[0] < DEALER_STANDS_AT:
                self.dealer.append(self._draw_card())
            sign = int(np.sign(_score(self.player) - _score(self.dealer)))
            reward, self.outcome = float(sign), OUTCOMES[sign]
        terminated = self.outcome is not None
        truncated = not terminated and self.steps >= self.max_steps
        self.episode_over = terminated or truncated
        self.frame = self._draw()
        return self.frame, reward, terminated, truncated, self._info()

    def _draw_card(self) -> int:
        """A rank 1..13 from the infinite deck."""
        return int(self.np_random.integers(1, 14))

    def _info(self) -> dict[str, Any]:
        player_sum, usable_ace = hand_value(self.player)
        return {
            "success": self.outcome == "win",
            "player_cards": list(self.player),
            "player_sum": player_sum,
            "usable_ace": usable_ace,
            "dealer_card": self.dealer[0],
            "dealer_value": min(self.dealer[0], 10),
            "dealer_cards": list(self.dealer) if self.outcome is not None else [self.dealer[0]],
            "outcome": self.outcome,
            "steps": self.steps,
        }

    def _draw_backdrop(self) -> Image.Image:
        """The episode's canvas with the row labels: what stays fixed from reset to the end."""
        size = self.frame_size
        image = render.new_canvas(size, self.style)
        draw = ImageDraw.Draw(image)
        for label, (baseline, _, _) in (("Dealer", DEALER_ROW), ("Player", PLAYER_ROW)):
            render.draw_text(draw, self.style, ((1 - ROW_WIDTH) / 2 * size, baseline * size), label, LABEL_SIZE * size)
        return image

    def _draw(self) -> np.ndarray:
        """The dealer's cards (the up-card and a back while playing) above the player's."""
        image = self._backdrop.copy()
        dealer_shown = self.dealer if self.outcome is not None else self.dealer[:1]
        self._draw_row(image, "dealer", dealer_shown, len(self.dealer) - len(dealer_shown), DEALER_ROW)
        self._draw_row(image, "player", self.player, 0, PLAYER_ROW)
        return render.finish(image, self.style)

    def _draw_row(
        self, image: Image.Image, name: str, ranks: list[int], face_down: int, row: tuple[float, float, float]
    ) -> None:
        """Face-up cards `ranks` then `face_down` backs, centred side by side in the row's
        band; cards shrink (keeping their shape) to fit the row's width."""
        size = self.frame_size
        _, top, height = (fraction * size for fraction in row)
        count = len(ranks) + face_down
        width = min(CARD_WIDTH * size, ROW_WIDTH * size / (count + CARD_GAP * (count - 1)))
        card_size = (max(1, round(width)), max(1, round(width / CARD_ASPECT)))
        step = width * (1 + CARD_GAP)
        left = (size - (count - 1) * step - width) / 2 + self.style.offset[0]
        upper = top + (height - width / CARD_ASPECT) / 2 + self.style.offset[1]
        looks = self._card_looks[name]
        jitter = round(CARD_JITTER * size)
        while len(looks) < count:
            suit = int(self._looks.integers(4))
            dx, dy = (int(d) for d in self._looks.integers(-jitter, jitter + 1, 2))
            looks.append((suit, dx, dy))
        for index, (suit, dx, dy) in enumerate(looks[:count]):
            if index < len(ranks):
                card = _card_face(ranks[index], suit, card_size)
            else:
                card = _card_back(self.card_back, card_size)
            image.paste(card, (round(left + index * step) + dx, round(upper) + dy), card)


def _score(ranks: list[int]) -> int:
    """Gymnasium's score of a hand: its best total, or 0 when bust."""
    total = hand_value(ranks)[0]
    return 0 if total > 21 else total


@functools.lru_cache(maxsize=4096)
def _card_face(rank: int, suit: int, card_size: tuple[int, int]) -> Image.Image:
    """An RGBA image of a face-up card, transparent outside its rounded corners (cached:
    text is the slow part of drawing a frame)."""
    image = Image.new("RGBA", card_size, (0, 0, 0, 0))
    playing_cards.draw_card(ImageDraw.Draw(image), (0, 0, card_size[0] - 1, card_size[1] - 1), rank, suit)
    return image


@functools.lru_cache(maxsize=256)
def _card_back(colour: int, card_size: tuple[int, int]) -> Image.Image:
    """An RGBA image of a face-down card in BACK_COLOURS[colour]: a dark rounded rectangle
    with a light inner border and a light diamond."""
    image = Image.new("RGBA", card_size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    width, height = card_size
    right, bottom = width - 1, height - 1
    line = max(1, width // 30)
    draw.rounded_rectangle(
        (0, 0, right, bottom),
        radius=max(2, round(0.12 * width)),
        fill=BACK_COLOURS[colour],
        outline=playing_cards.OUTLINE,
        width=max(1, width // 40),
    )
    inset = max(2, round(0.12 * width))
    draw.rectangle((inset, inset, right - inset, bottom - inset), outline=BACK_PATTERN, width=line)
    x, y, half_width, half_height = right / 2, bottom / 2, 0.25 * width, 0.25 * height
    diamond = [(x, y - half_height), (x + half_width, y), (x, y + half_height), (x - half_width, y)]
    draw.polygon(diamond, outline=BACK_PATTERN, width=line)
    return image
