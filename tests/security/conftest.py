"""Fixtures of the attack suite: a data root with the demo files and a secret outside it, live servers of the
checkout under test (``GRIDAPP_SECURITY_CHECKOUT``, default this repository), a stored comparison to attack,
and a ledger of what each attack saw (written as a markdown table to ``GRIDAPP_SECURITY_REPORT`` if set)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest

from tests.security.live import CHECKOUT, SECRET_TEXT, Arena, DashClient, Ledger, Server, Stored, compare_form, serving

DEMO = CHECKOUT / "data" / "demo"
DEMO_FILES = ("kang2018_donor1016.h5ad", "tfs_hg38_in_kang.txt", "dorothea_ABC_kang.tsv")
#: a short TF list (TFs with DoRothEA targets in the demo) that keeps the suite's real runs to seconds
SMALL_TFS = "MYC STAT1 HIF1A NFKB1 SPI1 STAT3 JUN FOXP1 IRF2 FOS IRF3 YY1 RBPJ KLF6 TCF7 CREM JUNB ELF1 IRF1 HBP1"


@pytest.fixture(scope="session")
def arena(tmp_path_factory) -> Arena:
    """A data root with hard copies of the demo files, the demo with a two-value ``group_id`` column
    (``kang_groups.h5ad``, for Compare) and a 20-TF list; ``outside/secret.csv`` beside it, outside every root."""
    base = tmp_path_factory.mktemp("security")
    root, outside, work = base / "root", base / "outside", base / "work"
    for folder in (root, outside, work):
        folder.mkdir()
    for name in DEMO_FILES:
        shutil.copyfile(DEMO / name, root / name)
    demo = ad.read_h5ad(DEMO / DEMO_FILES[0])
    demo.obs["group_id"] = np.where(np.arange(demo.n_obs) % 2, "stim", "ctrl")
    demo.write_h5ad(root / "kang_groups.h5ad")
    (root / "tfs_small.txt").write_text("\n".join(SMALL_TFS.split()) + "\n")
    (outside / "secret.csv").write_text(SECRET_TEXT)
    return Arena(root, outside, work)


@pytest.fixture(scope="session")
def server(arena: Arena) -> Iterator[Server]:
    """The dashboard under attack: 5 MB uploads, jobs of at most 2,000 cells."""
    with serving(
        arena.root,
        arena.outside,
        arena.work / "cache",
        arena.work / "server.log",
        "--max-upload-mb",
        "5",
        "--max-cells",
        "2000",
    ) as running:
        yield running


@pytest.fixture(scope="session")
def limited_server(arena: Arena) -> Iterator[Server]:
    """A second dashboard with jobs of at most 100 cells (the demo donor has 1,045), its own cache."""
    with serving(
        arena.root,
        arena.outside,
        arena.work / "cache-limited",
        arena.work / "server-limited.log",
        "--max-upload-mb",
        "5",
        "--max-cells",
        "100",
    ) as running:
        yield running


@pytest.fixture(scope="session")
def stored(server: Server) -> Stored:
    """Compare ctrl and stim among the B and NK cells through the dashboard itself (raw POSTs, as a user would),
    then open its run on both groups: the keys the attacks need."""
    client = DashClient(server.url)
    values = compare_form(client, cell_types=["B cells", "NK cells"])
    reply = client.post("comparison.data", values, ["compare-run.n_clicks"], timeout=900)
    compare_key = reply.outputs().get("comparison.data")
    assert compare_key, f"the setup comparison failed: {reply.summary()}\n{server.log_tail()}"
    opened = client.post("result-key.data", {("comparison", "data"): compare_key}, ["comparison.data"])
    result_key = opened.outputs().get("result-key.data")
    assert result_key, f"the comparison's run did not open: {opened.summary()}"
    return Stored(compare_key, result_key)


# ------------------------------------------------------------------------------------------ test data files


def small_h5ad(path: Path, cells: slice) -> Path:
    """A valid upload: a slice of the demo cells with their obs columns."""
    demo = ad.read_h5ad(DEMO / DEMO_FILES[0])
    demo[cells].copy().write_h5ad(path)
    return path


def bomb_h5ad(path: Path, n_cells: int = 20_000, n_genes: int = 6_400) -> Path:
    """An h5ad of a few hundred kB whose dense float32 ``X`` reads as ``n_cells × n_genes`` ones (500 MB):
    a gzip-compressed, chunked dataset whose chunks were never written, so HDF5 fills them with 1.0."""
    obs = pd.DataFrame({"batch": pd.Categorical(np.where(np.arange(n_cells) % 2, "a", "b"))})
    obs.index = [f"c{i}" for i in range(n_cells)]
    ad.AnnData(obs=obs, var=pd.DataFrame(index=[f"G{i}" for i in range(n_genes)])).write_h5ad(path)
    with h5py.File(path, "a") as handle:
        if "X" in handle:
            del handle["X"]
        x = handle.create_dataset(
            "X", shape=(n_cells, n_genes), dtype="float32", chunks=(500, 640), compression="gzip", fillvalue=1.0
        )
        x.attrs["encoding-type"] = "array"
        x.attrs["encoding-version"] = "0.2.0"
    return path


@pytest.fixture(scope="session")
def upload_files(tmp_path_factory) -> dict[str, Path]:
    """``x`` and ``y``: two different valid small h5ad files; ``bomb``: see :func:`bomb_h5ad`."""
    folder = tmp_path_factory.mktemp("uploads")
    return {
        "x": small_h5ad(folder / "x.h5ad", slice(0, 80)),
        "y": small_h5ad(folder / "y.h5ad", slice(80, 160)),
        "bomb": bomb_h5ad(folder / "bomb.h5ad"),
    }


@pytest.fixture(scope="session")
def ledger() -> Iterator[Ledger]:
    book = Ledger()
    yield book
    target = os.environ.get("GRIDAPP_SECURITY_REPORT")
    if target:
        Path(target).write_text(book.markdown(), encoding="utf-8")
