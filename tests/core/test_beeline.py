"""The BEELINE reader: set ids, per-folder gene orderings, the shared expression matrix and splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridapp.core.beeline import dataset_ids, parse_id, read_beeline, read_split, resolve_ids
from gridapp.core.errors import GridappError
from tests.conftest import shared


def test_ids_parse_with_hyphenated_cells_and_networks():
    assert parse_id("mHSC-GM-500-Non-Specific") == ("mHSC-GM", "500", "Non-Specific")
    assert parse_id("hESC-1000-STRING") == ("hESC", "1000", "STRING")
    for bad in ("mDC-700-Specific", "xyz-500-Specific", "mDC-500"):
        with pytest.raises(GridappError, match="Unknown BEELINE set"):
            parse_id(bad)


def test_a_folder_with_its_own_gene_order_reads_the_shared_matrix_in_that_order():
    root = shared("beeline")
    specific, _, _ = read_beeline(root, "mDC-500-Specific")
    other, tfs, truth = read_beeline(root, "mDC-500-Non-Specific")
    order = pd.read_csv(root / "networks/Non-Specific Dataset/mDC/TFs+500/Target.csv.gz", index_col=0)["Gene"]
    assert list(other.var_names) == list(order) and list(other.var_names) != list(specific.var_names)
    assert sorted(other.var_names) == sorted(specific.var_names)
    gene = other.var_names[0]
    np.testing.assert_array_equal(other[:, gene].X, specific[:, gene].X)  # same cells, same values
    assert set(tfs) <= set(other.var_names) and set(truth["TF"]) & set(tfs)


def test_split_indices_follow_their_own_network_ordering():
    root = shared("beeline")
    _, _, truth = read_beeline(root, "mDC-500-Non-Specific")
    test = read_split(root, "mDC-500-Non-Specific")
    known = set(zip(truth["TF"], truth["target"]))
    in_truth = np.array([pair in known for pair in zip(test["TF"], test["target"])])
    assert np.array_equal(in_truth, test["label"].to_numpy())  # every positive known, no negative
    assert len(read_split(root, "mESC-500-Specific")) == 22738  # GENELink's split where there is one


def test_all_means_every_set_with_expression_and_missing_expression_is_explained():
    root = shared("beeline")
    available = dataset_ids(root)
    assert "mDC-500-Specific" in available and "mESC-500-Lofgof" in available
    assert not any(i.startswith("hESC") for i in available)  # no hESC expression is distributed
    assert resolve_ids(root, "all,mDC-500-Specific") == available
    with pytest.raises(GridappError, match="no expression matrix for hESC TFs\\+500"):
        read_beeline(root, "hESC-500-Specific")
    with pytest.raises(GridappError, match="no train/test split"):
        read_split(root, "mESC-500-Lofgof")
