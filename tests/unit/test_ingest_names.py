import unicodedata

import pytest

from vidpipe.ingest.names import guess_extension, sanitize_filename


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("clip.mp4", "clip.mp4"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("/var/media/holiday.mov", "holiday.mov"),
        ("C:\\Users\\me\\Videos\\trip.MKV", "trip.MKV"),
        ("videos/", "videos"),
        ("a\x00b.mp4", "ab.mp4"),
        ("line\r\nbreak.mp4", "line break.mp4"),
        ("bell\x07del\x7f.mp4", "belldel.mp4"),
        ("evil\u202egpj.exe", "evilgpj.exe"),
        ("zero\u200bwidth\ufeff.mp4", "zerowidth.mp4"),
        ("iso\u2066late\u2069.mp4", "isolate.mp4"),
        ("  lots \t of\u00a0\u3000space  .mp4", "lots of space .mp4"),
        (".hidden.mp4", "hidden.mp4"),
        ("...dots.mp4", "dots.mp4"),
        ("trailing. . ", "trailing"),
        ('say "hi".mp4', "say _hi_.mp4"),
        ("a<b>c:d|e?f*g.mp4", "a_b_c_d_e_f_g.mp4"),
        ("surrogate\udcff.mp4", "surrogate.mp4"),
    ],
)
def test_sanitize_filename(raw: str, expected: str) -> None:
    assert sanitize_filename(raw) == expected


@pytest.mark.parametrize("raw", ["", " ", ".", "..", "...", "../", "/", "\\", "\x00\x01", "\u202e", "./.."])
def test_sanitize_filename_is_never_empty(raw: str) -> None:
    assert sanitize_filename(raw) == "upload"


def test_sanitize_filename_normalises_to_nfc() -> None:
    decomposed = "Cafe\u0301.mp4"
    result = sanitize_filename(decomposed)
    assert result == "Caf\u00e9.mp4"
    assert unicodedata.is_normalized("NFC", result)


def test_truncation_keeps_the_extension() -> None:
    result = sanitize_filename("x" * 500 + ".mp4")
    assert len(result) == 200
    assert result.endswith("xx.mp4")
    assert sanitize_filename("a" * 30 + ".webm", max_length=10) == "aaaaa.webm"


def test_truncation_does_not_leave_trailing_dots_or_an_empty_stem() -> None:
    assert sanitize_filename("ab. . . . .mp4", max_length=7) == "ab.mp4"
    assert sanitize_filename("." * 3 + "b" * 20 + ".mp4", max_length=5).endswith(".mp4")
    assert len(sanitize_filename("movie.verylongext12", max_length=8)) <= 8


def test_long_suffix_is_not_an_extension() -> None:
    name = "report." + "x" * 40
    assert sanitize_filename(name, max_length=20) == name[:20]
    assert guess_extension(name) == ""


def test_rejects_nonpositive_max_length() -> None:
    with pytest.raises(ValueError):
        sanitize_filename("a.mp4", max_length=0)


@pytest.mark.parametrize(
    "raw",
    ["a\r\nContent-Type: text/html.mp4", 'x"; filename="evil.exe', "\x00\x1b[31mred.mp4", "tab\there.mp4"],
)
def test_result_is_safe_in_a_content_disposition_header(raw: str) -> None:
    result = sanitize_filename(raw)
    assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in result)
    assert '"' not in result
    assert "\\" not in result
    assert "/" not in result
    header = f'attachment; filename="{result}"'
    assert header.count('"') == 2


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("clip.MP4", ".mp4"),
        ("../x/archive.tar.GZ", ".gz"),
        ("noext", ""),
        (".bashrc", ""),
        ("", ""),
        ("weird.mp4\u202e", ".mp4"),
        ("bad.m p4", ""),
        ("x.ümlaut", ""),
    ],
)
def test_guess_extension(raw: str, expected: str) -> None:
    assert guess_extension(raw) == expected
