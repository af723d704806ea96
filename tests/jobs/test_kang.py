"""Real data: one Kang 2018 PBMC donor, pruned with DoRothEA A–C, gives the known cell-type regulons."""

from __future__ import annotations

import pytest

from gridapp.jobs.params import RunParams
from gridapp.jobs.pipeline import run
from tests.conftest import shared

pytestmark = [pytest.mark.slow, pytest.mark.needs_shared]


@pytest.fixture(scope="module")
def kang(client, tmp_path_factory):
    params = RunParams(
        input=str(shared("singlecell/kang2018_muscat_ref_5donors.h5ad")),
        tfs=str(shared("tfs/allTFs_hg38.txt")),
        donor_key="sample_id",
        donors=("1016",),
        cell_type_key="cluster_id",
        prune="prior",
        prior=str(shared("priors/dorothea_hs.tsv.gz")),
        prior_confidence=("A", "B", "C"),
        seed=0,
    )
    return run(params, client=client, cache_dir=tmp_path_factory.mktemp("cache"))


def test_kang_donor_subset_and_symbols(kang):
    counts = kang.summary["counts"]
    assert counts["cells"] == 1045 and set(kang.adata.obs["sample_id"].astype(str)) == {"1016"}
    assert counts["tfs_in_data"] >= 150 and counts["regulons"] >= 10
    assert kang.summary["input"]["gene_symbols"] == "var['feature']"


def test_myeloid_regulons_are_most_active_in_monocytes(kang):
    mean_auc = kang.adata.uns["regulon_summaries"]["mean_auc"]
    myeloid = [name for name in ("SPI1(+)", "CEBPB(+)") if name in mean_auc.columns]
    assert myeloid, f"no myeloid regulon survived: {list(mean_auc.columns)}"
    for name in myeloid:
        assert mean_auc.loc["CD14+ Monocytes", name] > mean_auc.loc["B cells", name]
        assert mean_auc.loc["CD14+ Monocytes", name] > mean_auc.loc["CD4 T cells", name]


def test_t_cell_regulons_go_the_other_way(kang):
    mean_auc = kang.adata.uns["regulon_summaries"]["mean_auc"]
    for name in ("TCF7(+)", "LEF1(+)"):
        if name in mean_auc.columns:
            assert mean_auc.loc["CD4 T cells", name] > mean_auc.loc["CD14+ Monocytes", name]


def test_pruned_targets_are_all_in_dorothea(kang):
    import pandas as pd

    from gridapp.core.priors import read_prior
    from gridapp.core.regulons import regulons_table

    prior = read_prior(shared("priors/dorothea_hs.tsv.gz"), confidence=("A", "B", "C"))
    table = regulons_table(kang.regulons)
    pairs = set(zip(prior["TF"], prior["target"]))
    assert all((tf, target) in pairs for tf, target in zip(table["TF"], table["target"]))
    assert isinstance(kang.adata.obsm["X_aucell"], pd.DataFrame)
