import os
import socket
from pathlib import Path

import pytest

from vidpipe.errors import InputError, UnsafeSourceError
from vidpipe.ingest.paths import iter_import_files, resolve_import_path


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    (root / "shows" / "s01").mkdir(parents=True)
    outside.mkdir()
    (root / "clip.mp4").write_bytes(b"clip")
    (root / "shows" / "s01" / "e01.MKV").write_bytes(b"e01")
    (root / "shows" / "s01" / "e02.mov").write_bytes(b"e02")
    (root / "shows" / "notes.txt").write_text("not media")
    (outside / "secret.mp4").write_bytes(b"secret")
    return {"root": root, "outside": outside}


def test_accepts_a_regular_file_inside_the_root(layout: dict[str, Path]) -> None:
    root = layout["root"]
    assert resolve_import_path(root / "clip.mp4", [root]) == (root / "clip.mp4").resolve()
    assert resolve_import_path(str(root / "clip.mp4"), [root]) == (root / "clip.mp4").resolve()


def test_accepts_with_any_of_several_roots(layout: dict[str, Path]) -> None:
    roots = [layout["outside"], layout["root"]]
    assert resolve_import_path(layout["root"] / "clip.mp4", roots).name == "clip.mp4"


def test_refuses_when_no_roots_are_configured(layout: dict[str, Path]) -> None:
    with pytest.raises(UnsafeSourceError, match="path ingest is disabled.*VIDPIPE_IMPORT_ROOTS"):
        resolve_import_path(layout["root"] / "clip.mp4", [])
    with pytest.raises(UnsafeSourceError, match="disabled"):
        iter_import_files(layout["root"], [])


def test_refuses_a_file_outside_the_roots(layout: dict[str, Path]) -> None:
    with pytest.raises(UnsafeSourceError, match="outside the import roots"):
        resolve_import_path(layout["outside"] / "secret.mp4", [layout["root"]])


def test_refuses_dotdot_escapes(layout: dict[str, Path]) -> None:
    root = layout["root"]
    with pytest.raises(UnsafeSourceError, match="outside"):
        resolve_import_path(f"{root}/shows/../../outside/secret.mp4", [root])
    with pytest.raises(UnsafeSourceError, match="outside"):
        resolve_import_path(f"{root}/../../../../../../etc/passwd", [root])


def test_dotdot_that_stays_inside_is_fine(layout: dict[str, Path]) -> None:
    root = layout["root"]
    assert resolve_import_path(f"{root}/shows/s01/../../clip.mp4", [root]) == (root / "clip.mp4").resolve()


def test_refuses_a_symlink_escaping_the_root(layout: dict[str, Path]) -> None:
    root = layout["root"]
    (root / "innocent.mp4").symlink_to(layout["outside"] / "secret.mp4")
    with pytest.raises(UnsafeSourceError, match="outside"):
        resolve_import_path(root / "innocent.mp4", [root])


def test_refuses_a_symlinked_directory_escaping_the_root(layout: dict[str, Path]) -> None:
    root = layout["root"]
    (root / "door").symlink_to(layout["outside"], target_is_directory=True)
    with pytest.raises(UnsafeSourceError, match="outside"):
        resolve_import_path(root / "door" / "secret.mp4", [root])


def test_accepts_a_symlink_staying_inside_the_root(layout: dict[str, Path]) -> None:
    root = layout["root"]
    (root / "alias.mp4").symlink_to(root / "clip.mp4")
    assert resolve_import_path(root / "alias.mp4", [root]) == (root / "clip.mp4").resolve()


def test_root_given_through_a_symlink_is_resolved(layout: dict[str, Path], tmp_path: Path) -> None:
    link_root = tmp_path / "root-link"
    link_root.symlink_to(layout["root"], target_is_directory=True)
    assert resolve_import_path(link_root / "clip.mp4", [link_root]) == (layout["root"] / "clip.mp4").resolve()


def test_missing_file_is_a_clear_input_error(layout: dict[str, Path]) -> None:
    root = layout["root"]
    with pytest.raises(InputError, match="no such file") as info:
        resolve_import_path(root / "nope.mp4", [root])
    assert not isinstance(info.value, UnsafeSourceError)


