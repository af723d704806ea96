"""The one gate for files a request names: only regular files under the roots, within the caps, checked
before anything is opened; uploads kept by content, never replaced."""

from __future__ import annotations

import hashlib
import os

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from gridapp.core.errors import GridappError
from gridapp.core.io import expanded_bytes
from gridapp.jobs.gate import FileGate, safe_name, store_upload


@pytest.fixture
def root(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "ok.tsv").write_text("TF\ttarget\nA\tB\n")
    (tmp_path / "secret.csv").write_text("API_KEY=sk-live-DEADBEEF,owner\n")
    return folder


def test_a_regular_file_under_the_roots_passes(root):
    assert FileGate.over([root]).file(str(root / "ok.tsv"), "prior") == (root / "ok.tsv").resolve()


def test_outside_paths_get_one_answer_whether_they_exist_or_not(root):
    gate = FileGate.over([root])
    os.symlink(root.parent / "secret.csv", root / "link.csv")
    answers = []
    for path in (root / ".." / "secret.csv", root / "link.csv", "/etc/shadow", "/nonexistent/shadow"):
        with pytest.raises(GridappError, match="outside the data folders") as refused:
            gate.file(str(path), "prior")
        answers.append(refused.value.message.split(":", 1)[1])
        assert "DEADBEEF" not in str(refused.value)
    assert len(set(answers[2:])) == 1  # /etc/shadow (exists) and a missing path read the same


def test_endless_and_special_files_are_refused_without_being_opened(root):
    os.mkfifo(root / "fifo.tsv")  # opening a FIFO for reading would block for ever
    os.symlink("/dev/zero", root / "zero.tsv")
    gate = FileGate.over([root, "/dev"])
    for path in (root / "fifo.tsv", "/dev/zero", "/dev/urandom"):
        with pytest.raises(GridappError, match="not a regular file"):
            gate.file(str(path), "prior")
    with pytest.raises(GridappError, match="outside the data folders"):
        FileGate.over([root]).file(str(root / "zero.tsv"))  # resolves to /dev/zero


@pytest.mark.parametrize("hostile", [None, "", 7, ["a"], {"a": 1}, "bad\x00name"])
def test_values_that_are_not_paths_are_refused_with_a_message(root, hostile):
    with pytest.raises(GridappError):
        FileGate.over([root]).file(hostile, "prior")


def test_files_over_the_cap_are_refused(root):
    (root / "big.tsv").write_bytes(b"x" * 2048)
    gate = FileGate.over([root], max_bytes=1024)
    with pytest.raises(GridappError, match="over this server's"):
        gate.file(str(root / "big.tsv"))
    assert gate.files([str(root / "ok.tsv")]) == ((root / "ok.tsv").resolve(),)


def _bomb(path, n_cells=2000, n_genes=1000):
    """An h5ad whose dense matrix (8 MB as float32) compresses to a few KB."""
    obs = pd.DataFrame({"type": np.repeat(["a", "b"], n_cells // 2)}, index=[f"c{i}" for i in range(n_cells)])
    adata = ad.AnnData(np.zeros((n_cells, n_genes), np.float32), obs=obs)
    adata.write_h5ad(path, compression="gzip")


def test_a_decompression_bomb_is_measured_from_metadata_and_refused(root):
    _bomb(root / "bomb.h5ad")
    assert (root / "bomb.h5ad").stat().st_size < 200_000
    assert expanded_bytes(root / "bomb.h5ad", cap=1) >= 2000 * 1000 * 4
    with pytest.raises(GridappError, match="unpacks to"):
        FileGate.over([root], max_dataset_bytes=2**20).dataset(str(root / "bomb.h5ad"))
    assert FileGate.over([root], max_dataset_bytes=2**24).dataset(str(root / "bomb.h5ad")).name == "bomb.h5ad"


def test_a_gzip_bomb_is_counted_only_up_to_the_cap(tmp_path):
    import gzip

    path = tmp_path / "table.csv.gz"
    with gzip.open(path, "wb") as handle:
        for _ in range(64):
            handle.write(b"0," * 2**19)  # 64 MB of text
    assert 2**20 < expanded_bytes(path, cap=2**20) <= 3 * 2**20


def test_uploads_are_kept_by_content_and_never_replaced(tmp_path):
    space = tmp_path / "uploads" / "u1"
    first = store_upload(space, "toctou.h5ad", b"X-bytes", lambda path: None)
    second = store_upload(space, "toctou.h5ad", b"Y-bytes", lambda path: None)
    assert first != second and first.name == second.name == "toctou.h5ad"
    assert first.read_bytes() == b"X-bytes" and second.read_bytes() == b"Y-bytes"
    assert first.parent.name == hashlib.sha256(b"X-bytes").hexdigest()[:32]
    assert store_upload(space, "toctou.h5ad", b"X-bytes", lambda path: None) == first


def test_a_refused_upload_leaves_nothing(tmp_path):
    space = tmp_path / "u1"

    def refuse(path):
        raise GridappError("no")

    for validate in (refuse, lambda path: 1 / 0):
        with pytest.raises((GridappError, ZeroDivisionError)):
            store_upload(space, "x.h5ad", b"bytes", validate)
    assert [p for p in space.rglob("*") if p.is_file()] == []


def test_safe_names_keep_the_extension_and_drop_path_parts():
    assert "/" not in safe_name("../../etc/passwd") and not safe_name("../../etc/passwd").startswith(".")
    assert safe_name(".hidden.h5ad") == "hidden.h5ad"
    assert safe_name("x" * 200 + ".h5ad").endswith(".h5ad") and len(safe_name("x" * 200 + ".h5ad")) == 80
