"""WebShop's reward for buying a product with some options, as the original computes it:

    R = r_type x (attributes matched + options matched + [price <= bound]) / (attributes + options + 1)

- r_type, the product type: 1 when the bought product shares the goal's search query, two levels
  of its category path, or more than 0.2 of the goal product name's nouns; else 0.5; 0.1 when
  under 0.1 of those nouns are shared; 0 when none is. Nouns are the name's words found in the
  catalogue's noun lexicon (the brand, material and kind words names are made of), where the
  original tags them with spaCy.
- An attribute matches when one of the product's attributes is a fuzzy match (token-set ratio
  over 85, rapidfuzz with thefuzz's processing and rounding) or it is written in the product's
  title, bullet points or description.
- An option matches: a size only exactly, any other a fuzzy match with a chosen value (vldac's
  rule: the original compares sizes fuzzily too, so "8" matched "8.5").
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from rapidfuzz import fuzz, utils

from vldac.envs.webshop.catalogue import Goal, Product

MATCH = 85
"""The original's fuzzy threshold (a token-set ratio over it matches)."""


def similarity(first: str, second: str) -> int:
    """thefuzz's token_set_ratio (lower case, punctuation as spaces, rounded), computed by rapidfuzz."""
    return round(fuzz.token_set_ratio(first, second, processor=utils.default_process))


def nouns(name: str, lexicon: Collection[str]) -> list[str]:
    """The words of a product name that are nouns (in ``lexicon``), lower case, in order."""
    return [word for word in re.findall(r"[a-z0-9]+", name.lower()) if word in lexicon]


@dataclass(frozen=True)
class Reward:
    """The reward and its parts."""

    reward: float
    type_reward: float
    attributes_matched: int
    options_matched: int
    price_ok: bool
    title_score: float


def type_reward(product: Product, goal: Goal, lexicon: Collection[str]) -> tuple[float, float]:
    """(r_type, title score)."""
    query_match = product.query.strip().lower() == goal.query.strip().lower()
    path = {level.strip() for level in product.product_category.split("›")}
    category_match = len(path & {level.strip() for level in goal.product_category.split("›")}) >= 2
    goal_nouns = nouns(goal.name, lexicon)
    title_score = (len(set(nouns(product.name, lexicon)) & set(goal_nouns)) / len(goal_nouns)) if goal_nouns else 0.2
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


def option_matched(name: str, value: str, chosen: dict[str, str]) -> bool:
    if name == "size":
        return chosen.get("size", "").strip().lower() == value.strip().lower()
    return any(similarity(picked, value) > MATCH for picked in chosen.values())


def reward(product: Product, goal: Goal, chosen: dict[str, str], lexicon: Collection[str]) -> Reward:
    """The reward for buying ``product`` with the ``chosen`` options (name -> value) under ``goal``."""
    r_type, title_score = type_reward(product, goal, lexicon)
    attributes = sum(attribute_matched(attribute, product) for attribute in goal.attributes)
    options = sum(option_matched(name, value, chosen) for name, value in goal.options.items())
    price_ok = product.price <= goal.price_upper
    value = r_type * (attributes + options + price_ok) / (len(goal.attributes) + len(goal.options) + 1)
    return Reward(value, r_type, attributes, options, price_ok, title_score)
