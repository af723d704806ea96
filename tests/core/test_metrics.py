"""Network scoring: hand-computed cases with ties and missing pairs, scikit-learn, planted vs shuffled."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import auc, precision_recall_curve, roc_auc_score

from gridapp.core.errors import GridappError
from gridapp.core.metrics import (
    candidate_scores,
    early_precision,
    per_tf_auroc,
    precision_at,
    precision_by_threshold,
    score_candidates,
    score_network,
)

TFS = ["A", "B"]
GENES = ["A", "B", "x", "y", "z"]
TRUTH = pd.DataFrame({"TF": ["A", "A", "B", "C"], "target": ["x", "y", "z", "x"]})  # C is not in the data
NETWORK = pd.DataFrame(
    {
        "TF": ["A", "A", "B", "B", "A", "B"],
        "target": ["x", "z", "z", "y", "B", "A"],
        "importance": [0.9, 0.5, 0.5, 0.2, 0.1, 0.1],
    }
)


def test_candidates_are_truth_tfs_in_data_times_genes_without_self_pairs():
    table = candidate_scores(NETWORK, TRUTH, tfs=TFS, genes=GENES)
    assert len(table) == 2 * 5 - 2  # A, B × 5 genes, minus A→A and B→B
    assert table["label"].sum() == 3  # C→x is not a candidate
    missing = table[~table["present"]]
    assert set(missing.index) == {("A", "y"), ("B", "x")}
    assert (missing["score"] < NETWORK["importance"].min()).all()  # missing ranks below every edge


def test_auroc_by_hand_with_ties_and_missing_pairs():
    table = candidate_scores(NETWORK, TRUTH, tfs=TFS, genes=GENES)
    positives = table.loc[table["label"], "score"].to_numpy()
    negatives = table.loc[~table["label"], "score"].to_numpy()
    # Mann–Whitney: P(positive > negative) + half the ties, over all 3 × 5 pairs
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    # positives: A→x 0.9, A→y missing, B→z 0.5; negatives: A→z 0.5, B→y 0.2, A→B 0.1, B→A 0.1, B→x missing
    assert wins == 5 + 0.5 + (4 + 0.5)  # A→x beats all; missing A→y ties B→x; B→z beats 4, ties A→z
    scores = score_candidates(table)
    assert scores["auroc"] == pytest.approx(wins / 15)
    assert scores["auroc"] == pytest.approx(roc_auc_score(table["label"], table["score"]))
    precision, recall, _ = precision_recall_curve(table["label"], table["score"])
    assert scores["auprc"] == pytest.approx(auc(recall, precision))
    assert scores["random_precision"] == pytest.approx(3 / 8)
    assert scores["auprc_ratio"] == pytest.approx(scores["auprc"] / (3 / 8))


def test_early_precision_keeps_ties_at_k_and_never_missing_pairs():
    table = candidate_scores(NETWORK, TRUTH, tfs=TFS, genes=GENES)
    # k = 3 true pairs; ranked present scores 0.9, 0.5, 0.5, 0.2, ...: the 3rd is 0.5, so top = {A→x, A→z, B→z}
    assert early_precision(table) == pytest.approx(2 / 3)
    sparse = candidate_scores(NETWORK.head(1), TRUTH, tfs=TFS, genes=GENES)  # one edge only: k capped at 1
    assert early_precision(sparse) == 1.0
    assert score_candidates(table)["early_precision_ratio"] == pytest.approx((2 / 3) / (3 / 8))


def test_precision_curve_matches_precision_at_each_threshold():
    table = candidate_scores(NETWORK, TRUTH, tfs=TFS, genes=GENES)
    curve = precision_by_threshold(table)
    assert list(curve["threshold"]) == sorted(curve["threshold"])
    inferred = table[table["present"]]
    at = precision_at(curve, [0.05, 0.1, 0.3, 0.5, 0.95])
    for row in at.head(4).itertuples():  # by hand: keep the inferred candidates with score >= t
        kept = inferred[inferred["score"] >= row.threshold]
        assert (row.kept, row.precision) == pytest.approx((len(kept), kept["label"].mean()))
        assert row.recall == pytest.approx(kept["label"].sum() / 3)
    assert at.iloc[3][["kept", "precision"]].tolist() == [3, 2 / 3]
    assert at.iloc[4]["kept"] == 0 and np.isnan(at.iloc[4]["precision"])  # above every score


def test_split_pairs_are_scored_with_their_own_labels():
    pairs = pd.DataFrame({"TF": ["A", "B", "B"], "target": ["x", "y", "z"], "label": [1, 0, 1]})
    table = candidate_scores(NETWORK, TRUTH, tfs=TFS, genes=GENES, pairs=pairs)
    assert list(table["label"]) == [True, False, True] and list(table["score"]) == [0.9, 0.2, 0.5]
    assert score_candidates(table)["auroc"] == 1.0


def test_per_tf_auroc_skips_tfs_without_both_classes():
    table = candidate_scores(NETWORK, TRUTH, tfs=TFS, genes=GENES)
    values = per_tf_auroc(table)
    a = table.loc["A"]
    assert values["A"] == pytest.approx(roc_auc_score(a["label"], a["score"]))
    one_class = candidate_scores(NETWORK, TRUTH[TRUTH["TF"] == "A"], tfs=TFS, genes=GENES)
    assert list(per_tf_auroc(one_class).index) == ["A"]


def _random_network(rng: np.random.Generator, truth: pd.DataFrame, planted: bool) -> pd.DataFrame:
    tfs, genes = [f"T{i}" for i in range(10)], [f"g{j}" for j in range(200)]
    pairs = pd.MultiIndex.from_product([tfs, genes], names=["TF", "target"]).to_frame(index=False)
    known = pairs.merge(truth.assign(known=1), how="left")["known"].fillna(0).to_numpy()
    noise = rng.normal(size=len(pairs))
    return pairs.assign(importance=noise + (3 * known if planted else 0.0))


def test_planted_network_scores_near_one_and_a_random_one_near_half():
    rng = np.random.default_rng(0)
    truth = pd.DataFrame({"TF": rng.choice([f"T{i}" for i in range(10)], 150), "target": rng.choice(200, 150)})
    truth = truth.assign(target="g" + truth["target"].astype(str)).drop_duplicates()
    tfs, genes = [f"T{i}" for i in range(10)], [f"g{j}" for j in range(200)]
    planted = score_network(_random_network(rng, truth, True), truth, tfs=tfs, genes=genes)
    shuffled = score_network(_random_network(rng, truth, False), truth, tfs=tfs, genes=genes)
    assert planted["auroc"] > 0.95 and planted["auprc_ratio"] > 5
    assert abs(shuffled["auroc"] - 0.5) < 0.06 and abs(shuffled["auprc_ratio"] - 1) < 0.5


def test_one_class_and_no_shared_tf_are_explained():
    with pytest.raises(GridappError, match="No TF of the ground truth"):
        candidate_scores(NETWORK, TRUTH.assign(TF="Q"), tfs=TFS, genes=GENES)
    everything = candidate_scores(NETWORK, TRUTH, tfs=TFS, genes=GENES).assign(label=True)
    with pytest.raises(GridappError, match="only one class"):
        score_candidates(everything)
