"""``vldac bench``: the paper's transfer evaluation, for any checkpoint or local VLM folder.

- ``balrog``: BALROG's game protocol (``vldac.bench.balrog``), reimplemented: the games, the naive
  and chain-of-thought agents, the text and image history, the progression metric.
- ``scoring``: per-environment means x100 with standard errors, the overall mean, paired differences.
- ``runner``: episodes played with a VLM, batched across episodes, greedy and seeded.

The games know no torch; only the runner talks to a model.
"""
