import os
from pathlib import Path

import pytest

from rnagan.fileio import atomic_dir, atomic_path, resolve_dir, write_json_atomic


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_json_written_atomically(tmp_path: Path) -> None:
    write_json_atomic(tmp_path / "a" / "m.json", {"x": 1})
    assert (tmp_path / "a" / "m.json").read_text().strip() == '{\n  "x": 1\n}'


def test_atomic_dir_replaces_whole_folder(tmp_path: Path) -> None:
    target = tmp_path / "ckpt"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with atomic_dir(target) as tmp:
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_atomic_dir_failure_keeps_previous_folder(tmp_path: Path) -> None:
    target = tmp_path / "ckpt"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "b").write_text("partial")
        raise RuntimeError("killed")
    assert sorted(p.name for p in target.iterdir()) == ["a"]


def test_resolve_dir_falls_back_to_old_after_a_crash_mid_swap(tmp_path: Path) -> None:
    target = tmp_path / "ckpt"
    old = tmp_path / "ckpt.old"
    old.mkdir()
    assert resolve_dir(target) == old
    target.mkdir()
    assert resolve_dir(target) == target


def test_written_files_get_the_usual_permissions_not_mkstemp_0600(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "m.json", {})
        with atomic_dir(tmp_path / "d") as tmp:
            (tmp / "x").write_text("1")
    finally:
        os.umask(mask)
    assert (tmp_path / "m.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755
