"""scFate-style LASSO: each target regressed on the TFs, giving signed TF → target links.

sci-fate (Cao et al. 2020, *Nat Biotechnol* 38:980; dynamo's ``scifate_glmnet``) regresses each gene's
newly synthesised RNA on the expression of TFs with an L1-penalised linear model and reads activation
and repression off the coefficients' signs. Here each target's values (``target_layer``: e.g. ``new``
or ``unspliced``, else ``X``) are regressed on the standardised TF values (``tf_layer``) by elastic-net
coordinate descent along a path of penalties, as glmnet does (scikit-learn's ``ElasticNetCV``); the
penalty with the smallest K-fold cross-validated error is kept. Importance is the coefficient's
absolute value (per standard deviation of the TF), ``coefficient`` keeps its sign. Targets are fitted
in chunks, each chunk a Dask task.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from distributed import Client
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import enet_path
from sklearn.model_selection import KFold

from gridapp.core.errors import GridappError
from gridapp.core.matrix import dense, standardise
from gridapp.core.methods.registry import ADJACENCY_COLUMNS, Method, register
from gridapp.core.parallel import client_or_local

#: cross-validation folds for the penalty
N_FOLDS = 5
#: penalties on the path, log-spaced from the largest down to MIN_ALPHA_RATIO × it
N_ALPHAS = 30
#: glmnet's ``lambda.min.ratio`` for wide data. On BEELINE mDC (383 cells, 323 TFs) 5-fold CV picked
#: 7–49 % of the largest penalty for every target tried; the path's low end is where coordinate
#: descent needs thousands of sweeps, so stopping at 1 % is 3–5× faster and changes no choice.
MIN_ALPHA_RATIO = 1e-2
#: 1 = LASSO; below 1, an elastic net (glmnet's ``alpha``)
L1_RATIO = 1.0
#: a TF or target detected in fewer cells is left out
MIN_CELLS = 10
#: targets per Dask task
CHUNK = 64


def lasso(
    adata: ad.AnnData,
    tfs: Sequence[str],
    *,
    seed: int = 0,
    client: Client | None = None,
    target_layer: str | None = None,
    tf_layer: str | None = None,
    normalise_layers: bool = True,
    l1_ratio: float = L1_RATIO,
    n_folds: int = N_FOLDS,
    n_alphas: int = N_ALPHAS,
    min_alpha_ratio: float = MIN_ALPHA_RATIO,
    min_cells: int = MIN_CELLS,
    chunk: int = CHUNK,
) -> pd.DataFrame:
    """Signed TF → target links from a cross-validated L1 regression per target.

    Parameters
    ----------
    adata
        Cells × genes; ``X`` log-normalised.
    tfs
        Regulators present in ``adata``.
    seed
        Seeds the cross-validation folds.
    client
        Dask client; a local cluster when ``None``.
    target_layer, tf_layer
        ``layers`` keys of the response (new / unspliced RNA) and of the predictors (total / spliced);
        ``None`` uses ``X``.
    normalise_layers
        Scale a layer's cells to the median total count and log1p it (layers hold raw counts).
    l1_ratio, n_folds, n_alphas, min_alpha_ratio
        Elastic-net mixing (1: LASSO), cross-validation folds, penalties on the path, and the smallest
        penalty as a fraction of the largest.
    min_cells
        TFs and targets detected in fewer cells are left out.
    chunk
        Targets per Dask task.

    Returns
    -------
    ``TF, target, importance, coefficient`` for every non-zero coefficient (a TF never predicts itself).
    """
    genes = np.asarray(adata.var_names, dtype=object)
    predictors = _values(adata, tf_layer, normalise_layers)[:, adata.var_names.get_indexer(tfs)]
    responses = _values(adata, target_layer, normalise_layers)
    detected = np.asarray((predictors > 0).sum(axis=0)).ravel() >= min_cells
    tf_names = np.asarray(tfs, dtype=object)[detected]
    x = standardise(dense(predictors[:, np.flatnonzero(detected)], np.float64))
    own = pd.Index(tf_names).get_indexer(genes)
    settings = {
        "l1_ratio": l1_ratio,
        "n_folds": n_folds,
        "n_alphas": n_alphas,
        "min_alpha_ratio": min_alpha_ratio,
        "min_cells": min_cells,
        "seed": seed,
    }
    coefficients = _fit_on_dask(client, x, responses, own, settings, chunk)
    target_index, tf_index = np.nonzero(coefficients)
    values = coefficients[target_index, tf_index]
    return pd.DataFrame(
        {
            "TF": tf_names[tf_index],
            "target": genes[target_index],
            "importance": np.abs(values),
            "coefficient": values,
        }
    )[[*ADJACENCY_COLUMNS, "coefficient"]]


def _fit_on_dask(
    client: Client | None,
    x: np.ndarray,
    responses: np.ndarray | sp.spmatrix,
    own: np.ndarray,
    settings: dict,
    chunk: int,
) -> np.ndarray:
    """Coefficients (targets × TFs) of every column of ``responses`` on ``x``, ``chunk`` targets per Dask task
    (``x`` sent once per worker)."""
    responses = responses.tocsc() if sp.issparse(responses) else responses
    with client_or_local(client) as dask:
        shared_x = dask.scatter(x, broadcast=True, hash=False)
        futures = [
            dask.submit(
                _fit_chunk,
                shared_x,
                dense(responses[:, start : start + chunk], np.float64),
                own[start : start + chunk],
                settings,
                pure=False,
            )
            for start in range(0, responses.shape[1], chunk)
        ]
        return np.vstack(dask.gather(futures))


def _values(adata: ad.AnnData, layer: str | None, normalise: bool) -> np.ndarray | sp.spmatrix:
    """``X``, or a layer (size-factor normalised and log1p-transformed when ``normalise``)."""
    if layer is None:
        return adata.X
    if layer not in adata.layers:
        raise GridappError(
            f"The data has no layer {layer!r}.",
            f"Layers there: {list(adata.layers) or 'none'}; give one of them, or leave the layer out to use X.",
        )
    matrix = adata.layers[layer]
    if not normalise:
        return matrix
    totals = np.asarray(matrix.sum(axis=1)).ravel().astype(float)
    scale = np.divide(np.median(totals[totals > 0]) if (totals > 0).any() else 1.0, totals, where=totals > 0)
    scale[totals == 0] = 0.0
    scaled = sp.diags(scale) @ matrix if sp.issparse(matrix) else matrix * scale[:, None]
    return scaled.log1p() if sp.issparse(scaled) else np.log1p(scaled)


@dataclass(frozen=True)
class _Fold:
    """One cross-validation split of the TF matrix, shared by every target of a chunk: the training rows centred
    (Fortran order, as coordinate descent reads them), their column means and their Gram matrix."""

    train: np.ndarray
    test: np.ndarray
    x_train: np.ndarray
    x_offset: np.ndarray
    gram: np.ndarray

    @classmethod
    def of(cls, x: np.ndarray, train: np.ndarray, test: np.ndarray) -> _Fold:
        offset = x[train].mean(axis=0)
        x_train = np.asfortranarray(x[train] - offset)
        return cls(train, test, x_train, offset, np.ascontiguousarray(x_train.T @ x_train))


def _fit_chunk(x: np.ndarray, y: np.ndarray, own: np.ndarray, settings: dict) -> np.ndarray:
    """Coefficients (targets × TFs) of one chunk of targets; zero rows for targets detected too rarely.

    The model and its choice of penalty are scikit-learn's ``ElasticNetCV`` (the same folds, penalty path, Gram
    coordinate descent per fold, test-fold error and refit without the Gram matrix), computed with what the
    targets share (centred folds and Gram matrices) computed once per chunk instead of once per target.
    """
    coefficients = np.zeros((y.shape[1], x.shape[1]))
    splits = KFold(settings["n_folds"], shuffle=True, random_state=settings["seed"]).split(x)
    folds = [_Fold.of(x, train, test) for train, test in splits]
    centred = np.asfortranarray(x - x.mean(axis=0))
    every = np.arange(x.shape[1])
    for j in range(y.shape[1]):
        if np.count_nonzero(y[:, j]) < settings["min_cells"] or np.ptp(y[:, j]) == 0:
            continue
        columns = every if own[j] < 0 else np.flatnonzero(every != own[j])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            coefficients[j, columns] = _cross_validated(x, centred, folds, y[:, j], columns, settings)
    return coefficients


def _cross_validated(
    x: np.ndarray, centred: np.ndarray, folds: list[_Fold], y: np.ndarray, columns: np.ndarray, settings: dict
) -> np.ndarray:
    """One target's coefficients on ``columns`` at the penalty with the smallest mean test-fold error (zeros when
    that is the largest penalty: the empty model)."""
    subset = len(columns) < x.shape[1]
    x_all = np.asfortranarray(centred[:, columns]) if subset else centred
    alphas = _penalties(x_all, y - y.mean(), settings)
    path = {"l1_ratio": settings["l1_ratio"], "max_iter": 1000, "tol": 1e-4, "check_input": False}
    errors = []
    for fold in folds:
        x_train = np.asfortranarray(fold.x_train[:, columns]) if subset else fold.x_train
        gram = np.ascontiguousarray(fold.gram[np.ix_(columns, columns)]) if subset else fold.gram
        y_train = y[fold.train]
        y_offset = y_train.mean()
        y_train = y_train - y_offset
        _, coefs, _ = enet_path(x_train, y_train, alphas=alphas, precompute=gram, Xy=x_train.T @ y_train, **path)
        intercepts = y_offset - fold.x_offset[columns] @ coefs
        residues = x[np.ix_(fold.test, columns)] @ coefs - y[fold.test, None] + intercepts
        errors.append((residues**2).mean(axis=0))
    best = int(np.argmin(np.mean(errors, axis=0)))  # ElasticNetCV's mean over folds, to its last bit
    if best == 0:  # the largest penalty is the empty model
        return np.zeros(len(columns))
    _, coefs, _ = enet_path(x_all, y - y.mean(), alphas=alphas[best : best + 1], precompute=False, **path)
    return coefs[:, 0]


def _penalties(centred: np.ndarray, y: np.ndarray, settings: dict) -> np.ndarray:
    """ElasticNetCV's penalty path: ``n_alphas`` log-spaced from the smallest penalty that empties the model down to
    ``min_alpha_ratio`` × it."""
    largest = np.abs(centred.T @ y).max() / (len(y) * settings["l1_ratio"])
    if largest <= np.finfo(float).resolution:
        return np.full(settings["n_alphas"], np.finfo(float).resolution)
    return np.logspace(np.log10(largest * settings["min_alpha_ratio"]), np.log10(largest), settings["n_alphas"])[::-1]


register(
    Method(
        id="lasso",
        name="LASSO regression (scFate-style, signed)",
        citation="Cao et al. 2020, Nat Biotechnol 38:980 (sci-fate); dynamo scifate_glmnet",
        supervised=False,
        infer=lasso,
        parameters={
            "l1_ratio": L1_RATIO,
            "n_folds": N_FOLDS,
            "n_alphas": N_ALPHAS,
            "min_alpha_ratio": MIN_ALPHA_RATIO,
            "min_cells": MIN_CELLS,
        },
        signed=True,
        options=("target_layer", "tf_layer"),
    )
)
