"""Cell subsets, TF coverage and gene selection."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from gridapp.core.errors import GridappError
from gridapp.core.subset import normalise, read_tfs, select_genes, subset_cells, tf_coverage


@pytest.fixture
def cells() -> ad.AnnData:
    rng = np.random.default_rng(1)
    obs = pd.DataFrame(
        {
            "donor": np.repeat(["d1", "d2", "d3"], 40),
            "cell_type": np.tile(["Mono", "B", "T", "NK"], 30),
        },
        index=[f"c{i}" for i in range(120)],
    )
    return ad.AnnData(
        rng.poisson(2, (120, 30)).astype(np.float32), obs=obs, var=pd.DataFrame(index=[f"G{i}" for i in range(30)])
    )


def test_subset_by_donor_and_cell_type(cells):
    kept = subset_cells(
        cells, donor_key="donor", donors=["d1", "d3"], cell_type_key="cell_type", cell_types=["Mono", "B"]
    )
    assert kept.n_obs == 40
    assert set(kept.obs["donor"]) == {"d1", "d3"} and set(kept.obs["cell_type"]) == {"Mono", "B"}


def test_unknown_column_lists_the_columns(cells):
    with pytest.raises(GridappError, match="No obs column 'sample'") as err:
        subset_cells(cells, donor_key="sample", donors=["d1"])
    assert "donor" in err.value.hint and "cell_type" in err.value.hint


def test_unknown_value_lists_the_values(cells):
    with pytest.raises(GridappError, match="has no value 'd9'") as err:
        subset_cells(cells, donor_key="donor", donors=["d1", "d9"])
    assert "'d1', 'd2', 'd3'" in err.value.hint


def test_too_small_subset_is_refused(cells):
    with pytest.raises(GridappError, match="holds 10 cells"):
        subset_cells(cells, donor_key="donor", donors=["d1"], cell_type_key="cell_type", cell_types=["NK"])


def test_values_without_their_column_are_refused(cells):
    with pytest.raises(GridappError, match="without the obs column"):
        subset_cells(cells, donors=["d1"])


def test_counts_are_normalised_and_kept(cells):
    counts = cells.X.copy()
    note = normalise(cells, "counts")
    assert "raw counts" in note and np.array_equal(cells.layers["counts"], counts)
    assert np.allclose(np.expm1(cells.X).sum(axis=1), 1e4, rtol=1e-4)
    assert "used as they are" in normalise(cells, "log-normalised")


def test_tf_coverage_reports_and_explains_failures():
    genes = ["SPI1", "CEBPB", "TCF7", "LEF1", "GATA1", "ACTB"]
    coverage = tf_coverage(genes, ["SPI1", "CEBPB", "TCF7", "LEF1", "GATA1", "PAX5"])
    assert coverage.n_present == 5 and "5 of 6" in str(coverage)
    with pytest.raises(GridappError, match="another species"):
        tf_coverage(genes, ["Spi1", "Cebpb", "Tcf7", "Lef1", "Gata1"])
    with pytest.raises(GridappError, match="Ensembl IDs"):
        tf_coverage([f"ENSG{i:011d}" for i in range(300)], ["SPI1", "CEBPB"])


def test_gene_selection_keeps_tfs_and_drops_rare_genes(cells):
    cells.X[:, 5] = 0
    cells.X[:2, 5] = 4  # detected in 2 cells only
    normalise(cells, "counts")
    chosen = select_genes(cells, ["G7", "G5"], n_top_genes=10)
    assert "G7" in chosen.var_names and chosen.var.loc["G7", "is_tf"]
    assert "G5" not in chosen.var_names
    hvg = chosen.var["highly_variable"]
    assert hvg.sum() == 10 and set(chosen.var_names) == set(hvg[hvg].index) | {"G7"}


def test_tf_list_reader(tmp_path):
    path = tmp_path / "tfs.txt"
    path.write_text("# human TFs\nSPI1\nCEBPB\n\nSPI1\n")
    assert read_tfs(path) == ["SPI1", "CEBPB"]
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(GridappError, match="empty"):
        read_tfs(tmp_path / "empty.txt")
