"""Atomic writes: the old file or the new one, never half of one, and no scratch left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridapp.core.atomic import leftovers, replace_folder, scratch_beside, store_folder_once, write_atomically


def _fail_half_way(scratch: Path) -> None:
    scratch.write_text("half")
    raise RuntimeError("disk full")


def test_a_failed_write_leaves_the_earlier_file_and_no_scratch(tmp_path):
    path = tmp_path / "table.csv"
    write_atomically(path, lambda scratch: scratch.write_text("first"))
    with pytest.raises(RuntimeError, match="disk full"):
        write_atomically(path, _fail_half_way)
    assert path.read_text() == "first" and not leftovers(path)
    write_atomically(path, lambda scratch: scratch.write_text("second"))
    assert path.read_text() == "second" and [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_the_scratch_keeps_the_suffix_that_readers_go_by(tmp_path):
    seen = []
    write_atomically(tmp_path / "sub" / "cells.h5ad", lambda scratch: seen.append(scratch) or scratch.write_text(""))
    assert seen[0].suffix == ".h5ad" and seen[0].name.startswith(".cells.partial-")
    assert (tmp_path / "sub" / "cells.h5ad").is_file()  # its folder made


def test_a_folder_stored_once_keeps_the_first_and_drops_the_second(tmp_path):
    folder = tmp_path / "key"
    store_folder_once(folder, lambda scratch: (scratch / "run.json").write_text("first"))
    store_folder_once(folder, lambda scratch: (scratch / "run.json").write_text("second"))
    assert (folder / "run.json").read_text() == "first" and not leftovers(folder)
    with pytest.raises(RuntimeError):
        store_folder_once(tmp_path / "other", lambda scratch: _fail_half_way(scratch / "run.json"))
    assert not (tmp_path / "other").exists() and not leftovers(tmp_path / "other")


def test_a_replaced_folder_holds_only_the_new_files(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.csv").write_text("old")
    with scratch_beside(out, folder=True) as scratch:
        (scratch / "new.csv").write_text("new")
        replace_folder(out, scratch)
    assert [p.name for p in out.iterdir()] == ["new.csv"] and [p.name for p in tmp_path.iterdir()] == ["out"]
