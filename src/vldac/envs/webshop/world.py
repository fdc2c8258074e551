"""``vldac/WebShop-v0``: shopping in vldac's WebShop, seen through a real browser.

Each world shops for one instruction per episode on the process's shop server (``ShopServer``
over a catalogue of ``products`` made from ``catalogue_seed``, its search index cached on disk),
looking at the pages in the process's headless Chromium (one page per world). Actions are the
original's text commands: ``search[keywords]`` where the page has the search box, ``click[x]``
where x is a clickable (a button's or product link's lower-cased text, or an option value);
``click[buy now]`` ends the episode with the purchase's reward (``info["success"]``: reward 1).
Anything else (outside the grammar, not clickable here, too long, not text) is an invalid action:
it changes nothing and costs a step. Episodes are cut at ``max_steps`` (15).

Observation: a screenshot of the page ([frame_size, frame_size, 3] uint8, from a square
``viewport``). Every step's info holds ``instruction``, ``text_rich`` (the page in the original's
text form), ``available_actions`` ({"has_search_bar", "clickables"}), ``url``, ``invalid``,
``success``, ``searches`` (this episode's search keywords so far), ``goal`` (the instruction's
target: asin, name, attributes, options, price bound; None on a user's server) and ``crashed``
(the browser or server died and was restarted: the episode is cut).

Seeds below ``HELD_OUT_SEEDS_FROM`` shop for the catalogue's training instructions, higher seeds
for its held-out ones. ``reward`` names the rules a purchase is scored by (vldac.envs.webshop.reward:
"original", the original's, or "strict", vldac's: exact sizes, colours as written, lexicon nouns); None (the default) scores held-out
instructions by the original's rules and training instructions by the strict ones.
``server_url`` points the world at a user's own WebShop server (the original's, or another with its
routes); goals and rewards are then that server's.
"""

from __future__ import annotations

import copy
import io
import itertools
import os
import re
import threading
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import gymnasium
import numpy as np
from gymnasium import spaces
from PIL import Image

from vldac.envs.world_settings import check_world_settings
from vldac.seeds import EVAL_SEED_START

HELD_OUT_SEEDS_FROM = EVAL_SEED_START
ORIGINAL_TEST_GOALS, ORIGINAL_TRAIN_GOALS_FROM = 500, 1500
"""On a user's server (the original's goal order): held-out seeds shop for its test goals, training
seeds for its training goals (``fixed_<i>`` indexes them)."""
MAX_ACTION_LENGTH = 500
ACTION = re.compile(r"(.+)\[(.+)\]")
"""The original's action grammar: a name, then its argument in brackets."""
CATALOGUE_VERSION = 1
"""Bumped when the catalogue generator changes, so that cached indices are rebuilt."""
PAGE_TIMEOUT_MS = 15_000
"""How long a page may take to load (the shop answers in milliseconds; longer means it died)."""
_WORLD_IDS = itertools.count()


class WebShopUnavailable(RuntimeError):
    """The webshop extra is missing."""


def _check_extra() -> None:
    try:
        import bs4  # noqa: F401
        import flask  # noqa: F401
        import playwright  # noqa: F401
        import rapidfuzz  # noqa: F401
    except ImportError as error:
        raise WebShopUnavailable(f"WebShop worlds need the optional extra ({error.name} is missing); install it "
                                 "with pip install 'vldac[webshop]'.") from None


def cache_folder() -> Path:
    return Path(os.environ.get("VLDAC_WEBSHOP_CACHE", Path.home() / ".cache" / "vldac" / "webshop"))


class Shops:
    """The process's shops by (products, seed): catalogue, search index and running server."""

    def __init__(self):
        self.running: dict[tuple[int, int], tuple] = {}
        self.lock = threading.Lock()

    def get(self, products: int, seed: int):
        with self.lock:
            return self._get(products, seed)

    def _get(self, products: int, seed: int):
        from vldac.envs.webshop.catalogue import make_catalogue
        from vldac.envs.webshop.search import SearchIndex, build_index
        from vldac.envs.webshop.server import ShopServer

        key = (products, seed)
        if key in self.running and not self.running[key][2].alive:
            self.running[key][2].stop()
            del self.running[key]  # a server that died is started again
        if key not in self.running:
            catalogue = make_catalogue(products, seed)
            path = cache_folder() / f"v{CATALOGUE_VERSION}-products{products}-seed{seed}.sqlite"
            if not path.is_file():
                path.parent.mkdir(parents=True, exist_ok=True)
                build_index(list(catalogue.products.values()), path)
            index = SearchIndex(path)
            server = ShopServer(catalogue, index)
            server.start()
            self.running[key] = (catalogue, index, server)
        return self.running[key]


