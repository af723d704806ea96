"""DeepDRIM and the scGREAT-style transformer learn planted links, not shuffled labels; save → load repeats."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch", reason="the supervised models need PyTorch (requirements-ml.txt)")

from gridapp.core.errors import Cancelled, GridappError  # noqa: E402
from gridapp.core.metrics import candidate_scores, score_candidates  # noqa: E402
from gridapp.core.supervised.infer import (  # noqa: E402
    holdout_split,
    load_trained,
    predict,
    save_trained,
    supervised_infer,
    train,
)
from gridapp.core.supervised.pairs import labelled_pairs, tf_aware_split  # noqa: E402
from gridapp.core.supervised.training import TrainSettings, seed_everything  # noqa: E402

N_TFS, N_TARGETS = 24, 400
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def planted() -> tuple[ad.AnnData, list[str], pd.DataFrame]:
    """Counts where each target follows one TF (rising or falling with it); the links as truth."""
    rng = np.random.default_rng(0)
    n_cells = 300
    activity = rng.gamma(1.0, 2.0, (n_cells, N_TFS))
    regulator = rng.integers(0, N_TFS, N_TARGETS)
    response = np.where(rng.random(N_TARGETS) < 0.7, activity[:, regulator], 6.0 / (1.0 + activity[:, regulator]))
    counts = rng.poisson(np.hstack([activity, response]) + 0.1).astype(np.float32)
    tfs = [f"TF{i}" for i in range(N_TFS)]
    genes = tfs + [f"G{j}" for j in range(N_TARGETS)]
    truth = pd.DataFrame({"TF": [tfs[r] for r in regulator], "target": genes[N_TFS:]})
    return ad.AnnData(np.log1p(counts), var=pd.DataFrame(index=genes)), tfs, truth


def _auroc(scored: pd.DataFrame, truth: pd.DataFrame, test: pd.DataFrame) -> float:
    table = candidate_scores(scored, truth, tfs=sorted(set(test["TF"])), genes=sorted(set(test["target"])), pairs=test)
    return score_candidates(table)["auroc"]


@pytest.mark.parametrize("kind", ["deepdrim", "scgreat"])
def test_planted_links_are_learned_on_held_out_tfs_and_shuffled_labels_are_not(planted, kind):
    adata, tfs, truth = planted
    pairs = labelled_pairs(truth, tfs, adata.var_names, negatives_per_positive=3, seed=0)
    rest, test = holdout_split(pairs, share=0.2).values()  # a random 60 / 20 / 20 split, re-dealt by TF
    parts = tf_aware_split({**holdout_split(rest, share=0.25), "Test": test}, seed=0)
    infer = supervised_infer(kind)
    training = {"Train": parts["Train"], "Validation": parts["Validation"]}
    options = {"epochs": 12, "n_neighbours": 3, "candidates": parts["Test"]}
    learned = _auroc(infer(adata, tfs, training=training, **options), truth, parts["Test"])
    shuffled = {
        name: part.assign(label=np.random.default_rng(1).permutation(part["label"].to_numpy()))
        for name, part in training.items()
    }
    chance = _auroc(infer(adata, tfs, training=shuffled, **options), truth, parts["Test"])
    assert learned > 0.7, learned
    # Shuffled labels teach nothing: test links rank no better than chance (they may rank below it, since each
    # planted target has one TF, so a test TF's targets were seen in training only as other TFs' negatives).
    assert chance < 0.6 and learned - chance > 0.2, (learned, chance)


@pytest.mark.parametrize(("kind", "members"), [("deepdrim", 1), ("scgreat", 2)])
def test_a_saved_model_predicts_the_same_after_loading(planted, tmp_path, kind, members):
    adata, tfs, truth = planted
    pairs = labelled_pairs(truth, tfs, adata.var_names, seed=0)
    settings = TrainSettings(epochs=2, seed=3)
    trained = train(kind, adata, pairs.iloc[::2], pairs.iloc[1::2], settings=settings, members=members, n_neighbours=2)
    before = predict(trained, adata, pairs)
    save_trained(trained, tmp_path / "model", fingerprint="abc")
    again = load_trained(tmp_path / "model", adata)
    np.testing.assert_array_equal(predict(again, adata, pairs), before)
    assert again.history == trained.history and len(again.history) == 2 * members
    with pytest.raises(GridappError, match="other genes"):
        predict(again, adata[:, ::-1].copy(), pairs)


def test_an_ensemble_averages_the_logits_of_models_trained_from_successive_seeds(planted):
    adata, tfs, truth = planted
    pairs = labelled_pairs(truth, tfs, adata.var_names, seed=0)
    split = (pairs.iloc[::2], pairs.iloc[1::2])
    ensemble = train("scgreat", adata, *split, settings=TrainSettings(epochs=2, seed=3), members=2)
    singles = [train("scgreat", adata, *split, settings=TrainSettings(epochs=2, seed=seed)) for seed in (3, 4)]
    logit = [np.log(p / (1 - p)) for p in (predict(trained, adata, pairs) for trained in singles)]
    mean = 1 / (1 + np.exp(-(logit[0] + logit[1]) / 2))
    np.testing.assert_allclose(predict(ensemble, adata, pairs), mean, rtol=1e-5, atol=1e-6)
    assert [record["member"] for record in ensemble.history] == [0, 0, 1, 1]


def test_training_is_repeatable_with_a_seed(planted):
    adata, tfs, truth = planted
    pairs = labelled_pairs(truth, tfs, adata.var_names, seed=0)
    runs = [
        predict(
            train("scgreat", adata, pairs.iloc[::2], pairs.iloc[1::2], settings=TrainSettings(epochs=2, seed=5)),
            adata,
            pairs,
        )
        for _ in range(2)
    ]
    np.testing.assert_array_equal(*runs)


def test_seeding_computes_denormal_floats_as_zeros():
    torch.set_flush_denormal(False)
    assert (torch.tensor([1e-30]) * torch.tensor([1e-10])).item() > 0  # 1e-40: a float32 denormal
    seed_everything(TrainSettings())
    assert (torch.tensor([1e-30]) * torch.tensor([1e-10])).item() == 0


def test_seeding_a_fresh_process_flushes_denormals_in_every_torch_thread():
    # a product long enough for torch to split it between its two threads; the flag is per thread
    script = (
        "import torch\n"
        "from gridapp.core.supervised.training import TrainSettings, seed_everything\n"
        "seed_everything(TrainSettings(threads=2))\n"
        "print(int((torch.full((1_000_000,), 1e-30) * 1e-10).count_nonzero()))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT)
    assert run.stdout.split()[-1] == "0"


def test_without_a_training_prior_the_message_says_what_to_give(planted):
    adata, tfs, _ = planted
    with pytest.raises(GridappError, match="--train-prior"):
        supervised_infer("scgreat")(adata, tfs)


def test_training_reports_each_epoch_and_stops_when_cancelled(planted):
    adata, tfs, truth = planted
    training = {"Train": labelled_pairs(truth, tfs, adata.var_names, seed=0)}
    training["Validation"] = training["Train"].iloc[::5]
    seen = []
    supervised_infer("scgreat")(adata, tfs, training=training, epochs=3, progress=lambda *args: seen.append(args))
    assert [epoch for epoch, _, _ in seen] == [1, 2, 3] and "validation loss" in seen[0][2]
    seen.clear()
    supervised_infer("scgreat")(adata, tfs, training=training, epochs=2, members=2, progress=lambda *a: seen.append(a))
    assert [(epoch, total) for epoch, total, _ in seen] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert seen[2][2].startswith("model 2/2, epoch 1")
    with pytest.raises(Cancelled, match="before epoch 1"):
        supervised_infer("scgreat")(adata, tfs, training=training, cancelled=lambda: True)


@pytest.mark.parametrize("kind", ["deepdrim", "scgreat"])
def test_a_cancelled_training_resumes_from_its_checkpoint_and_ends_as_an_uninterrupted_one(planted, tmp_path, kind):
    adata, tfs, truth = planted
    pairs = labelled_pairs(truth, tfs, adata.var_names, seed=0)
    args = (kind, adata, pairs.iloc[::2], pairs.iloc[1::2])
    options = {"settings": TrainSettings(epochs=4, patience=10, seed=2), "members": 2, "n_neighbours": 2}
    whole = train(*args, **options)
    checkpoint, epochs = tmp_path / "training", []
    with pytest.raises(Cancelled, match="before epoch 3"):  # the second model, after two of its epochs
        train(
            *args,
            **options,
            checkpoint=checkpoint,
            progress=lambda *a: epochs.append(a),
            cancelled=lambda: len(epochs) == 6,
        )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["training.0", "training.1"]
    resumed = train(*args, **options, checkpoint=checkpoint)
    np.testing.assert_array_equal(predict(resumed, adata, pairs), predict(whole, adata, pairs))
    losses = [(record["member"], record["epoch"], record["validation_loss"]) for record in resumed.history]
    assert losses == [(record["member"], record["epoch"], record["validation_loss"]) for record in whole.history]
    assert [record.get("restored", False) for record in resumed.history] == [True] * 6 + [False] * 2
    assert not list(tmp_path.iterdir())  # checkpoints go once the training is done


def test_deepdrim_reads_each_gene_once_per_batch_with_the_same_result_as_pair_by_pair():
    """Shared neighbour features equal the 2n + 2 images of every pair read one by one."""
    from gridapp.core.supervised.models import DeepDRIM

    torch.manual_seed(0)
    model = DeepDRIM(2 * 3 + 2).eval()
    stacks, primary = torch.rand(5, 4, 32, 32), torch.rand(6, 32, 32)
    tf_slot, target_slot = torch.tensor([0, 0, 0, 1, 1, 2]), torch.tensor([3, 4, 2, 3, 0, 4])
    shared = model(primary, stacks, tf_slot, target_slot)
    pair_images = torch.cat([stacks[tf_slot], stacks[target_slot]], dim=1)  # 6 pairs × 8 images
    each = model.neighbour(pair_images.reshape(6 * 8, 1, 32, 32)).reshape(6, -1)
    by_pair = model.head(torch.cat([model.primary(primary.unsqueeze(1)), model.neighbours(each)], dim=1)).squeeze(1)
    torch.testing.assert_close(shared, by_pair)


def test_the_pool_first_cnn_computes_the_usual_conv_relu_pool_blocks():
    """Pooling before the ReLU (channels-last) gives the outputs of conv → ReLU → max-pool with the same weights."""
    from torch.nn import functional

    from gridapp.core.supervised.models import as_images, image_cnn

    torch.manual_seed(0)
    cnn, images = image_cnn(), torch.rand(7, 32, 32)
    usual = images.unsqueeze(1)
    for conv in (cnn[0], cnn[3], cnn[6]):
        usual = functional.max_pool2d(functional.relu(conv(usual)), 2)
    usual = functional.relu(cnn[10](usual.flatten(1)))
    torch.testing.assert_close(cnn(as_images(images)), usual)
