"""Train a supervised model on labelled pairs of one dataset and score candidate pairs with it.

``deepdrim`` and ``scgreat`` behind the methods' common interface: given a training prior (links taken
as true) they train on its pairs present in the data (same-TF negatives, a held-out tenth for early
stopping) and return every TF × gene pair with its predicted probability as ``importance``. The
benchmark passes BEELINE's own training / validation pairs and the test pairs to score instead;
``save_to`` keeps the trained model (``model.pt`` + ``model.json``); ``checkpoint`` names where an
interrupted training can resume from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import torch
from torch import nn

from gridapp.core.errors import GridappError
from gridapp.core.matrix import dense, standardise
from gridapp.core.supervised.images import N_NEIGHBOURS, PairImages
from gridapp.core.supervised.models import DeepDRIM, Ensemble, PairTransformer
from gridapp.core.supervised.pairs import labelled_pairs
from gridapp.core.supervised.training import (
    Batch,
    EpochProgress,
    TrainSettings,
    fit,
    flush_denormals,
    load_state,
    probabilities,
    save_model,
    seed_everything,
)

KINDS = ("deepdrim", "scgreat")
#: share of a prior's labelled pairs held out for early stopping
VALIDATION_SHARE = 0.1


@dataclass
class Trained:
    """A trained model with what it needs to score pairs of the same genes."""

    kind: str
    model: nn.Module
    genes: list[str]
    n_neighbours: int
    history: list[dict] = field(default_factory=list)
    members: int = 1


def build_model(kind: str, adata: ad.AnnData, n_neighbours: int = N_NEIGHBOURS, members: int = 1) -> nn.Module:
    """An untrained model of ``kind`` sized for ``adata`` (an :class:`Ensemble` of ``members`` if more than one)."""
    if members > 1:
        return Ensemble([build_model(kind, adata, n_neighbours) for _ in range(members)])
    if kind == "deepdrim":
        return DeepDRIM(2 * n_neighbours + 2)
    if kind == "scgreat":
        return PairTransformer(adata.n_obs)
    raise GridappError(f"Unknown supervised model {kind!r}.", f"Choose one of: {', '.join(KINDS)}.")


def pair_batches(kind: str, adata: ad.AnnData, pairs: pd.DataFrame, n_neighbours: int = N_NEIGHBOURS) -> Batch:
    """``batch(rows)``: the model inputs of rows of ``pairs`` (``TF, target``), built on demand."""
    index = pd.Index(adata.var_names)
    first, second = index.get_indexer(pairs["TF"]), index.get_indexer(pairs["target"])
    if (first < 0).any() or (second < 0).any():
        raise GridappError("Some pairs name genes that are not in the data.", "Score pairs of the data's genes only.")
    if kind == "deepdrim":
        images = PairImages(adata, n_neighbours=n_neighbours)
        stacks = torch.from_numpy(images.neighbour_stack(images.genes))

        def deepdrim_batch(rows: np.ndarray) -> tuple[torch.Tensor, ...]:
            primary = torch.from_numpy(images.pair_images(first[rows], second[rows]))
            genes, slots = np.unique(np.concatenate([first[rows], second[rows]]), return_inverse=True)
            slots = torch.from_numpy(slots)
            return primary, stacks[genes], slots[: len(rows)], slots[len(rows) :]

        return deepdrim_batch
    profiles = torch.from_numpy(standardised_profiles(adata))

    def scgreat_batch(rows: np.ndarray) -> tuple[torch.Tensor, ...]:
        return profiles[first[rows]], profiles[second[rows]]

    return scgreat_batch


def standardised_profiles(adata: ad.AnnData) -> np.ndarray:
    """genes × cells: each gene's log1p expression, centred and scaled to unit variance (0 if constant)."""
    logged = np.log1p(np.clip(dense(adata.X, np.float64), 0, None))
    return standardise(logged).T.astype(np.float32)