SHOPS = Shops()


class WebShopWorld(gymnasium.Env):
    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, products: int = 1000, catalogue_seed: int = 0, max_steps: int = 15, frame_size: int = 256,
                 viewport: int = 800, server_url: str | None = None, render_mode: str | None = None,
                 reward: str | None = None):
        check_world_settings(frame_size=frame_size, max_steps=max_steps)
        _check_extra()
        if reward not in (None, "original", "strict"):
            raise ValueError(f"env.kwargs.reward '{reward}' is unknown; use original (the original WebShop's rules), "
                             "strict (vldac's exact sizes) or leave it unset (original on held-out instructions, "
                             "strict on training ones).")
        if products < 10:
            raise ValueError(f"env.kwargs.products {products} is too small: a WebShop catalogue needs at least 10.")
        if max_steps < 1 or frame_size < 8 or viewport < 200:
            raise ValueError(f"WebShop's max_steps {max_steps}, frame_size {frame_size} and viewport {viewport} must be "
                             "at least 1, 8 and 200.")
        if server_url is not None and urlparse(server_url).scheme not in ("http", "https"):
            raise ValueError(f"env.kwargs.server_url '{server_url}' is not an http(s) URL; give the WebShop server's "
                             "address, e.g. http://127.0.0.1:3000.")
        self.products, self.catalogue_seed, self.max_steps = products, catalogue_seed, max_steps
        self.frame_size, self.viewport, self.server_url = frame_size, viewport, server_url
        self.render_mode = render_mode
        self.reward_rules = reward
        self.observation_space = spaces.Box(0, 255, (frame_size, frame_size, 3), np.uint8)
        self.action_space = spaces.Text(MAX_ACTION_LENGTH)
        self.world_id = next(_WORLD_IDS)
        self.episodes = 0
        self.page = None
        self.thread: int | None = None
        self.frame = np.zeros((frame_size, frame_size, 3), np.uint8)
        self.state: dict = {}

    # --- the shop and the page --------------------------------------------------------------------

    def _base_url(self) -> str:
        if self.server_url is not None:
            return self.server_url.rstrip("/")
        return SHOPS.get(self.products, self.catalogue_seed)[2].url

    def _catalogue(self):
        return None if self.server_url is not None else SHOPS.get(self.products, self.catalogue_seed)[0]

    def _open_page(self):
        from vldac.envs.webshop.browser import BROWSER

        if self.page is None or self.page.is_closed():
            self.page = BROWSER.page(self.viewport, self.viewport)
            self.page.set_default_timeout(PAGE_TIMEOUT_MS)
            self.thread = threading.get_ident()
        return self.page

    def _look(self) -> None:
        """Read the page now shown: its text, clickables, screenshot."""
        from vldac.envs.webshop.page_text import read_page
        from vldac.envs.webshop.site import parse_options

        page = self.page
        path = urlparse(page.url).path
        chosen = parse_options(unquote(path.rsplit("/", 1)[-1])) if self._page_kind() == "item_page" else {}
        self.read = read_page(page.content(), chosen, self.state["visited"])
        picture = Image.open(io.BytesIO(page.screenshot(type="png"))).convert("RGB")
        self.frame = np.asarray(picture.resize((self.frame_size, self.frame_size), Image.BILINEAR))

    def _info(self, invalid: bool = False, crashed: bool = False) -> dict:
        return {
            "instruction": self.state["instruction"], "text_rich": self.read.text_rich if self.read else "",
            "available_actions": {"has_search_bar": self.read.has_search_bar if self.read else False,
                                  "clickables": list(self.read.clickables) if self.read else []},
            "url": self.page.url if self.page is not None and not self.page.is_closed() else "",
            "searches": list(self.state["searches"]),
            "invalid": invalid, "success": self.state["reward"] == 1.0,
            "goal": copy.deepcopy(self.state["goal"]), "crashed": crashed,
        }

    # --- gymnasium ------------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        seed = 0 if seed is None else seed
        catalogue = self._catalogue()
        if catalogue is not None:
            held_out = seed >= HELD_OUT_SEEDS_FROM
            goals = catalogue.split("test" if held_out else "train")
            goal = goals[(seed - HELD_OUT_SEEDS_FROM if held_out else seed) % len(goals)]
            index = catalogue.goals.index(goal)
            goal_info = {"asin": goal.asin, "name": goal.name, "attributes": list(goal.attributes),
                         "options": dict(goal.options), "price_upper": goal.price_upper, "instruction": goal.instruction}
        elif seed >= HELD_OUT_SEEDS_FROM:  # the original's goal order: test [0:500], eval [500:1500], train [1500:]
            index, goal_info = (seed - HELD_OUT_SEEDS_FROM) % ORIGINAL_TEST_GOALS, None
        else:
            index, goal_info = ORIGINAL_TRAIN_GOALS_FROM + seed, None
        self.episodes += 1
        rules = self.reward_rules or ("original" if seed >= HELD_OUT_SEEDS_FROM else "strict")
        session = f"vldac{os.getpid()}w{self.world_id}e{self.episodes}_{rules}_fixed_{index}"
        self.state = {"session": session, "steps": 0, "visited": set(), "searches": [], "reward": None, "goal": goal_info,
                      "instruction": goal_info["instruction"] if goal_info else ""}
        self.read = None
        try:
            self._go(f"{self._base_url()}/{session}")
        except Exception as error:  # a page that died between episodes: one more try on a fresh one
            if not _is_browser_error(error):
                raise
            self.close()
            self._go(f"{self._base_url()}/{session}")
        if goal_info is None:
            self.state["instruction"] = _instruction_on(self.read.text_rich)
        return self.frame, self._info()

    def _go(self, url: str) -> None:
        page = self._open_page()
        page.goto(url)
        self._look()

    def step(self, action):
        self.state["steps"] += 1
        truncated = self.state["steps"] >= self.max_steps
        command = _command(action)
        clickables = self.read.links if self.read else {}
        if command is None or not (
            (command[0] == "search" and self.read.has_search_bar)
            or (command[0] == "click" and command[1] in clickables and command[1] != "search")
        ):
            return self.frame.copy(), 0.0, False, truncated, self._info(invalid=True)
        self._check_thread()
        try:
            if self.page is None or self.page.is_closed():
                raise ConnectionError("the page is gone")
            self._act(*command)
            reward = 0.0
            terminated = self._page_kind() == "done"
            if terminated:
                reward = float(self.page.text_content("#reward pre", timeout=2_000) or 0.0)
                self.state["reward"] = reward
        except (ConnectionError, ValueError) as error:  # no page, or a done page without its reward
            return self._crashed(error)
        except Exception as error:  # the browser or the server died: restarted at the next reset, this episode cut
            if not _is_browser_error(error):
                raise
            return self._crashed(error)
        return self.frame, reward, terminated, truncated and not terminated, self._info()

    def _crashed(self, error: Exception):
        self.close()
        return self.frame.copy(), 0.0, False, True, self._info(crashed=True)

    def _page_kind(self) -> str:
        """The first part of the page's path below the shop's base URL (search_results, done, ...)."""
        base = urlparse(self._base_url()).path.rstrip("/")
        path = urlparse(self.page.url).path
        return path[len(base):].lstrip("/").split("/", 1)[0] if path.startswith(base) else ""

    def _check_thread(self) -> None:
        if self.page is not None and threading.get_ident() != self.thread:
            raise RuntimeError("A WebShop world steps on the thread that opened its page (Playwright's rule); leave "
                               "env.step_timeout unset for WebShop.")

    def _act(self, name: str, argument: str) -> None:
        page = self._open_page()
        if name == "search":
            self.state["visited"] = set()
            self.state["searches"].append(argument)
            page.fill("#search_input", argument)
            with page.expect_navigation():
                page.press("#search_input", "Enter")
            self._look()
            return
        if argument == "back to search":
            self.state["visited"] = set()
        if argument in self.read.products:
            self.state["visited"].add(argument.upper())
        self._go(urljoin(self._base_url() + "/", self.read.links[argument]))

    def render(self):
        return self.frame

    def close(self) -> None:
        if self.page is not None and not self.page.is_closed():
            try:
                self.page.close()
            except Exception as error:
                if not _is_browser_error(error):
                    raise
        self.page = None


def _command(action) -> tuple[str, str] | None:
    """(name, lower-cased argument) of an action in the grammar, else None."""
    if not isinstance(action, str) or len(action) > MAX_ACTION_LENGTH or not action.isprintable():
        return None
    match = ACTION.match(action.strip())
    if match is None:
        return None
    name, argument = match.group(1).strip().lower(), match.group(2).strip().lower()
    return (name, argument) if name in ("search", "click") and argument else None


def _instruction_on(text_rich: str) -> str:
    """The instruction a page shows (the line after "Instruction:")."""
    lines = text_rich.splitlines()
    for number, line in enumerate(lines):
        if line.startswith("Instruction:") and number + 1 < len(lines):
            return lines[number + 1]
    return ""


def _is_browser_error(error: Exception) -> bool:
    from playwright.sync_api import Error

    return isinstance(error, Error)
