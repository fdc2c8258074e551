"""What a WebShop page says, as the original's text environment reads it from the page's HTML
(with BeautifulSoup, as it does): the visible text in its ``text_rich`` form, and what can be
clicked.

- ``text_rich``: every text of the page in order, one per line; a button's as
  "[button] <text> [button_]", an option's (a radio's label) as "  [button] <value> [button_]"
  or, when chosen, "  [clicked button] <value> [clicked button_]" (the page then starts "You have
  clicked <value>.", one line per chosen option, the last on the page first, as the original
  writes them), a product link as "[button] <asin> [button_]" ("[clicked button] ..." for a
  product visited since the last search).
- ``clickables``: the lower-cased texts of buttons and product links, then the option values, in
  page order without repeats; whether the page has the search box.
"""

from __future__ import annotations

from dataclasses import dataclass

from bs4 import BeautifulSoup, Comment

HIDDEN_PARENTS = {"style", "script", "head", "title", "meta", "[document]"}


@dataclass(frozen=True)
class PageText:
    text_rich: str
    clickables: list[str]
    has_search_bar: bool
    links: dict[str, str]
    """Clickable -> where clicking it goes: a URL path (the form's action or the link's href)."""
    products: frozenset[str]
    """The clickables that are product links (asins, lower case)."""


def read_page(html: str, chosen: dict[str, str] | None = None, visited: set[str] | frozenset = frozenset()) -> PageText:
    """The page's text and clickables; ``chosen`` option values are shown clicked, ``visited``
    asins (upper case) too."""
    soup = BeautifulSoup(html, "html.parser")
    chosen_values = set((chosen or {}).values())
    lines, clicked = [], []
    for node in soup.find_all(string=True):
        if node.parent.name in HIDDEN_PARENTS or isinstance(node, Comment) or node == "\n":
            continue
        text = node.strip()
        if not text:
            continue
        if node.parent.name == "button":
            lines.append(f"[button] {text} [button_]")
        elif node.parent.name == "label":
            if text in chosen_values:
                lines.append(f"  [clicked button] {text} [clicked button_]")
                clicked.append(text)
            else:
                lines.append(f"  [button] {text} [button_]")
        elif node.parent.get("class") == ["product-link"]:
            mark = "clicked button" if text.upper() in visited else "button"
            lines.append(f"\n[{mark}] {text} [{mark}_]")
        else:
            lines.append(str(node))
    # The original puts each "You have clicked" line before everything read so far: the last chosen
    # option on the page comes first.
    text_rich = "".join(f"You have clicked {value}.\n" for value in reversed(clicked)) + "".join(f"{line}\n" for line in lines)
    links: dict[str, str] = {}
    for element in soup.select(".btn"):
        form = element.find_parent("form")
        links.setdefault(element.get_text().strip().lower(), form.get("action", "") if form else "")
    products = set()
    for element in soup.select("a.product-link"):
        products.add(element.get_text().strip().lower())
        links.setdefault(element.get_text().strip().lower(), element.get("href", ""))
    for element in soup.select("input[type=radio]"):  # an option named as a button is the option, as originally
        links[element.get("value", "").lower()] = element.get("data-url", "")
    return PageText(text_rich, list(links), soup.find(id="search_input") is not None, links, frozenset(products))
