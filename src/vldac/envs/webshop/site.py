"""The shop's web application (Flask), with the original WebShop site's routes and pages:

    /<session>                                                  search page (POST search_query: search)
    /search_results/<session>/<keywords>/<page>                 10 results per page
    /item_page/<session>/<asin>/<keywords>/<page>/<options>     options, title, price, rating, Buy Now
    /item_sub_page/<session>/<asin>/<keywords>/<page>/<Description|Features|Reviews>/<options>
    /done/<session>/<asin>/<options>                            the purchase's reward

Keywords and options travel in the URL as the original writes them (a Python list / dict of
strings, e.g. ``['red', 'shirt']`` and ``{'size': 'large'}``) and are read back as data only
(strings between quotes), never evaluated. A session ``fixed_<i>`` shops for goal i of the
catalogue's order; any other session id draws a goal from its name (the same id, the same goal).
Every route answers GET and POST, as the original's do. Everything on a page is escaped text.
"""

from __future__ import annotations

import json
import random
import re
import threading
from collections import OrderedDict
from pathlib import Path

from flask import Flask, abort, redirect, render_template, request, url_for

from vldac.envs.webshop.catalogue import Catalogue, Goal
from vldac.envs.webshop.reward import reward
from vldac.envs.webshop.search import PER_PAGE, SearchIndex

QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"")
SUB_PAGES = ("Description", "Features", "Reviews")
METHODS = ["GET", "POST"]


def strings_in(text: str) -> list[str]:
    """The quoted strings of a Python or JSON literal (a list or dict of strings), in order, with
    backslash escapes undone; text with no quotes is one string."""
    found = [first if first or not second else second for first, second in QUOTED.findall(text)]
    if not found and not text.lstrip().startswith(("[", "{")):
        return [text]
    return [re.sub(r"\\(.)", r"\1", value) for value in found]


def words_text(words: list[str]) -> str:
    return str(words)


def options_text(options: dict[str, str]) -> str:
    return str(options)


def parse_options(text: str) -> dict[str, str]:
    values = strings_in(text) if text.strip() not in ("", "{}") else []
    return dict(zip(values[0::2], values[1::2], strict=False))


MAX_SESSIONS = 10_000
"""Sessions remembered at once (the oldest are forgotten: a world starts a new one per episode)."""


class Sessions:
    """Each session's goal and purchase, shared by the server's threads."""

    def __init__(self, goals: list[Goal]):
        self.goals = goals
        self.state: OrderedDict[str, dict] = OrderedDict()
        self.lock = threading.Lock()

    def goal(self, session_id: str) -> Goal:
        with self.lock:
            if session_id not in self.state:
                fixed = re.fullmatch(r".*fixed_([0-9]{1,7})", session_id)
                if fixed and int(fixed.group(1)) < len(self.goals):
                    goal = self.goals[int(fixed.group(1))]
                elif fixed:
                    abort(404)
                else:
                    goal = random.Random(session_id).choice(self.goals)
                self.state[session_id] = {"goal": goal, "done": False, "reward": None}
                while len(self.state) > MAX_SESSIONS:
                    self.state.popitem(last=False)
            return self.state[session_id]["goal"]

    @staticmethod
    def rules(session_id: str) -> str:
        """The reward rules a session asked for in its name ("..._strict_fixed_N"), else the original's."""
        named = re.fullmatch(r".*_(original|strict)_fixed_[0-9]{1,7}", session_id)
        return named.group(1) if named else "original"

    def finish(self, session_id: str, value: float) -> None:
        with self.lock:
            self.state[session_id].update(done=True, reward=value)


def create_app(catalogue: Catalogue, index: SearchIndex) -> Flask:
    """The shop over ``catalogue`` searched with ``index``."""
    app = Flask(__name__, template_folder=str(Path(__file__).parent / "templates"),
                static_folder=str(Path(__file__).parent / "static"))
    sessions = Sessions(catalogue.goals)

    def product_or_404(asin: str):
        product = catalogue.products.get(asin.upper())
        if product is None:
            abort(404)
        return product

    def page_number(page: str) -> int:
        return int(page) if re.fullmatch(r"[0-9]{1,4}", page) and int(page) > 0 else 1

    @app.route("/")
    def index_page():
        return redirect(url_for("session_page", session_id="abc"))

    @app.route("/<session_id>", methods=METHODS)
    def session_page(session_id: str):
        goal = sessions.goal(session_id)
        query = request.form.get("search_query")
        if request.method == "POST" and query is not None:
            return redirect(url_for("search_results", session_id=session_id,
                                    keywords=words_text(query.lower().split(" ")), page=1))
        return render_template("search.html", session_id=session_id, instruction=goal.instruction)

    @app.route("/search_results/<session_id>/<path:keywords>/<page>", methods=METHODS)
    def search_results(session_id: str, keywords: str, page: str):
        goal = sessions.goal(session_id)
        words = strings_in(keywords)
        number = page_number(page)
        found = index.search(" ".join(words))
        shown = [catalogue.products[asin] for asin in found[(number - 1) * PER_PAGE : number * PER_PAGE]]
        return render_template("results.html", session_id=session_id, instruction=goal.instruction,
                               keywords=words_text(words), page=number, total=len(found), products=shown)

    @app.route("/item_page/<session_id>/<asin>/<path:keywords>/<page>/<options>", methods=METHODS)
    def item_page(session_id: str, asin: str, keywords: str, page: str, options: str):
        goal = sessions.goal(session_id)
        product = product_or_404(asin)
        chosen = parse_options(options)
        words = words_text(strings_in(keywords))
        option_urls = {name: {value: url_for("item_page", session_id=session_id, asin=product.asin, keywords=words,
                                             page=page_number(page), options=options_text({**chosen, name: value}))
                              for value in values} for name, values in product.options.items()}
        return render_template("item.html", session_id=session_id, instruction=goal.instruction, product=product,
                               keywords=words, page=page_number(page), options=chosen, options_text=options_text(chosen),
                               option_urls=option_urls)

    @app.route("/item_sub_page/<session_id>/<asin>/<path:keywords>/<page>/<sub_page>/<options>", methods=METHODS)
    def item_sub_page(session_id: str, asin: str, keywords: str, page: str, sub_page: str, options: str):
        goal = sessions.goal(session_id)
        product = product_or_404(asin)
        if sub_page not in SUB_PAGES:
            abort(404)
        chosen = parse_options(options)
        return render_template("sub_page.html", session_id=session_id, instruction=goal.instruction, product=product,
                               keywords=words_text(strings_in(keywords)), page=page_number(page), sub_page=sub_page,
                               options_text=options_text(chosen))

    @app.route("/done/<session_id>/<asin>/<options>", methods=METHODS)
    def done(session_id: str, asin: str, options: str):
        goal = sessions.goal(session_id)
        product = product_or_404(asin)
        chosen = parse_options(options)
        value = reward(product, goal, chosen, catalogue.nouns, sessions.rules(session_id)).reward
        sessions.finish(session_id, value)
        return render_template("done.html", session_id=session_id, instruction=None, asin=product.asin,
                               options_json=json.dumps(chosen), reward=value)

    return app
