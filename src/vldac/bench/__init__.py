"""``vldac bench``: the paper's transfer evaluation, for any checkpoint or local VLM folder.

- ``balrog/``: BALROG's game protocol, reimplemented: the games, the naive and chain-of-thought
  agents, the text and image history, the progression metric (no torch).
- ``datasets/``: VSI-Bench, VisualWebBench, MMStar and MMBench read from local copies in their
  distributed layouts, with their official scoring (no torch).
- ``suites``: what each suite runs, planned (games imported, data found) before a model loads.
- ``playing`` / ``asking``: episodes played and questions answered by a VLM, batched, greedy, seeded,
  within the prompt's token budget (``settings``).
- ``scoring`` / ``report``: means x100 with standard errors, paired differences; the table and JSON.
"""
