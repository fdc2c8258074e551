"""Runs in the original WebShop's own environment (never vldac's): scores triples with the
original's reward function, imported from a snapshot of its source.

    ORIGINAL_PYTHON original_reward.py --webshop SRC TRIPLES.json SCORES.json

SRC holds the original's ``web_agent_site/engine`` (goal.py, normalize.py) from a pinned commit.
Its goal.py calls ``spacy.load("en_core_web_sm")`` at import; the model here is the PyPI mirror of
en_core_web_sm (a package named ``en_core_web_sm`` whose distribution has another name, so
spacy.load cannot find it by name): ``spacy.load`` is pointed at its ``load()`` before the import.
"""

import argparse
import json
import sys


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--webshop", required=True, help="folder holding the original's web_agent_site/engine")
    parser.add_argument("triples")
    parser.add_argument("scores")
    args = parser.parse_args()
    import en_core_web_sm
    import spacy

    tagger = en_core_web_sm.load()
    spacy.load = lambda name, **kwargs: tagger
    sys.path.insert(0, args.webshop)
    from web_agent_site.engine.goal import get_reward

    triples = json.loads(open(args.triples).read())
    scores = []
    for triple in triples:
        total, parts = get_reward(triple["product"], triple["goal"], triple["price"], triple["options"], verbose=True)
        scores.append({"reward": total, "r_type": parts["r_type"], "title_score": parts["title_score"],
                       "r_att": parts["r_att"], "r_option": parts.get("r_option")})
    json.dump({"spacy": spacy.__version__, "model": tagger.meta["version"], "scores": scores}, open(args.scores, "w"))


if __name__ == "__main__":
    main()
