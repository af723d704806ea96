"""Training pairs: known links and same-TF negatives; splits that share no pair and, TF-aware, no TF."""

from __future__ import annotations

import pandas as pd
import pytest

from gridapp.core.errors import GridappError
from gridapp.core.supervised.pairs import labelled_pairs, tf_aware_split
from tests.conftest import shared

GENES = [f"G{i}" for i in range(40)]
TFS = [f"G{i}" for i in range(8)]


def _prior() -> pd.DataFrame:
    rows = [(tf, f"G{10 + 3 * i + j}") for i, tf in enumerate(TFS) for j in range(4)]
    return pd.DataFrame([*rows, ("G0", "G0"), ("NOT_A_TF", "G1"), ("G1", "ELSEWHERE")], columns=["TF", "target"])


def test_positives_are_known_links_and_negatives_unknown_pairs_of_the_same_tfs():
    pairs = labelled_pairs(_prior(), TFS, GENES, negatives_per_positive=2, seed=0)
    known = set(zip(_prior()["TF"], _prior()["target"]))
    positives, negatives = pairs[pairs["label"]], pairs[~pairs["label"]]
    assert len(positives) == 32 and set(zip(positives["TF"], positives["target"])) <= known
    assert len(negatives) == 64 and not set(zip(negatives["TF"], negatives["target"])) & known
    assert (negatives.groupby("TF").size() == 8).all()  # two per positive, per TF
    assert (pairs["TF"] != pairs["target"]).all() and not pairs.duplicated(["TF", "target"]).any()
    assert pairs.equals(labelled_pairs(_prior(), TFS, GENES, negatives_per_positive=2, seed=0))


def test_a_prior_that_matches_nothing_is_refused_with_a_reason():
    with pytest.raises(GridappError, match="same gene symbols"):
        labelled_pairs(pd.DataFrame({"TF": ["Sox2"], "target": ["Nanog"]}), TFS, GENES)


def _random_split(pairs: pd.DataFrame, seed: int) -> dict[str, pd.DataFrame]:
    """A random pair split whose training part is balanced, as GENELink's splits of the STRING sets are."""
    shuffled = pairs.sample(frac=1.0, random_state=seed)
    test = shuffled.iloc[: len(pairs) // 2]
    rest = shuffled.iloc[len(pairs) // 2 :]
    positives, negatives = rest[rest["label"]], rest[~rest["label"]].iloc[: int(rest["label"].sum())]
    validation = pd.concat([positives.iloc[::4], negatives.iloc[::4]])
    return {"Train": pd.concat([positives, negatives]).drop(validation.index), "Validation": validation, "Test": test}


def test_a_tf_aware_split_shares_no_tf_and_no_pair():
    pairs = labelled_pairs(_prior(), TFS, GENES, negatives_per_positive=3, seed=1)
    split = _random_split(pairs, seed=2)
    assert set(split["Train"]["TF"]) & set(split["Test"]["TF"]) and split["Train"]["label"].mean() == 0.5
    parts = tf_aware_split(split, seed=3)
    tfs = {name: set(part["TF"]) for name, part in parts.items()}
    assert all(tfs.values())
    assert not (tfs["Train"] & tfs["Test"] or tfs["Train"] & tfs["Validation"] or tfs["Validation"] & tfs["Test"])
    given, dealt = pd.concat(split.values()), pd.concat(parts.values())
    assert not dealt.duplicated(["TF", "target"]).any()
    assert set(zip(dealt["TF"], dealt["target"])) <= set(zip(given["TF"], given["target"]))
    assert len(parts["Test"]) == given["TF"].isin(tfs["Test"]).sum()  # the test TFs keep every pair
    assert parts["Train"]["label"].mean() == 0.5  # balanced like the split's training pairs
    assert parts["Train"]["label"].sum() == given[given["TF"].isin(tfs["Train"])]["label"].sum()


def test_beeline_splits_share_no_pair_but_share_tfs():
    from gridapp.core.beeline import read_split

    root = shared("beeline")
    train, test = read_split(root, "mDC-500-Specific", "Train"), read_split(root, "mDC-500-Specific", "Test")
    assert not set(zip(train["TF"], train["target"])) & set(zip(test["TF"], test["target"]))
    assert set(train["TF"]) & set(test["TF"])  # why a TF-aware split is reported beside them
    aware = tf_aware_split(
        {"Train": train, "Validation": read_split(root, "mDC-500-Specific", "Validation"), "Test": test}
    )
    assert not set(aware["Train"]["TF"]) & set(aware["Test"]["TF"])
