"""Language interface of the WebShop world: the instruction, the page's available actions, thoughts
then one action in the original's grammar (``search[keywords]`` where the page has the search box,
``click[x]`` for a clickable x); anything else is invalid and never reaches the shop."""

from __future__ import annotations

import dataclasses
import re

from vldac.agents.base import LanguageInterface
from vldac.agents.parsing import ParsedAnswer, parse_action_text

MAX_ACTION_LENGTH = 500
"""As the world's (a longer action is invalid there)."""
ACTION = re.compile(r"(search|click)\[(.+)\]", re.IGNORECASE | re.DOTALL)
PAGES = ("search", "search_results", "item_page", "item_sub_page", "done")
"""The shop's page kinds (the first part of a page's path), the state key of demonstration mistakes."""


def page_kind(info: dict) -> str:
    path = info.get("url", "").split("://", 1)[-1].split("/")
    return path[1] if len(path) > 1 and path[1] in PAGES else "search"


class WebShopInterface(LanguageInterface):
    action_names: list[str] = []  # no fixed set: what can be clicked comes with each page

    def instruction(self, info: dict) -> str:
        available = info["available_actions"]
        actions = [*(["search[<keywords>]"] if available["has_search_bar"] else []),
                   *(f"click[{clickable}]" for clickable in available["clickables"] if clickable != "search")]
        return (
            f"You are shopping on a web site; the image shows the page. Instruction: {info['instruction']}\n"
            f"Available actions: {', '.join(actions)}.\n"
            'Answer as {"thoughts": "what to do next and why", "action": "<one available action>"}.'
        )

    def parse(self, text: str, info: dict | None = None) -> ParsedAnswer:
        """The action the answer names, as the world reads it, when this page allows it."""
        if info is None:
            raise ValueError("WebShop answers are parsed against the page's available actions: pass its info.")
        parsed = parse_action_text(text)
        if parsed.action is None:
            return parsed
        if len(parsed.action) > MAX_ACTION_LENGTH or not parsed.action.isprintable():
            return dataclasses.replace(parsed, action=None, error=f"the action is longer than {MAX_ACTION_LENGTH} "
                                       "characters or holds characters that cannot be typed")
        match = ACTION.fullmatch(parsed.action)
        available = info["available_actions"]
        if match is None:
            return dataclasses.replace(parsed, action=None, error=f"the action {parsed.action!r} is neither "
                                       "search[...] nor click[...]")
        name, argument = match.group(1).lower(), " ".join(match.group(2).split()).lower()
        if name == "search" and not available["has_search_bar"]:
            return dataclasses.replace(parsed, action=None, error="this page has no search box")
        if name == "click" and (argument not in available["clickables"] or argument == "search"):
            return dataclasses.replace(parsed, action=None, error=f"{argument!r} cannot be clicked on this page")
        return dataclasses.replace(parsed, action=f"{name}[{argument}]")

    def action_text(self, action: str) -> str:
        return action

    def thoughts(self, info: dict) -> str:
        """The kind of page, in few words (the expert's intent shows in its action)."""
        return {"search": "I search for the instruction", "search_results": "I look for the product",
                "item_page": "I pick the options and buy", "item_sub_page": "I go back to the product",
                "done": "done"}[page_kind(info)]

    def state_key(self, info: dict) -> list[int]:
        """``[page kind]``, an index into ``PAGES``."""
        return [PAGES.index(page_kind(info))]

    def mistaken_action(self, info: dict, action: str) -> str:
        """Instead of the expert's click, the next clickable (on an item page: another option value,
        a wrong option); a search is kept."""
        clickables = [clickable for clickable in info["available_actions"]["clickables"] if clickable != "search"]
        match = ACTION.fullmatch(action)
        if match is None or match.group(1) == "search" or not clickables:
            return action
        argument = match.group(2)
        following = clickables[(clickables.index(argument) + 1) % len(clickables)] if argument in clickables \
            else clickables[0]
        return f"click[{following}]"
