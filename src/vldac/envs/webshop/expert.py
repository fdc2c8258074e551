"""WebShop's scripted expert: it reads the goal from the step's info, searches with the
instruction, pages through the results to the goal's product (at most the original's 5 pages;
when the instruction does not find it, it searches again with the product's name), picks the
goal's options and buys. It needs the goal, so it plays vldac's own shop only."""

from __future__ import annotations

from urllib.parse import unquote, urlparse

from vldac.envs.webshop.site import parse_options


def expert_action(info: dict) -> str:
    """The next action for the state an env's ``info`` describes."""
    goal = info.get("goal")
    if goal is None:
        raise ValueError("The WebShop expert reads the goal from info, which a user's server (server_url) does not give.")
    clickables = info["available_actions"]["clickables"]
    if info["available_actions"]["has_search_bar"]:
        searched = info.get("searches", [])
        return f"search[{goal['instruction'] if not searched else goal['name'].lower()}]"
    parts = urlparse(info["url"]).path.split("/")
    page = parts[1] if len(parts) > 1 else ""
    asin = goal["asin"].lower()
    if page == "search_results":
        if asin in clickables:
            return f"click[{asin}]"
        return "click[next >]" if "next >" in clickables and int(parts[-1]) < 5 else "click[back to search]"
    if page == "item_page":
        if parts[3].lower() != asin:
            return "click[< prev]"
        chosen = parse_options(unquote(parts[-1]))
        for name, value in goal["options"].items():
            if chosen.get(name) != value and value in clickables:
                return f"click[{value}]"
        return "click[buy now]"
    if page == "item_sub_page":
        return "click[< prev]"
    return "click[back to search]"
