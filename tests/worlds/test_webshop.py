"""vldac's WebShop: the catalogue, BM25 search, the original's reward on hand-worked cases, the
shop server (routes, URL scheme, loopback only, concurrent sessions, hostile input) and the world
through a real headless Chromium (page flow, invalid actions, a crashed browser recovered).

Needs the extra vldac[webshop] and Chromium; .ci/run installs both and sets
VLDAC_REQUIRE_BROWSER=1, so that there a missing one fails these tests instead of skipping them.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest

INSTALLED = all(importlib.util.find_spec(name) for name in ("flask", "rapidfuzz", "bs4", "playwright"))
if not INSTALLED and not os.environ.get("VLDAC_REQUIRE_BROWSER"):
    pytest.skip("the webshop extra is not installed (pip install -e '.[webshop]')", allow_module_level=True)

from vldac.envs.webshop.catalogue import Goal, Product, make_catalogue  # noqa: E402
from vldac.envs.webshop.page_text import read_page  # noqa: E402
from vldac.envs.webshop.reward import reward, similarity, title_nouns  # noqa: E402
from vldac.envs.webshop.search import SearchIndex, build_index  # noqa: E402
from vldac.envs.webshop.server import ShopServer  # noqa: E402
from vldac.envs.webshop.site import options_text, parse_options, strings_in  # noqa: E402

CHROMIUM = shutil.which("chromium") is not None


def product(asin="B000000001", name="Kavo Slim Fit Cotton Shirt", kind="shirt", query="men's shirts",
            path="Clothing, Shoes & Jewelry › Men › Clothing › Shirts", attributes=("slim fit", "machine wash"),
            options=None, price=25.0, description="A shirt.", bullets=("Soft.",)) -> Product:
    return Product(asin=asin, name=name, kind=kind, brand=name.split()[0], material="cotton", category=path.split(" › ")[0],
                   query=query, product_category=path, description=description, bullet_points=list(bullets),
                   attributes=list(attributes), options=options or {"color": ["grey", "navy blue"],
                                                                     "size": ["small", "medium", "large"]},
                   pricing=[price], price=price, rating=4.0)


GOAL = Goal(asin="B000000001", name="Kavo Slim Fit Cotton Shirt", query="men's shirts", category="clothing",
            product_category="Clothing, Shoes & Jewelry › Men › Clothing › Shirts",
            instruction="i need a slim fit machine wash shirt in grey, size medium, and price lower than 40.00 dollars",
            attributes=["slim fit", "machine wash"], options={"color": "grey", "size": "medium"}, price_upper=40.0)
NOUNS = {"kavo", "cotton", "shirt", "leather", "boot", "lamp", "ceramic", "wood"}


# --- catalogue and reward ---------------------------------------------------------------------------

def test_the_catalogue_is_its_seed_and_splits_its_goals():
    first, again, other = make_catalogue(200, seed=3), make_catalogue(200, seed=3), make_catalogue(200, seed=4)
    assert first.to_json() == again.to_json() and first.to_json() != other.to_json()
    assert len(first.products) == 200 and len(first.goals) == 200 and first.held_out == 20
    assert len(first.split("test")) == 20 and len(first.split("train")) == 180
    for goal in first.goals[:20]:
        target = first.products[goal.asin]
        assert set(goal.attributes) <= set(target.attributes) and target.price <= goal.price_upper
        assert all(goal.options[name] in target.options[name] for name in goal.options)
        assert goal.price_upper % 10 == 0 and goal.price_upper - target.price <= 40
    with pytest.raises(ValueError, match="split 'valid' is unknown"):
        first.split("valid")


@pytest.mark.parametrize("bought, chosen, expected", [
    (product(), {"color": "grey", "size": "medium"}, 1.0),  # everything matches
    (product(), {"color": "grey", "size": "large"}, 4 / 5),  # a wrong size: 2 attributes + 1 option + price of 5
    (product(price=45.0), {"color": "grey", "size": "medium"}, 4 / 5),  # over the price bound
    (product(attributes=("slim fit",), description="A shirt you can machine wash."), {"color": "grey", "size": "medium"},
     1.0),  # an attribute written in the description counts
    (product(attributes=("regular fit",)), {"color": "grey", "size": "medium"}, 4 / 5),  # one attribute missing
    (product(name="Mora Ceramic Lamp", kind="lamp", query="table lamp", path="Home & Kitchen › Lighting"),
     {"color": "grey", "size": "medium"}, 0.0),  # no goal noun in the name: r_type 0
])
def test_the_originals_reward_on_hand_worked_cases(bought, chosen, expected):
    for rules in ("original", "strict"):  # these cases score the same under both rules
        assert reward(bought, GOAL, chosen, NOUNS, rules).reward == pytest.approx(expected), rules


def test_the_product_type_s_nouns_under_each_rule():
    """Another kind sharing the brand: strict finds 1 of the goal's 3 lexicon nouns (kavo, cotton,
    shirt: 0.33 > 0.2, r_type 1); the original's tagger takes every word of the title (kavo, slim,
    fit, cotton, shirt: 1 of 5 = 0.2, not above it, no query or category match: r_type 0.5)."""
    boot = product(name="Kavo Leather Boot", kind="boot", query="women's boots", path="Shoes › Boots")
    chosen = {"color": "grey", "size": "medium"}
    assert reward(boot, GOAL, chosen, NOUNS, "strict").type_reward == 1.0
    original = reward(boot, GOAL, chosen, NOUNS, "original")
    assert original.type_reward == 0.5 and original.title_score == pytest.approx(0.2)
    assert title_nouns("Lulobel Short Sleeve Polyester Shirt - Pack of 2") == [
        "lulobel", "short", "sleeve", "polyester", "shirt", "pack"]


@pytest.mark.parametrize("wanted, picked, original, strict", [
    ({"size": "8"}, {"size": "8.5"}, 1.0, 3 / 4),  # sizes match fuzzily in the original: "8" is in "8 5"
    ({"size": "x-small"}, {"size": "small"}, 1.0, 3 / 4),  # "small" is in "x small"
    ({"size": "pack of 2"}, {"size": "pack of 12"}, 1.0, 3 / 4),  # token set ratio 95 > 85
    ({"color": "navy blue"}, {"color": "light blue"}, 1.0, 3 / 4),  # both normalise to the colour word "blue"
    ({"color": "grey"}, {"color": "black"}, 3 / 4, 3 / 4),  # different colour words: no match under either
    ({"color": "grey"}, {"color": "dark grey"}, 3 / 4, 1.0),  # strict: token set ratio 100; original: "dark" != "grey"
    ({"size": "medium"}, {"size": "large"}, 3 / 4, 3 / 4),
])
def test_original_and_strict_option_rules_on_hand_worked_cases(wanted, picked, original, strict):
    """One goal option beside the two attributes and the price (out of 4): the original's rules
    normalise colours and match sizes fuzzily; the strict rules take a size only as written."""
    goal = Goal(**{**GOAL.__dict__, "options": wanted})
    bought = product(options={name: [value] for name, value in picked.items()})
    assert reward(bought, goal, picked, NOUNS, "original").reward == pytest.approx(original)
    assert reward(bought, goal, picked, NOUNS, "strict").reward == pytest.approx(strict)
    with pytest.raises(ValueError, match="rules 'fuzzy' are unknown"):
        reward(bought, goal, picked, NOUNS, "fuzzy")


WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda"]


@pytest.mark.parametrize("goal_nouns, shared, query, expected", [
    (10, 1, "other", 0.5),  # 0.1 of the nouns, no query or category match: 0.5
    (10, 1, "men's shirts", 1.0),  # the same query: 1
    (11, 1, "men's shirts", 0.1),  # under 0.1 of the nouns: 0.1 whatever else matches
    (10, 0, "men's shirts", 0.0),  # none: 0
    (10, 3, "other", 1.0),  # 0.3 > 0.2: 1
])
def test_the_type_reward_levels(goal_nouns, shared, query, expected):
    from vldac.envs.webshop.reward import type_reward

    goal = Goal(**{**GOAL.__dict__, "name": " ".join(WORDS[:goal_nouns]), "product_category": "A › B"})
    bought = product(name=" ".join([*WORDS[:shared], "unlisted"]), query=query, path="C › D")
    reward_value, title_score = type_reward(bought, goal, set(WORDS), "strict")
    assert reward_value == expected and title_score == pytest.approx(shared / goal_nouns)


def test_fuzzy_matching_is_thefuzzs():
    assert similarity("Essential Oil", "essential oils") == 96  # thefuzz's processing and rounding
    assert similarity("navy blue", "blue") == 100 and similarity("8", "8.5") == 100  # why strict sizes match exactly
    # thefuzz's force_ascii deletes the characters 128-255 (é, ™ is 8482 and a non-letter, ő 337 a letter kept)
    assert similarity("Café crème", "caf crme") == 100 and similarity("caf\u2122", "caf") == 100
    assert similarity("caő", "ca") < 100


def test_you_have_clicked_lines_come_last_chosen_first_as_in_the_original():
    html = "<form><label>grey</label><label>navy blue</label><label>small</label><label>large</label></form>"
    text = read_page(html, {"color": "navy blue", "size": "large"}).text_rich
    assert text.startswith("You have clicked large.\nYou have clicked navy blue.\n  [button] grey [button_]\n")


def test_a_session_names_its_reward_rules(shop):
    """The world asks for its rules in the session's name; a purchase of a neighbouring size scores
    by them (a session without rules in its name: the original's)."""
    catalogue, server = shop
    index, goal = next((i, goal) for i, goal in enumerate(catalogue.goals) if "size" in goal.options)
    sizes = catalogue.products[goal.asin].options["size"]
    other = next(size for size in sizes if size != goal.options["size"] and similarity(size, goal.options["size"]) > 85)
    options = urllib.parse.quote(options_text({**goal.options, "size": other}))
    scores = {}
    for rules in ("original", "strict", None):
        session = f"s{rules}_{rules}_fixed_{index}" if rules else f"plain_fixed_{index}"
        _, html = fetch(f"{server.url}/done/{session}/{goal.asin}/{options}")
        scores[rules] = float(re.search(r"<pre>([0-9.]+)</pre>", html).group(1))
    assert scores["original"] == 1.0 and scores[None] == 1.0 and scores["strict"] < 1.0


# --- search ----------------------------------------------------------------------------------------

def fixture_products():
    return [
        product("B000000001", "Kavo Slim Fit Cotton Shirt", attributes=("slim fit",)),
        product("B000000002", "Lora Leather Boot", kind="boot", description="Water resistant leather boots.",
                options={"size": ["8", "9"]}),
        product("B000000003", "Mira Ceramic Table Lamp", kind="lamp", description="A dimmable ceramic lamp.",
                options={"color": ["white"]}),
        product("B000000004", "Nuro Cotton Shirt", description="A cotton shirt.", bullets=("Relaxed fit shirts.",)),
    ]


def test_search_ranks_by_bm25_and_reads_queries_as_words(tmp_path):
    build_index(fixture_products(), tmp_path / "index.sqlite")
    index = SearchIndex(tmp_path / "index.sqlite")
    assert index.search("ceramic lamp")[0] == "B000000003"
    assert index.search("waterproof leather boots")[0] == "B000000002"  # stems: boots -> boot
    assert index.search("slim fit shirt")[:2] == ["B000000001", "B000000004"]
    hostile = '" OR 1=1; DROP TABLE documents; --'  # FTS5 and SQL syntax never reach the index: only its words
    assert index.search(hostile) == index.search("or 1 1 drop table documents") == ["B000000003"]  # "table"
    assert set(index.search("NEAR(shirt lamp) AND ^x*")) == set(index.search("near shirt lamp and x"))
    assert index.search("") == [] and index.search("\x00\uffff") == []
    assert index.search("shirt")[:2] and index.search("a" * 100_000) == []


def test_url_parts_are_read_as_data():
    assert strings_in("['red', 'shirt']") == ["red", "shirt"] and strings_in('["a b"]') == ["a b"]
    assert parse_options("{'size': 'large', 'color': 'navy blue'}") == {"size": "large", "color": "navy blue"}
    assert parse_options("{}") == {} and parse_options("__import__('os').system('x')") == {"os": "x"}
    assert strings_in("plain words") == ["plain words"]


# --- the server ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    catalogue = make_catalogue(120, seed=5)
    path = tmp_path_factory.mktemp("webshop") / "index.sqlite"
    build_index(list(catalogue.products.values()), path)
    with ShopServer(catalogue, SearchIndex(path)) as server:
        yield catalogue, server


def fetch(url, form=None):
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    with urllib.request.urlopen(url, data=data, timeout=10) as response:
        return response.geturl(), response.read().decode()


def test_the_page_flow_and_url_scheme(shop):
    catalogue, server = shop
    goal = catalogue.goals[2]
    url, html = fetch(f"{server.url}/fixed_2")
    page = read_page(html)
    assert page.has_search_bar and page.clickables == ["search"] and goal.instruction in page.text_rich
    url, html = fetch(f"{server.url}/fixed_2", {"search_query": "Slim Fit shirts"})
    assert urllib.parse.unquote(urllib.parse.urlparse(url).path) == "/search_results/fixed_2/['slim', 'fit', 'shirts']/1"
    page = read_page(html)
    assert page.clickables[:2] == ["back to search", "next >"] and len(page.products) == 10
    assert "Page 1 (Total results: " in page.text_rich
    asin = sorted(page.products)[0]
    url, html = fetch(server.url + page.links[asin])
    assert urllib.parse.unquote(url).endswith(f"/item_page/fixed_2/{asin.upper()}/['slim', 'fit', 'shirts']/1/{{}}")
    page = read_page(html)
    assert page.clickables[:6] == ["back to search", "< prev", "description", "features", "reviews", "buy now"]
    value = page.clickables[6]
    url, html = fetch(server.url + page.links[value])
    chosen = parse_options(urllib.parse.unquote(url.rsplit("/", 1)[-1]))
    assert list(chosen.values()) == [value] and f"[clicked button] {value} [clicked button_]" in read_page(html, chosen).text_rich
    url, html = fetch(server.url + read_page(html).links["features"])
    assert "/item_sub_page/fixed_2/" in url and "/Features/" in url
    url, html = fetch(server.url + read_page(fetch(server.url + read_page(html).links["< prev"])[1]).links["buy now"])
    assert "/done/fixed_2/" in url and "Your score (min 0.0, max 1.0)" in html
    with pytest.raises(urllib.error.HTTPError, match="404"):
        fetch(f"{server.url}/item_page/fixed_2/NOSUCHASIN/x/1/{{}}")


def outside_address() -> str | None:
    """This machine's address on its default route (no packet is sent), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            return probe.getsockname()[0]
        except OSError:
            return None


def test_the_server_listens_on_loopback_only(shop):
    _, server = shop
    assert server.server.server_address[0] == "127.0.0.1"
    address = outside_address()
    if address is None or address.startswith("127."):
        pytest.skip("this machine has no address beyond loopback to try")
    with pytest.raises(OSError), socket.create_connection((address, server.server.server_port), timeout=2):
        pass


def test_concurrent_sessions_keep_their_goals(shop):
    catalogue, server = shop
    seen = {}

    def shop_as(index):
        seen[index] = read_page(fetch(f"{server.url}/fixed_{index}")[1]).text_rich

    threads = [threading.Thread(target=shop_as, args=(index,)) for index in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(catalogue.goals[index].instruction in seen[index] for index in range(12))


@pytest.mark.parametrize("query", [
    "<script>alert('x')</script>", "\" onmouseover=\"alert(1)", "a" * 5000, "caf\udcff shirt".encode("utf-8", "surrogateescape"),
    "'] + __import__('os').system('ls') + ['",
])
def test_hostile_searches_are_text(shop, query):
    _, server = shop
    form = urllib.parse.urlencode({"search_query": query}).encode()
    with urllib.request.urlopen(f"{server.url}/fixed_1", data=form, timeout=10) as response:
        html = response.read().decode()
    assert "<script>alert" not in html and "onmouseover=\"alert" not in html
    assert "Page 1 (Total results:" in html


# --- the world through Chromium --------------------------------------------------------------------

needs_chromium = pytest.mark.skipif(not CHROMIUM and not os.environ.get("VLDAC_REQUIRE_BROWSER"),
                                    reason="Chromium is not installed (apt-get install chromium)")


@pytest.fixture
def world(tmp_path, monkeypatch):
    import vldac.envs  # noqa: F401  (registers the worlds)
    from vldac.envs.registry import make_world

    monkeypatch.setenv("VLDAC_WEBSHOP_CACHE", str(tmp_path))
    env = make_world("vldac/WebShop-v0", products=60, frame_size=64, max_steps=8)
    yield env
    env.close()


def buy_the_goal(env, info):
    goal = info["goal"]
    _, _, _, _, info = env.step(f"search[{goal['instruction']}]")
    assert goal["asin"].lower() in info["available_actions"]["clickables"]
    env.step(f"click[{goal['asin'].lower()}]")
    for value in goal["options"].values():
        _, _, _, _, info = env.step(f"click[{value}]")
        assert not info["invalid"]
    return env.step("click[buy now]")


@needs_chromium
def test_the_world_shops_through_the_browser(world):
    frame, info = world.reset(seed=1)
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8 and frame.std() > 0
    assert info["available_actions"] == {"has_search_bar": True, "clickables": ["search"]}
    for invalid in ("click[next >]", "buy it", "search[]", "click[" + "x" * 600 + "]", 42, "click[b\x00]",
                    "click[search]"):
        _, reward, terminated, _, step_info = world.step(invalid)
        assert step_info["invalid"] and reward == 0.0 and not terminated
    _, _, _, _, info = world.step("search[a/b %2F #1 ?x=1 'q' \"r\" \\ ..]")  # a URL's special characters as words
    assert not info["invalid"] and not info["crashed"] and "Total results:" in info["text_rich"]
    assert "/search_results/" in info["url"]
    _, info = world.reset(seed=1)
    frame, reward, terminated, truncated, info = buy_the_goal(world, info)
    assert reward == 1.0 and terminated and not truncated and info["success"]
    _, info = world.reset(seed=1_000_000)  # a held-out instruction
    assert info["goal"]["instruction"] in [goal.instruction for goal in make_catalogue(60, 0).split("test")]


@needs_chromium
def test_the_expert_buys_the_goal(world):
    from vldac.envs.webshop.expert import expert_action

    rewards = []
    for seed in (0, 1_000_000, 1_000_001):
        _, info = world.reset(seed=seed)
        terminated = truncated = False
        while not (terminated or truncated):
            _, reward, terminated, truncated, info = world.step(expert_action(info))
            assert not info["invalid"]
        rewards.append(reward)
    assert rewards == [1.0, 1.0, 1.0]


@needs_chromium
def test_a_crashed_browser_cuts_the_episode_and_the_next_one_plays(world):
    from vldac.envs.webshop.browser import BROWSER

    _, info = world.reset(seed=2)
    BROWSER.browser.close()  # the browser dies under the world
    _, reward, terminated, truncated, step_info = world.step(f"search[{info['goal']['instruction']}]")
    assert step_info["crashed"] and truncated and not terminated and reward == 0.0
    restarts = BROWSER.restarts
    _, info = world.reset(seed=2)
    assert BROWSER.restarts == restarts + 1
    assert buy_the_goal(world, info)[1] == 1.0


@needs_chromium
def test_the_world_shops_on_a_users_server(shop, world):
    """server_url: the same world on another server with the original's routes (here vldac's own)."""
    import vldac.envs  # noqa: F401
    from vldac.envs.registry import make_world

    catalogue, server = shop
    env = make_world("vldac/WebShop-v0", server_url=server.url, frame_size=32)
    _, info = env.reset(seed=1_000_004)  # held-out seeds: the original's test goals, fixed_0 .. fixed_499
    assert info["goal"] is None and info["instruction"] == catalogue.goals[4].instruction
    goal = catalogue.goals[4]
    env.step(f"search[{goal.instruction}]")
    env.step(f"click[{goal.asin.lower()}]")
    for value in goal.options.values():
        env.step(f"click[{value}]")
    assert env.step("click[buy now]")[1] == 1.0
    env.close()


# --- the language interface ------------------------------------------------------------------------

ITEM_INFO = {"instruction": "buy a grey shirt", "url": "http://127.0.0.1:1/item_page/s/B0/x/1/{}",
             "available_actions": {"has_search_bar": False, "clickables": ["back to search", "buy now", "grey", "navy blue"]}}


@pytest.mark.parametrize("answer, action", [
    ('{"thoughts": "buy", "action": "click[Buy  Now]"}', "click[buy now]"),
    ('{"action": "click[grey]"}', "click[grey]"),
    ('{"action": "search[grey shirt]"}', None),  # no search box on this page
    ('{"action": "click[red]"}', None),  # not on this page
    ('{"action": "click[search]"}', None),
    ('{"action": "__import__(\'os\').system(\'ls\')"}', None),
    ("click[buy now]", None),  # not the answer format
    ('{"action": ["click[grey]"]}', None),
])
def test_the_interface_reads_only_this_pages_actions(answer, action):
    from vldac.agents import interface_for

    parsed = interface_for("vldac/WebShop-v0").parse(answer, ITEM_INFO)
    assert parsed.action == action and (parsed.error is None) == (action is not None)


def test_the_interface_prompt_and_demonstrations():
    from vldac.agents import interface_for

    interface = interface_for("vldac/WebShop-v0")
    prompt = interface.instruction(ITEM_INFO)
    assert "Instruction: buy a grey shirt" in prompt and "click[buy now], click[grey]" in prompt and "search[" not in prompt
    assert interface.state_key(ITEM_INFO) == [2] and interface.mistaken_action(ITEM_INFO, "click[grey]") == "click[navy blue]"
    assert interface.parse(interface.demonstration(ITEM_INFO, "click[buy now]"), ITEM_INFO).action == "click[buy now]"
