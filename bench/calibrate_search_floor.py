"""Calibrate the search relevance floor of the text model (speech transcripts and titles).

    python bench/calibrate_search_floor.py

Embeds a small labelled corpus (transcript lines and titles like the test media's, and queries that do or do
not ask for each) with the configured text model, prints the lowest score of a relevant pair and the highest of
an unrelated pair, and the floor between them (vidpipe.search.floors.FLOORS). Results: docs/understanding.md.
"""

from __future__ import annotations

import itertools

import numpy as np

from vidpipe.settings import Settings
from vidpipe.understanding.embedders import load_embedder

# (text in the library, queries that should find it)
CORPUS: list[tuple[str, list[str]]] = [
    ("please call me tomorrow morning at nine", ["call me tomorrow morning", "phone call at nine", "call tomorrow"]),
    ("the lighthouse lamp turns all night over the stormy sea", ["lighthouse", "stormy sea at night"]),
    ("snow falls on the mountains and the pass is closed", ["snow on the mountains", "closed mountain pass"]),
    ("will it rain tomorrow? the forecast says heavy showers", ["will it rain tomorrow?", "weather forecast rain"]),
    ("the goalkeeper saves a penalty in the last minute", ["goalkeeper", "penalty save"]),
    ("Alpine rail journey (4K)", ["train through the alps", "alpine railway"]),
    ("Colour bars", ["colour bars", "test pattern bars"]),
    ("Cooking pasta with fresh tomatoes", ["pasta recipe", "cooking with tomatoes"]),
]
UNRELATED_QUERIES = ["a trailer", "dog on a beach", "quarterly earnings call", "guitar solo", "space rocket launch",
                     "a cat sleeping", "welcome to the show", "birthday party"]


def main() -> None:
    settings = Settings()
    embedder = load_embedder("text", settings.understanding.text_model)
    texts = [t for t, _ in CORPUS]
    queries = sorted({q for _, qs in CORPUS for q in qs} | set(UNRELATED_QUERIES))
    tv = embedder.embed_texts(texts)
    qv = embedder.embed_texts(queries)
    scores = qv @ tv.T
    relevant, unrelated = [], []
    for (i, q), (j, (_, wanted)) in itertools.product(enumerate(queries), enumerate(CORPUS)):
        (relevant if q in wanted else unrelated).append((float(scores[i, j]), q, texts[j]))
    low = min(relevant)
    high = max(unrelated)
    print(f"model {settings.understanding.text_model}: {len(relevant)} relevant pairs, "
          f"{len(unrelated)} unrelated pairs")
    print(f"lowest relevant  {low[0]:.3f}  {low[1]!r} -> {low[2]!r}")
    print(f"highest unrelated {high[0]:.3f}  {high[1]!r} -> {high[2]!r}")
    print(f"unrelated p95 {np.percentile([s for s, *_ in unrelated], 95):.3f}, "
          f"relevant p5 {np.percentile([s for s, *_ in relevant], 5):.3f}")


if __name__ == "__main__":
    main()
