"""WebShop's search: BM25 over each product's title, description, first bullet point and options,
as the original indexes them (with Lucene through pyserini, a Java engine), here with SQLite's
FTS5 full-text index: it ships with Python, ranks by BM25 and stems English words (Porter), so a
50,000-product index is one file built in seconds and opened per process, with nothing to run.

A query matches products having any of its words (Lucene's default); the top 50 are kept, 10 per
results page, as in the original. Queries are read as words only: FTS5's own query syntax never
sees the user's text.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import tempfile
from pathlib import Path

from vldac.envs.webshop.catalogue import Product

TOP = 50
PER_PAGE = 10


def indexed_text(product: Product) -> str:
    """What the index holds of a product (the original's document): title, description, first
    bullet point and "name: value, value, and name: value" of its options, lower case."""
    options = ", and ".join(f"{name}: {', '.join(values)}" for name, values in product.options.items())
    first_bullet = product.bullet_points[0] if product.bullet_points else ""
    return f"{product.name} {product.description} {first_bullet} {options}".lower()


def build_index(products: list[Product], path: Path) -> None:
    """Write the index of ``products`` to ``path``: built in a file of its own beside it and moved
    into place whole, so that processes building the same index at once never read half of one."""
    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".partial")
    os.close(handle)
    try:
        with contextlib.closing(sqlite3.connect(partial)) as database, database:
            database.execute("CREATE VIRTUAL TABLE documents USING fts5(asin UNINDEXED, contents, tokenize='porter')")
            database.executemany("INSERT INTO documents VALUES (?, ?)",
                                 ((product.asin, indexed_text(product)) for product in products))
        os.replace(partial, path)
    finally:
        Path(partial).unlink(missing_ok=True)


class SearchIndex:
    """A built index, read-only; each search opens its own connection (the server's threads search
    at once)."""

    def __init__(self, path: Path):
        if not path.is_file():
            raise FileNotFoundError(f"The WebShop search index {path} is missing; build it with build_index.")
        self.path = path

    def search(self, query: str, top: int = TOP) -> list[str]:
        """The asins of the best ``top`` products for ``query``, best first (ties by asin)."""
        words = re.findall(r"[a-z0-9]+", query.lower())
        if not words:
            return []
        expression = " OR ".join(f'"{word}"' for word in dict.fromkeys(words))
        with contextlib.closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as database:
            rows = database.execute(
                "SELECT asin FROM documents WHERE documents MATCH ? ORDER BY bm25(documents), asin LIMIT ?",
                (expression, top),
            ).fetchall()
        return [asin for (asin,) in rows]
