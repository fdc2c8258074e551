"""WebShop's reward for buying a product with some options, as the original computes it:

    R = r_type x (attributes matched + options matched + [price <= bound]) / (attributes + options + 1)

- r_type, the product type: 1 when the bought product shares the goal's search query, two levels
  of its category path, or more than 0.2 of the goal product name's nouns; else 0.5; 0.1 when
  under 0.1 of those nouns are shared; 0 when none is. The original tags a name's nouns with
  spaCy (NOUN or PROPN), which in a title-case product name is nearly every word: under the
  ``original`` rules a name's nouns are its words less function words and numbers (``title_nouns``,
  measured against spaCy in benchmarks/webshop_reward); under ``strict`` they are the words
  found in the catalogue's noun lexicon (the brand, material and kind words names are made of).
- An attribute matches when one of the product's attributes is a fuzzy match (token-set ratio
  over 85, rapidfuzz with thefuzz's processing and rounding: characters 128-255 removed, as its
  force_ascii does, other non-alphanumerics as spaces, lower case) or it is written in the
  product's title, bullet points or description.
- An option matches under one of two rules (``RULES``):
  ``original``, the original's: every goal value and every chosen value is first normalised to
  the first colour word of COLOUR_WORDS it contains (so "navy blue" and "light blue" are both
  "blue"), then a goal value matches when any chosen value is a fuzzy match, sizes included (so
  "8" matches "8.5", "small" matches "x-small" and "pack of 2" matches "pack of 12"). The
  default for held-out instructions and for any number compared with published WebShop scores.
  ``strict``, vldac's: a size only exactly, any other option a fuzzy match with a chosen value,
  colours as written. The default for training instructions (a policy cannot earn a size's
  reward with a neighbouring size).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from rapidfuzz import fuzz, utils

from vldac.envs.webshop.catalogue import Goal, Product

MATCH = 85
"""The original's fuzzy threshold (a token-set ratio over it matches)."""
RULES = ("original", "strict")
"""How options are matched (see the module's docstring)."""
COLOUR_WORDS = tuple(sorted((
    "alabaster", "apricot", "aqua", "ash", "asphalt", "azure", "banana", "beige", "black", "blue", "blush",
    "bordeaux", "bronze", "brown", "burgundy", "camel", "camo", "caramel", "champagne", "charcoal", "cheetah",
    "chestnut", "chocolate", "christmas", "coffee", "cognac", "copper", "coral", "cranberry", "cream", "crystal",
    "dark", "denim", "eggplant", "elephant", "espresso", "fuchsia", "gold", "granite", "grape", "graphite", "grass",
    "gray", "green", "grey", "heather", "indigo", "ivory", "ivy", "khaki", "lavender", "lemon", "leopard", "light",
    "lilac", "lime", "magenta", "maroon", "mauve", "merlot", "midnight", "mint", "mocha", "multicolor", "mushroom",
    "mustard", "natural", "navy", "nude", "olive", "orange", "peach", "pewter", "pink", "plum", "purple", "rainbow",
    "red", "rose", "royal", "rust", "sand", "sapphire", "seashell", "silver", "skull", "slate", "steel", "stone",
    "stonewash", "sunflower", "tan", "taupe", "teal", "tiger", "turquoise", "violet", "walnut", "wheat", "white",
    "wine", "yellow",
)))
"""The original's colour words, in the (alphabetical) order it tries them: a value normalises to the
first one it contains as a substring."""
LATIN_1 = str.maketrans("", "", "".join(chr(code) for code in range(128, 256)))
"""Deletes the characters thefuzz's force_ascii removes (codes 128-255; higher ones are kept)."""


def thefuzz_process(text: str) -> str:
    """thefuzz's full_process: characters 128-255 removed, non-alphanumerics as spaces, lower case, stripped."""
    return utils.default_process(text.translate(LATIN_1))


def similarity(first: str, second: str) -> int:
    """thefuzz's token_set_ratio (its processing, rounded), computed by rapidfuzz."""
    return round(fuzz.token_set_ratio(first, second, processor=thefuzz_process))


