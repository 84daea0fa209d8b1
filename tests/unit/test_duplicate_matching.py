"""Alignment-free duplicate matching on hash arrays with known truth (offsets, speed, mirroring, noise)."""

from __future__ import annotations

import numpy as np
import pytest

from vidpipe.search.duplicates import frame_hashes, judge, same_sound
from vidpipe.search.matching import FrameHashes, best_match

RNG = np.random.default_rng(11)


def scene_hashes(seconds: float, rng: np.random.Generator, *, shot: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """A 'video' as a function of time: a new random picture (pHash, dHash, mirrored pair) every `shot` s."""
    shots = int(np.ceil(seconds / shot)) + 1
    return (rng.integers(0, 2**63, size=(shots, 2), dtype=np.int64).astype(np.uint64),
            rng.integers(0, 2**63, size=(shots, 2), dtype=np.int64).astype(np.uint64))


def sample(pictures: tuple[np.ndarray, np.ndarray], source_times: np.ndarray, duration: float, *, interval=1.0,
           shot: float = 3.0, noise_bits: int = 0, mirrored: bool = False, rng=RNG) -> FrameHashes:
    """Frames sampled every `interval` s of the copy; `source_times` maps them to the source's clock."""
    normal, flipped = pictures
    idx = np.clip((source_times // shot).astype(int), 0, len(normal) - 1)
    h, m = normal[idx].copy(), flipped[idx].copy()
    if mirrored:
        h, m = m, h
    if noise_bits:
        for arr in (h, m):
            for row in arr:
                for col in range(2):
                    for bit in rng.choice(64, noise_bits, replace=False):
                        row[col] ^= np.uint64(1) << np.uint64(int(bit))
    times = np.arange(len(source_times)) * interval
    return FrameHashes(times.astype(float), h, duration, interval, m)


def video(seconds=30.0, **kw) -> tuple[tuple[np.ndarray, np.ndarray], FrameHashes]:
    pics = scene_hashes(seconds + 10, RNG)
    t = np.arange(0, seconds, 1.0)
    return pics, sample(pics, t, seconds, **kw)


def test_identical_sequences_match_exactly_at_offset_zero():
    pics, a = video()
    m = best_match(a, a)
    assert m is not None and m.matched == len(a.times) and m.offset == pytest.approx(0.0, abs=0.5)
    assert m.speed == pytest.approx(1.0) and m.is_identical(a, a)


@pytest.mark.parametrize("trim", [2.0, 5.0, 9.0])
def test_a_trimmed_copy_is_found_at_its_offset(trim):
    pics, src = video(30.0)
    copy = sample(pics, np.arange(trim, 30.0, 1.0), 30.0 - trim, noise_bits=6)
    m = best_match(copy, src)
    assert m is not None and m.is_near(), m
    assert m.offset == pytest.approx(trim, abs=0.6) and m.coverage >= 0.9
    assert not m.is_identical(copy, src)


@pytest.mark.parametrize("speed", [1.1, 0.9])
def test_a_sped_up_or_slowed_copy_is_found(speed):
    pics, src = video(40.0)
    length = 40.0 / speed
    copy = sample(pics, np.arange(0, length, 1.0) * speed, length, noise_bits=4)
    m = best_match(copy, src)
    assert m is not None and m.is_near(), m
    assert m.speed == pytest.approx(speed, rel=0.03)


def test_a_mirrored_copy_matches_the_mirrored_hashes():
    pics, src = video(30.0)
    copy = sample(pics, np.arange(0, 30.0, 1.0), 30.0, mirrored=True, noise_bits=4)
    m = best_match(copy, src)
    assert m is not None and m.is_near() and m.mirrored
    without = best_match(copy, FrameHashes(src.times, src.hashes, src.duration, src.interval, None))
    assert without is None or not without.is_near()  # old fingerprints without mirrored hashes: no match


def test_shared_intro_and_unrelated_videos_are_not_near():
    pics_a, a = video(30.0)
    pics_b, b = video(30.0)
    assert best_match(a, b) is None or not best_match(a, b).is_near()
    # b starts with a's first 6 s (an intro), then its own pictures
    intro = sample(pics_a, np.arange(0, 6, 1.0), 6.0)
    rest = sample(pics_b, np.arange(6, 30, 1.0), 24.0)
    mixed = FrameHashes(np.arange(30.0), np.vstack([intro.hashes, rest.hashes]), 30.0, 1.0,
                        np.vstack([intro.mirrored, rest.mirrored]))
    m = best_match(mixed, a)
    assert m is not None and not m.is_near() and m.matched >= 5


def _audio(words: list[int]) -> dict:
    return {"words": words}


def test_exact_needs_pictures_and_sound_and_sound_alone_is_nothing():
    pics, a = video(20.0)
    _, other = video(20.0)
    music = [int(x) for x in RNG.integers(0, 2**32, 600)]
    voice = [int(x) for x in RNG.integers(0, 2**32, 600)]
    assert judge(a, a, _audio(music), _audio(music)).kind == "exact"
    assert judge(a, a, None, None).reason == "phash_sequence"  # neither has sound: the pictures decide
    assert judge(a, a, _audio(music), _audio(voice)).kind == "near"  # same pictures, other sound
    assert judge(a, other, _audio(music), _audio(music)) is None  # shared music, different pictures
    assert same_sound(_audio([7] * 100), _audio([7] * 100)) is None  # silence is not informative


def test_frame_hashes_from_stored_json_with_mirrors():
    data = {"interval": 1.0, "duration": 3.0, "times": [0.0, 1.0, 2.0], "hashes": ["00ff", "0f0f", "ffff"],
            "mirror": ["ff00", "f0f0", "ffff"]}
    fh = frame_hashes(data, dict(data))
    assert fh.hashes.shape == (3, 2) and fh.mirrored.shape == (3, 2) and fh.hashes[0, 0] == 0xFF
    old = frame_hashes({"interval": 0.5, "duration": 8.0, "hashes": ["01", "02"]})
    assert old.mirrored is None and old.times.tolist() == [0.0, 0.5]
    assert frame_hashes({"hashes": []}) is None and frame_hashes("junk") is None


def test_black_bars_are_cropped_before_hashing_but_dark_scenes_are_not():
    from vidpipe.analysis.fingerprints import content_box

    picture = np.random.default_rng(1).integers(40, 255, size=(100, 160, 3), dtype=np.uint8)
    boxed = np.zeros((140, 160, 3), np.uint8)
    boxed[20:120] = picture
    assert content_box(boxed) == (20, 120, 0, 160)
    assert content_box(picture) == (0, 100, 0, 160)
    night = np.zeros((100, 160, 3), np.uint8)
    night[45:50, 70:80] = 200  # a small light in a dark scene: not a letterbox
    assert content_box(night) == (0, 100, 0, 160)


def test_audio_overlap_at_any_offset():
    from vidpipe.analysis.audio_fingerprint import best_overlap, fingerprint

    rng = np.random.default_rng(2)
    tones = [np.sin(2 * np.pi * f * np.arange(4000) / 16000) * np.hanning(4000)
             for f in 220 * 2 ** (rng.integers(0, 24, 80) / 12)]
    words = fingerprint(np.concatenate(tones).astype(np.float32))
    assert best_overlap(words, words[200:]) == (0.0, 200)
    other = fingerprint(rng.standard_normal(320_000).astype(np.float32))
    assert best_overlap(words, other)[0] > 0.35


def test_our_hashes_equal_imagehash_for_the_picture_and_its_mirror():
    import imagehash
    from PIL import Image

    from vidpipe.analysis.fingerprints import hashes

    rgb = np.kron(np.random.default_rng(3).integers(0, 255, (9, 16, 3)), np.ones((20, 20, 1))).astype(np.uint8)
    img = Image.fromarray(rgb)
    gray = img.convert("L")
    mine = hashes(np.asarray(gray.resize((32, 32), Image.Resampling.LANCZOS)),
                  np.asarray(gray.resize((9, 8), Image.Resampling.LANCZOS)))
    flipped = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    theirs = (str(imagehash.phash(img)), str(imagehash.dhash(img)), str(imagehash.phash(flipped)),
              str(imagehash.dhash(flipped)))
    assert mine[:2] == theirs[:2]
    assert sum(bin(int(a, 16) ^ int(b, 16)).count("1") for a, b in zip(mine[2:], theirs[2:], strict=True)) <= 4
