"""GET /duplicates' order from the database: among equally close copies, the richer file (media_info) first."""

from __future__ import annotations

import numpy as np

from tests.integration.test_search import _drop_search_indexes, add_asset, session  # noqa: F401 - fixtures
from vidpipe.contract import UnderstandingResult
from vidpipe.db.models import MediaInfo
from vidpipe.db.understanding import save_understanding
from vidpipe.search import duplicates


def _prints(flip_bits: int, size=(320, 180)) -> dict:
    rng = np.random.default_rng(9)
    pictures = [int(x) for x in rng.integers(0, 2**63, size=10, dtype=np.int64)]
    hashes = [f"{(pictures[i // 3] ^ ((1 << flip_bits) - 1)):016x}" for i in range(30)]
    common = {"interval": 1.0, "duration": 30.0, "times": [float(i) for i in range(30)], "size": list(size)}
    return {"phash": {**common, "hashes": hashes}, "dhash": {**common, "hashes": hashes}}


def test_a_copy_lists_the_richer_of_two_equally_close_files_first(session):  # noqa: F811
    s = session
    ids = {}
    # the copy (1 bit off the source's pictures), the source, and a sibling made at another size that hashes
    # exactly like the copy: by score alone the sibling would come first (hash noise decides)
    for name, bits, size, bit_rate in (("copy", 1, (320, 180), 90_000), ("source", 0, (320, 180), 270_000),
                                       ("sibling", 1, (160, 90), 60_000)):
        ids[name] = add_asset(s, name, duration=30.0)
        s.get(MediaInfo, ids[name]).bit_rate = bit_rate
        save_understanding(s, ids[name], "analyze", UnderstandingResult(fingerprints=_prints(bits, size)))
    s.flush()
    names = {v: k for k, v in ids.items()}
    found = duplicates(s, ids["copy"])
    assert not found.exact
    assert [names[d.asset_id] for d in found.near] == ["source", "sibling"]
    assert found.near[0].score < found.near[1].score <= found.near[0].score + 0.02  # the bit rate decided
