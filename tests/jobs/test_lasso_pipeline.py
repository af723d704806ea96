"""The LASSO end to end on real counts split into new and old RNA by binomial thinning, filtered by TRRUST."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from gridapp.cli import main
from gridapp.core.enrichment import ENRICHMENT_COLUMNS
from gridapp.jobs.params import DEMO_DIR
from tests.conftest import shared

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> str:
    """The demo donor's B cells and CD14+ monocytes; each UMI is new RNA with probability 0.3 (layer ``new``)."""
    adata = ad.read_h5ad(DEMO_DIR / "kang2018_donor1016.h5ad")
    adata = adata[adata.obs["cluster_id"].isin(["B cells", "CD14+ Monocytes"])].copy()
    counts = sp.csr_matrix(adata.X)
    new = counts.copy()
    new.data = np.random.default_rng(0).binomial(counts.data.astype(np.int64), 0.3).astype(np.float32)
    new.eliminate_zeros()
    adata.layers["total"], adata.layers["new"] = counts, new
    path = tmp_path_factory.mktemp("labelled") / "kang_thinned.h5ad"
    adata.write_h5ad(path)
    return str(path)


def _run(labelled: str, out, *extra: str) -> int:
    argv = ["run", "--input", labelled, "--tfs", str(DEMO_DIR / "tfs_hg38_in_kang.txt"), "--method", "lasso"]
    subset = ["--cell-type-key", "cluster_id", "--n-top-genes", "1000", "--workers", "2"]
    return main([*argv, *subset, *extra, "--out", out])


@pytest.mark.needs_shared
def test_lasso_with_trrust_gives_signed_regulons_and_the_enrichment_table(labelled, tmp_path):
    trrust = shared("priors/df_TF_gene_link_TRRUST_2019.csv.gz")
    # 495 cells and TRRUST's sparse lists: only XBP1 passes FDR 0.05 (q = 0.011; HSPA5, SDF2L1 among its targets)
    layers = ["--target-layer", "new", "--tf-layer", "total"]
    assert _run(labelled, str(tmp_path / "out"), *layers, "--prior", str(trrust), "--fdr", "0.3") == 0
    enrichment = pd.read_csv(tmp_path / "out" / "enrichment.csv")
    assert list(enrichment.columns) == ENRICHMENT_COLUMNS and enrichment["kept"].any()
    kept = set(enrichment.loc[enrichment["kept"], "TF"])
    assert (enrichment["kept"] == (enrichment["qvalue"] < 0.3)).all()
    regulons = pd.read_csv(tmp_path / "out" / "regulon_targets.csv")
    assert set(regulons["TF"]) <= kept
    assert regulons["regulon"].str.fullmatch(r".+\([+-]\)").all()
    adjacencies = pd.read_csv(tmp_path / "out" / "adjacencies.csv")
    assert {"coefficient"} <= set(adjacencies.columns) and (adjacencies["coefficient"] < 0).any()
    auc = pd.read_csv(tmp_path / "out" / "auc.csv", index_col=0)
    assert set(auc.columns) == set(regulons["regulon"])


def test_a_missing_layer_is_one_clear_line(labelled, tmp_path, capsys):
    assert _run(labelled, str(tmp_path / "out"), "--target-layer", "unspliced") == 2
    err = capsys.readouterr().err
    assert "no layer 'unspliced'" in err and "'total'" in err and "Traceback" not in err


def test_layers_are_refused_for_methods_that_do_not_regress_them(labelled, tmp_path, capsys):
    code = main(["run", "--demo", "--target-layer", "new", "--out", str(tmp_path / "out")])
    assert code == 2 and "--target-layer applies to lasso, not" in capsys.readouterr().err
