"""Only files under the data roots are listed or opened; obs columns offered for subsetting."""

from __future__ import annotations

import os

import pandas as pd

from gridapp.jobs.datasets import category_columns, count_cells, list_files, obs_table
from gridapp.jobs.params import DEMO_DIR


def test_listing_skips_hidden_files_symlinks_out_and_special_files(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "ok.h5ad").write_bytes(b"x")
    outside = tmp_path / "secret.h5ad"
    outside.write_bytes(b"x")
    os.symlink(outside, root / "link.h5ad")
    os.mkfifo(root / "endless.h5ad")
    (root / ".scratch-abc").mkdir()
    (root / ".scratch-abc" / "half.h5ad").write_bytes(b"x")
    assert list_files([root]) == [(root / "ok.h5ad").resolve()]


def test_demo_obs_offers_the_cell_type_column_with_counts():
    obs = obs_table(DEMO_DIR / "kang2018_donor1016.h5ad")
    columns = category_columns(obs)
    assert "cluster_id" in columns and "sample_id" not in columns  # a single donor: nothing to choose
    assert sum(columns["cluster_id"].values()) == len(obs) == 1045
    assert count_cells(obs, [("cluster_id", ["B cells", "CD14+ Monocytes"]), ("sample_id", [])]) == 495


def test_count_ignores_unknown_columns():
    obs = pd.DataFrame({"type": ["a", "b", "a"]})
    assert count_cells(obs, [("type", ["a"]), ("missing", ["x"]), (None, ["y"])]) == 2


def test_obs_is_reread_when_the_file_changes(tmp_path):
    import anndata as ad
    import numpy as np

    path = tmp_path / "d.h5ad"
    ad.AnnData(np.ones((4, 2), np.float32), obs=pd.DataFrame({"type": list("aabb")}, index=list("wxyz"))).write_h5ad(
        path
    )
    assert obs_table(path) is obs_table(path)  # memoised while the file is unchanged
    ad.AnnData(np.ones((3, 2), np.float32), obs=pd.DataFrame({"donor": list("ppq")}, index=list("xyz"))).write_h5ad(
        path
    )
    assert list(obs_table(path).columns) == ["donor"] and len(obs_table(path)) == 3