def normalise_colour(value: str) -> str:
    """The first of COLOUR_WORDS that ``value`` contains, else ``value`` (the original's normalisation)."""
    return next((colour for colour in COLOUR_WORDS if colour in value), value)


FUNCTION_WORDS = frozenset({"a", "an", "and", "as", "at", "by", "down", "for", "from", "in", "into", "of", "off",
                            "on", "or", "out", "over", "the", "to", "up", "with"})
"""Words spaCy tags as determiners, conjunctions or adpositions in product names (never nouns)."""


def nouns(name: str, lexicon: Collection[str]) -> list[str]:
    """The words of a product name that are nouns (in ``lexicon``), lower case, in order."""
    return [word for word in re.findall(r"[a-z0-9]+", name.lower()) if word in lexicon]


def title_nouns(name: str) -> list[str]:
    """A product name's nouns as spaCy tags a title-case name: its words, lower case, less
    FUNCTION_WORDS and numbers."""
    return [word for word in re.findall(r"[a-z0-9]+", name.lower())
            if word not in FUNCTION_WORDS and not word.isdigit()]


@dataclass(frozen=True)
class Reward:
    """The reward and its parts."""

    reward: float
    type_reward: float
    attributes_matched: int
    options_matched: int
    price_ok: bool
    title_score: float


def type_reward(product: Product, goal: Goal, lexicon: Collection[str], rules: str) -> tuple[float, float]:
    """(r_type, title score): nouns and the query compared as the rules say (the original compares
    queries exactly as written, strict after stripping and lower-casing)."""
    if rules == "original":
        query_match = product.query == goal.query
        product_nouns, goal_nouns = title_nouns(product.name), title_nouns(goal.name)
    else:
        query_match = product.query.strip().lower() == goal.query.strip().lower()
        product_nouns, goal_nouns = nouns(product.name, lexicon), nouns(goal.name, lexicon)
    path = {level.strip() for level in product.product_category.split("›")}
    category_match = len(path & {level.strip() for level in goal.product_category.split("›")}) >= 2
    title_score = (len(set(product_nouns) & set(goal_nouns)) / len(goal_nouns)) if goal_nouns else 0.2
    reward = 1.0
    if not (query_match or category_match or title_score > 0.2):
        reward = 0.5
    if title_score < 0.1:
        reward = 0.1
    if title_score == 0:
        reward = 0.0
    return reward, title_score


def attribute_matched(attribute: str, product: Product) -> bool:
    if any(similarity(own, attribute) > MATCH for own in product.attributes):
        return True
    texts = (product.name, " ".join(product.bullet_points), product.description)
    return any(attribute.lower() in text.lower() for text in texts)


def option_matched(name: str, value: str, chosen: dict[str, str], rules: str) -> bool:
    """Whether the goal's option ``name: value`` is met by the ``chosen`` options under ``rules``."""
    if rules == "original":
        wanted = normalise_colour(value)
        return any(similarity(normalise_colour(picked), wanted) > MATCH for picked in chosen.values())
    if name == "size":
        return chosen.get("size", "").strip().lower() == value.strip().lower()
    return any(similarity(picked, value) > MATCH for picked in chosen.values())


def reward(product: Product, goal: Goal, chosen: dict[str, str], lexicon: Collection[str], rules: str) -> Reward:
    """The reward for buying ``product`` with the ``chosen`` options (name -> value) under ``goal``,
    options matched under ``rules`` ("original" or "strict")."""
    if rules not in RULES:
        raise ValueError(f"WebShop reward rules '{rules}' are unknown; use one of {', '.join(RULES)}.")
    r_type, title_score = type_reward(product, goal, lexicon, rules)
    attributes = sum(attribute_matched(attribute, product) for attribute in goal.attributes)
    options = sum(option_matched(name, value, chosen, rules) for name, value in goal.options.items())
    price_ok = product.price <= goal.price_upper
    value = r_type * (attributes + options + price_ok) / (len(goal.attributes) + len(goal.options) + 1)
    return Reward(value, r_type, attributes, options, price_ok, title_score)