def train(
    kind: str,
    adata: ad.AnnData,
    training: pd.DataFrame,
    validation: pd.DataFrame,
    *,
    settings: TrainSettings | None = None,
    members: int = 1,
    n_neighbours: int = N_NEIGHBOURS,
    progress: EpochProgress | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    checkpoint: str | Path | None = None,
) -> Trained:
    """Train a ``kind`` model on labelled pairs (``TF, target, label``), early-stopped on ``validation``;
    with ``members`` > 1, that many models from seeds ``settings.seed`` + 0, 1, ... averaged as an :class:`Ensemble`.

    With ``checkpoint``, each member's training state is kept in ``<checkpoint>.<member>`` after every epoch
    (see :func:`~gridapp.core.supervised.training.fit`), so that an interrupted training resumes; the files
    are removed once every member is trained."""
    settings = settings or TrainSettings()
    pairs = pd.concat([training, validation], ignore_index=True)
    batch = pair_batches(kind, adata, pairs, n_neighbours)
    rows = np.arange(len(pairs))
    models, history = [], []
    for member in range(members):
        member_settings = replace(settings, seed=settings.seed + member)
        seed_everything(member_settings)
        model = build_model(kind, adata, n_neighbours)
        records = fit(
            model,
            batch,
            pairs["label"].to_numpy(dtype=np.float32),
            rows[: len(training)],
            rows[len(training) :],
            member_settings,
            progress=_member_progress(progress, member, members),
            cancelled=cancelled,
            checkpoint=_member_checkpoint(checkpoint, member),
        )
        history.extend({"member": member, **record} for record in records)
        models.append(model)
    if checkpoint is not None:
        for member in range(members):
            _member_checkpoint(checkpoint, member).unlink()
    model = models[0] if members == 1 else Ensemble(models)
    return Trained(kind, model, list(adata.var_names), n_neighbours, history, members)


def _member_checkpoint(checkpoint: str | Path | None, member: int) -> Path | None:
    return None if checkpoint is None else Path(f"{checkpoint}.{member}")


def _member_progress(progress: EpochProgress | None, member: int, members: int) -> EpochProgress | None:
    """Epoch progress of one member, counted over all members' epochs."""
    if progress is None or members == 1:
        return progress

    def report(epoch: int, epochs: int, message: str) -> None:
        progress(member * epochs + epoch, members * epochs, f"model {member + 1}/{members}, {message}")

    return report


def predict(trained: Trained, adata: ad.AnnData, pairs: pd.DataFrame) -> np.ndarray:
    """Probability that each ``TF, target`` pair is a link."""
    if list(adata.var_names) != trained.genes:
        raise GridappError(
            "The model was trained on other genes than these data hold.",
            "Score the data it was trained on (same genes in the same order), or train again.",
        )
    batch = pair_batches(trained.kind, adata, pairs, trained.n_neighbours)
    order = tiled_order(adata, pairs)
    flush_denormals()
    scored = np.empty(len(pairs))
    scored[order] = probabilities(trained.model, batch, order)
    return scored


def tiled_order(adata: ad.AnnData, pairs: pd.DataFrame, tile: int = 32) -> np.ndarray:
    """Rows of ``pairs`` (``TF, target``) in tiles of ``tile`` TFs × ``tile`` targets, so that a batch of
    about ``tile²`` pairs holds few distinct genes and DeepDRIM reads each one's neighbour images once."""
    index = pd.Index(adata.var_names)
    tf_tile, target_tile = index.get_indexer(pairs["TF"]) // tile, index.get_indexer(pairs["target"]) // tile
    return np.lexsort((target_tile, tf_tile))


def save_trained(trained: Trained, folder: str | Path, *, fingerprint: str = "") -> Path:
    """``model.pt`` + ``model.json`` (kind, genes, neighbours, training history, data fingerprint)."""
    metadata = {
        "kind": trained.kind,
        "genes": trained.genes,
        "n_neighbours": trained.n_neighbours,
        "members": trained.members,
        "history": trained.history,
        "fingerprint": fingerprint,
    }
    return save_model(trained.model, folder, metadata)