def test_missing_file_outside_the_roots_does_not_reveal_existence(layout: dict[str, Path]) -> None:
    root = layout["root"]
    for candidate in (layout["outside"] / "nope.mp4", layout["outside"] / "secret.mp4"):
        with pytest.raises(UnsafeSourceError, match="outside"):
            resolve_import_path(candidate, [root])


def test_dangling_symlink_is_missing(layout: dict[str, Path]) -> None:
    root = layout["root"]
    (root / "dangling.mp4").symlink_to(root / "gone.mp4")
    with pytest.raises(InputError, match="no such file"):
        resolve_import_path(root / "dangling.mp4", [root])


def test_symlink_loop_is_an_input_error(layout: dict[str, Path]) -> None:
    root = layout["root"]
    (root / "a.mp4").symlink_to(root / "b.mp4")
    (root / "b.mp4").symlink_to(root / "a.mp4")
    with pytest.raises(InputError):
        resolve_import_path(root / "a.mp4", [root])


@pytest.mark.parametrize("raw", ["", "clip\x00.mp4"])
def test_malformed_paths_are_refused(layout: dict[str, Path], raw: str) -> None:
    with pytest.raises(InputError):
        resolve_import_path(raw, [layout["root"]])


def test_refuses_a_fifo(layout: dict[str, Path]) -> None:
    root = layout["root"]
    os.mkfifo(root / "pipe.mp4")
    with pytest.raises(UnsafeSourceError, match="not a regular file"):
        resolve_import_path(root / "pipe.mp4", [root])


def test_refuses_a_socket(layout: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    root = layout["root"]
    # AF_UNIX paths are short; bind from inside the directory with a relative name.
    monkeypatch.chdir(root)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind("sock.mp4")
        with pytest.raises(UnsafeSourceError, match="not a regular file"):
            resolve_import_path(root / "sock.mp4", [root])


def test_refuses_a_device_through_a_symlink(layout: dict[str, Path]) -> None:
    root = layout["root"]
    (root / "null.mp4").symlink_to("/dev/null")
    with pytest.raises(UnsafeSourceError, match="outside"):
        resolve_import_path(root / "null.mp4", [root])
    # Even a root that contains the device refuses it for not being a regular file.
    with pytest.raises(UnsafeSourceError, match="not a regular file"):
        resolve_import_path("/dev/null", [Path("/dev")])


def test_refuses_a_directory_with_a_pointer_to_directory_import(layout: dict[str, Path]) -> None:
    root = layout["root"]
    with pytest.raises(InputError, match="is a directory"):
        resolve_import_path(root / "shows", [root])


def test_iter_expands_a_directory_recursively_sorted(layout: dict[str, Path]) -> None:
    root = layout["root"]
    files = iter_import_files(root, [root])
    resolved = root.resolve()
    assert files == [
        resolved / "clip.mp4",
        resolved / "shows" / "s01" / "e01.MKV",
        resolved / "shows" / "s01" / "e02.mov",
    ]


def test_iter_skips_hidden_non_media_special_and_escaping_entries(layout: dict[str, Path]) -> None:
    root = layout["root"]
    (root / ".hidden.mp4").write_bytes(b"h")
    (root / ".cache").mkdir()
    (root / ".cache" / "thumb.mp4").write_bytes(b"t")
    os.mkfifo(root / "pipe.mp4")
    (root / "escape.mp4").symlink_to(layout["outside"] / "secret.mp4")
    (root / "door").symlink_to(layout["outside"], target_is_directory=True)
    (root / "loop").symlink_to(root, target_is_directory=True)
    (root / "alias.mp4").symlink_to(root / "clip.mp4")
    names = [p.name for p in iter_import_files(root, [root])]
    assert names == ["clip.mp4", "e01.MKV", "e02.mov"]


def test_iter_of_a_file_is_that_file(layout: dict[str, Path]) -> None:
    root = layout["root"]
    (root / "notes.txt").write_text("explicitly named")
    assert iter_import_files(root / "notes.txt", [root]) == [(root / "notes.txt").resolve()]


def test_iter_refuses_a_directory_outside_the_roots(layout: dict[str, Path]) -> None:
    with pytest.raises(UnsafeSourceError, match="outside"):
        iter_import_files(layout["outside"], [layout["root"]])


def test_iter_of_a_missing_directory(layout: dict[str, Path]) -> None:
    root = layout["root"]
    with pytest.raises(InputError, match="no such file"):
        iter_import_files(root / "missing", [root])