def load_trained(folder: str | Path, adata: ad.AnnData) -> Trained:
    """A model saved by :func:`save_trained`, rebuilt for ``adata`` (which must hold the same genes)."""
    state, metadata = load_state(folder)
    members = metadata.get("members", 1)
    model = build_model(metadata["kind"], adata, metadata["n_neighbours"], members)
    model.load_state_dict(state)
    return Trained(metadata["kind"], model, metadata["genes"], metadata["n_neighbours"], metadata["history"], members)


def supervised_infer(kind: str) -> Callable[..., pd.DataFrame]:
    """The registry's ``infer`` for ``kind``: train on a prior's (or given) pairs, score candidate pairs."""

    def infer(
        adata: ad.AnnData,
        tfs: Sequence[str],
        *,
        seed: int = 0,
        client: object = None,
        train_prior: pd.DataFrame | None = None,
        training: dict[str, pd.DataFrame] | None = None,
        candidates: pd.DataFrame | None = None,
        epochs: int = TrainSettings.epochs,
        batch_size: int = TrainSettings.batch_size,
        learning_rate: float = TrainSettings.learning_rate,
        patience: int = TrainSettings.patience,
        members: int = 1,
        threads: int = TrainSettings.threads,
        n_neighbours: int = N_NEIGHBOURS,
        progress: EpochProgress | None = None,
        cancelled: Callable[[], bool] = lambda: False,
        save_to: str | Path | None = None,
        checkpoint: str | Path | None = None,
    ) -> pd.DataFrame:
        if training is None:
            if train_prior is None:
                raise GridappError(
                    f"{kind} learns from known links and needs a training prior.",
                    "Give --train-prior FILE (DoRothEA, CollecTRI, TRRUST or a ChIP-seq link table).",
                )
            training = holdout_split(labelled_pairs(train_prior, tfs, adata.var_names, seed=seed), seed=seed)
        if candidates is None:
            candidates = all_pairs(tfs, adata.var_names)
        settings = TrainSettings(
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            patience=patience,
            seed=seed,
            threads=threads,
        )
        trained = train(
            kind,
            adata,
            training["Train"],
            training["Validation"],
            settings=settings,
            members=members,
            n_neighbours=n_neighbours,
            progress=progress,
            cancelled=cancelled,
            checkpoint=checkpoint,
        )
        if save_to is not None:
            save_trained(trained, save_to, fingerprint=data_fingerprint(adata))
        scored = candidates[["TF", "target"]].assign(importance=predict(trained, adata, candidates))
        scored = scored.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)
        scored.attrs["history"] = trained.history
        return scored

    return infer


def data_fingerprint(adata: ad.AnnData) -> str:
    """SHA-256 of the cells, genes and values a model was trained on (stored beside its weights)."""
    digest = hashlib.sha256()
    for names in (adata.obs_names, adata.var_names):
        digest.update("\n".join(map(str, names)).encode())
    digest.update(np.ascontiguousarray(dense(adata.X), dtype=np.float32).tobytes())
    return digest.hexdigest()


def holdout_split(pairs: pd.DataFrame, *, share: float = VALIDATION_SHARE, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Labelled pairs split at random into ``Train`` and a ``Validation`` share, stratified by label."""
    rng = np.random.default_rng(seed)
    held = np.zeros(len(pairs), dtype=bool)
    for label in (True, False):
        rows = np.flatnonzero(pairs["label"].to_numpy() == label)
        held[rng.choice(rows, max(1, round(share * len(rows))) if len(rows) > 1 else 0, replace=False)] = True
    return {"Train": pairs[~held].reset_index(drop=True), "Validation": pairs[held].reset_index(drop=True)}


def all_pairs(tfs: Sequence[str], genes: Sequence[str]) -> pd.DataFrame:
    """Every TF × gene pair but self-pairs."""
    tf_column, gene_column = (
        np.repeat(np.asarray(tfs, dtype=object), len(genes)),
        np.tile(np.asarray(genes, dtype=object), len(tfs)),
    )
    keep = tf_column != gene_column
    return pd.DataFrame({"TF": tf_column[keep], "target": gene_column[keep]})
