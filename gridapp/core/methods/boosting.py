"""GRNBoost2's model, grown fast: stochastic gradient boosting of every target on all TFs.

The model is the one of GRNBoost2 (Moerman et al. 2019) as arboreto runs it through scikit-learn:
for each target gene, least-squares gradient boosting of its expression on the TFs' expression with
depth-3 regression trees, learning rate 0.01, a fresh 90 % row subsample per tree, 10 % of the TFs
drawn at every split, and early stopping when the out-of-bag improvement, averaged over the last 25
trees, turns negative (improvement measured on the trees' own out-of-bag rows). Importance of a TF
for a target = its total squared-error reduction over the trees, normalised to sum to the number
of trees, as arboreto reports it.

What makes it fast: the TF matrix is binned once (each distinct value its own bin, quantiles beyond
``MAX_BINS``) and shared by all targets, with a bitset per TF of the cells outside its most common bin
(zero expression, for most TFs). Tree nodes are bitsets of cells too, so a node's split search visits
only the node's cells outside that bin (one AND per 64 cells finds them); the base bin gets what they
leave of the node's total, and the filled bins are kept as a 64-bit mask, scanned in order. Whole
chunks of targets are boosted in one compiled call that releases the GIL; chunks run as Dask tasks.
Each target draws its random numbers from its own stream (seed, target position), so results do
not depend on chunking, workers or their order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from distributed import Client
from numba import njit
from numba.cpython.unsafe.numbers import trailing_zeros

from gridapp.core.methods.registry import ADJACENCY_COLUMNS, Method, register
from gridapp.core.parallel import client_or_local

#: arboreto's SGBM_KWARGS and early-stopping window (GRNBoost2's published settings)
LEARNING_RATE = 0.01
SUBSAMPLE = 0.9
MAX_FEATURES = 0.1
MAX_TREES = 5000
WINDOW = 25
MAX_DEPTH = 3
MAX_BINS = 64
#: cells per bitset word
WORD = 64
#: targets per Dask task: small enough to balance two workers, large enough to amortise a task
CHUNK = 32
#: nodes of a depth-3 tree, breadth first (root, 2 children, 4 grandchildren, 8 leaves)
MAX_NODES = 2 ** (MAX_DEPTH + 1) - 1
EPSILON = np.finfo(np.float64).eps


@dataclass(frozen=True)
class BinnedFeatures:
    """TF expression binned once for all targets.

    Attributes
    ----------
    bins
        TFs × cells bin indices (uint8); bin order follows expression order.
    base
        Each TF's most common bin (zero expression, for most TFs).
    off_base
        TFs × words bitsets (uint64): bit ``c % 64`` of word ``c // 64`` is set when cell ``c`` lies outside
        the TF's base bin.
    """

    bins: np.ndarray
    base: np.ndarray
    off_base: np.ndarray

    @property
    def arrays(self) -> tuple[np.ndarray, ...]:
        """The fields as one tuple, the form the compiled kernels take."""
        return self.bins, self.base, self.off_base


def cell_bitsets(mask: np.ndarray) -> np.ndarray:
    """Pack a rows × cells boolean mask into rows × words uint64 bitsets.

    Cell ``c`` is bit ``c % 64`` of word ``c // 64``.
    """
    n_words = -(-mask.shape[1] // WORD)
    padded = np.zeros((mask.shape[0], n_words * WORD), dtype=bool)
    padded[:, : mask.shape[1]] = mask
    return np.packbits(padded, axis=1, bitorder="little").view("<u8").astype(np.uint64)


def bin_features(matrix: np.ndarray, max_bins: int = MAX_BINS) -> BinnedFeatures:
    """Bin each column of a cells × TFs matrix: one bin per distinct value, or quantile bins beyond ``max_bins``.

    With at most ``max_bins`` distinct values a split between bins is a split between values, as in an
    exact tree; beyond, bin edges are quantiles of the distinct values.
    """
    if not 2 <= max_bins <= MAX_BINS:
        raise ValueError(f"max_bins must lie in [2, {MAX_BINS}] (the kernels' histogram size), got {max_bins}.")
    n_cells, n_features = matrix.shape
    bins = np.empty((n_features, n_cells), dtype=np.uint8)
    for j in range(n_features):
        values = np.asarray(matrix[:, j], dtype=np.float64)
        distinct = np.unique(values)
        if len(distinct) > max_bins:
            distinct = np.unique(np.quantile(distinct, np.linspace(0, 1, max_bins)))
        bins[j] = np.clip(np.searchsorted(distinct, values), 0, len(distinct) - 1)
    base = np.array([np.bincount(row).argmax() for row in bins], dtype=np.uint8)
    return BinnedFeatures(bins, base, cell_bitsets(bins != base[:, None]))


@njit(cache=True, inline="always")
def _next(state: np.ndarray) -> float:
    """Uniform double in [0, 1) from a splitmix64 stream kept in ``state[0]``."""
    state[0] += np.uint64(0x9E3779B97F4A7C15)
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return float(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, inline="always")
def _gain(left_sum, left_n, right_sum, right_n, inverse, parent):
    """Squared-error reduction of a split (``inverse[k]`` = 1 / k)."""
    return left_sum * left_sum * inverse[left_n] + right_sum * right_sum * inverse[right_n] - parent


@njit(cache=True, inline="always")
def _histogram(bins_f, off_base_f, node_bits, residual, hist_sum, hist_cnt):
    """Add the residuals of the node's cells outside the feature's base bin to their bins' sums and counts.

    Returns the bitmask of bins filled, the residuals' sum and the number of cells.
    """
    occupied, others_sum, others_n = np.uint64(0), 0.0, 0
    for w in range(len(node_bits)):
        word = node_bits[w] & off_base_f[w]
        while word:
            c = w * WORD + trailing_zeros(word)
            word &= word - np.uint64(1)
            b = bins_f[c]
            r = residual[c]
            hist_sum[b] += r
            hist_cnt[b] += 1
            occupied |= np.uint64(1) << np.uint64(b)
            others_sum += r
            others_n += 1
    return occupied, others_sum, others_n


@njit(cache=True, inline="always")
def _split(node, left, feature, threshold, binned, node_bits):
    """Divide a node's cells between its children: bin <= ``threshold`` to ``left``, the others to ``left + 1``."""
    bins, binned_base, off_base = binned
    bins_f, off_base_f = bins[feature], off_base[feature]
    base_left = binned_base[feature] <= threshold
    for w in range(node_bits.shape[1]):
        cells = node_bits[node, w]
        word = cells & off_base_f[w]
        moved = np.uint64(0)  # off-base cells bound for the side the base bin does not go to
        while word:
            lowest = word & (~word + np.uint64(1))
            if (bins_f[w * WORD + trailing_zeros(word)] <= threshold) != base_left:
                moved |= lowest
            word ^= lowest
        stay = cells & ~moved
        if base_left:
            node_bits[left, w], node_bits[left + 1, w] = stay, moved
        else:
            node_bits[left, w], node_bits[left + 1, w] = moved, stay


@njit(cache=True, nogil=True)
def _grow_tree(binned, node_bits, residual, n_in, total_in, features, n_draw, state, work, tree, importance):
    """Grow one depth-3 least-squares tree on the residuals of the in-bag cells (``node_bits[0]``);
    add its squared-error reductions to ``importance``.

    Nodes are numbered breadth first; ``node_bits[k]`` receives node k's cells. ``tree`` rows: feature,
    threshold bin (left: bin <= threshold), left child (the right one follows), value (a leaf when
    feature < 0). Returns the number of nodes.
    """
    bins, binned_base, off_base = binned
    hist_sum, hist_cnt, sizes, totals, depths, inverse = work
    sizes[0], totals[0], depths[0] = n_in, total_in, 0
    n_nodes, node = 1, 0
    n_features = len(features)
    while node < n_nodes:
        n, total = sizes[node], totals[node]
        tree[node, 0] = -1.0
        tree[node, 3] = total / n
        if depths[node] >= MAX_DEPTH or n < 2:
            node += 1
            continue
        best_gain, best_feature, best_threshold, best_n, best_sum = -1.0, -1, -1, 0, 0.0
        parent = total * total / n
        visited, informative, i = 0, 0, 0
        # draw features without replacement until n_draw were visited and one of them varies here
        while i < n_features and (visited < n_draw or informative == 0):
            j = i + int(_next(state) * (n_features - i))
            features[i], features[j] = features[j], features[i]
            f = features[i]
            i += 1
            visited += 1
            base = binned_base[f]
            occupied, others_sum, others_n = _histogram(
                bins[f], off_base[f], node_bits[node], residual, hist_sum, hist_cnt
            )
            if others_n < n:  # the base bin holds the rest of the node
                hist_sum[base] = total - others_sum
                hist_cnt[base] = n - others_n
                occupied |= np.uint64(1) << np.uint64(base)
            if occupied & (occupied - np.uint64(1)):
                informative += 1
            # scan the filled bins in order (clearing them); a split lies between two consecutive ones
            left_n, left_sum, previous = 0, 0.0, -1
            while occupied:
                b = trailing_zeros(occupied)
                occupied &= occupied - np.uint64(1)
                if previous >= 0:
                    gain = _gain(left_sum, left_n, total - left_sum, n - left_n, inverse, parent)
                    if gain > best_gain:
                        best_gain, best_feature, best_threshold = gain, f, (previous + b) // 2
                        best_n, best_sum = left_n, left_sum
                left_n += hist_cnt[b]
                left_sum += hist_sum[b]
                hist_sum[b], hist_cnt[b] = 0.0, 0
                previous = b
        # a node whose residuals are all equal stays a leaf: no split gains more than rounding error
        if best_feature < 0 or best_gain <= EPSILON * (n + 8.0 * parent):
            node += 1
            continue
        _split(node, n_nodes, best_feature, best_threshold, binned, node_bits)
        tree[node, 0] = best_feature
        tree[node, 1] = best_threshold
        tree[node, 2] = n_nodes
        importance[best_feature] += best_gain
        for child_n, child_sum in ((best_n, best_sum), (n - best_n, total - best_sum)):
            sizes[n_nodes], totals[n_nodes], depths[n_nodes] = child_n, child_sum, depths[node] + 1
            n_nodes += 1
        node += 1
    return n_nodes


@njit(cache=True, nogil=True)
def _boost_target(binned, y, features, n_draw, state, settings):
    """Boost one target; return (importance per TF, number of trees).

    ``settings``: maximal number of trees, learning rate, subsample fraction, early-stopping window.
    """
    max_trees, learning_rate, subsample, window = settings
    bins = binned[0]
    n_cells = len(y)
    n_in = max(1, int(subsample * n_cells))
    prediction = np.full(n_cells, y.mean())
    residual = np.empty(n_cells)
    in_bag = np.empty(n_cells, dtype=np.bool_)
    node_bits = np.zeros((MAX_NODES, binned[2].shape[1]), dtype=np.uint64)
    # scratch of _grow_tree: histogram sums and counts (kept zeroed), node sizes, residual sums and
    # depths, and 1 / k for every node size k (a split scan multiplies instead of dividing)
    inverse = np.zeros(n_in + 1)
    inverse[1:] = 1.0 / np.arange(1, n_in + 1)
    work = (
        np.zeros(MAX_BINS),
        np.zeros(MAX_BINS, dtype=np.int64),
        np.empty(MAX_NODES, dtype=np.int64),
        np.empty(MAX_NODES),
        np.empty(MAX_NODES, dtype=np.int64),
        inverse,
    )
    tree = np.empty((MAX_NODES, 4))
    tree_importance = np.zeros(bins.shape[0])
    importance = np.zeros(bins.shape[0])
    improvements = np.zeros(window)  # the last ``window`` out-of-bag improvements, as a ring
    window_sum = 0.0
    n_trees = 0
    for stage in range(max_trees):
        # exactly n_in rows in the bag: Floyd's sampling of the n_cells - n_in left out
        in_bag[:] = True
        for j in range(n_in, n_cells):
            out = int(_next(state) * (j + 1))
            in_bag[j if not in_bag[out] else out] = False
        root = node_bits[0]
        root[:] = 0
        old_oob, total_in = 0.0, 0.0
        for c in range(n_cells):
            r = y[c] - prediction[c]
            residual[c] = r
            inside = in_bag[c]
            root[c // WORD] |= np.uint64(inside) << np.uint64(c % WORD)
            total_in += r if inside else 0.0
            old_oob += 0.0 if inside else r * r
        tree_importance[:] = 0.0
        n_nodes = _grow_tree(
            binned, node_bits, residual, n_in, total_in, features, n_draw, state, work, tree, tree_importance
        )
        if n_nodes > 1:
            importance += tree_importance
        new_oob = 0.0
        for c in range(n_cells):
            node = 0
            while tree[node, 0] >= 0:
                node = int(tree[node, 2]) + (bins[int(tree[node, 0]), c] > tree[node, 1])
            prediction[c] += learning_rate * tree[node, 3]
            if not in_bag[c]:
                error = y[c] - prediction[c]
                new_oob += error * error
        n_oob = n_cells - n_in
        improvement = (old_oob - new_oob) / n_oob if n_oob else 0.0
        window_sum += improvement - improvements[stage % window]
        improvements[stage % window] = improvement
        n_trees = stage + 1
        if stage >= window - 1 and window_sum / window < 0:
            break
    total = importance.sum()
    if total > 0:
        importance *= n_trees / total
    return importance, n_trees


@njit(cache=True, nogil=True)
def boost_targets(
    binned: tuple[np.ndarray, ...],
    targets: np.ndarray,
    target_ids: np.ndarray,
    own_feature: np.ndarray,
    seed: int,
    max_features: float = MAX_FEATURES,
    max_trees: int = MAX_TREES,
    learning_rate: float = LEARNING_RATE,
    subsample: float = SUBSAMPLE,
    window: int = WINDOW,
) -> tuple[np.ndarray, np.ndarray]:
    """Boost each column of ``targets`` (cells × targets) on the binned TFs.

    Parameters
    ----------
    binned
        :attr:`BinnedFeatures.arrays` of the TFs.
    targets
        Target expression, cells × targets (float64).
    target_ids
        A stable id per target (its gene position): with ``seed``, it fixes the target's random stream.
    own_feature
        Position of each target among the TFs (excluded from its own regressors), or -1.

    Returns
    -------
    Importances (targets × TFs) and trees grown per target.
    """
    n_features = binned[0].shape[0]
    importances = np.zeros((targets.shape[1], n_features))
    trees = np.zeros(targets.shape[1], dtype=np.int64)
    for t in range(targets.shape[1]):
        y = targets[:, t]
        if y.max() == y.min():
            continue  # nothing to explain
        allowed = np.array([f for f in range(n_features) if f != own_feature[t]], dtype=np.int64)
        n_draw = max(1, int(max_features * len(allowed)))
        state = np.empty(1, dtype=np.uint64)
        state[0] = np.uint64(seed) * np.uint64(0x100000001B3) + np.uint64(target_ids[t]) + np.uint64(1)
        settings = (max_trees, learning_rate, subsample, window)
        importances[t], trees[t] = _boost_target(binned, y, allowed, n_draw, state, settings)
    return importances, trees


def warm_up() -> None:
    """Compile (or load from numba's cache) the kernels in this process, on a tiny problem."""
    tfs = np.random.default_rng(0).poisson(1.0, (40, 3)).astype(np.float64)
    _boost_chunk(bin_features(tfs), tfs, 0, 1, np.array([0, -1, -1]), 0)  # the signature runs use


def _boost_chunk(
    binned: BinnedFeatures,
    expression: sp.csc_matrix | np.ndarray,
    start: int,
    stop: int,
    own_feature: np.ndarray,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """One Dask task: boost targets ``start:stop`` (columns of ``expression``)."""
    block = expression[:, start:stop]
    block = block.toarray() if sp.issparse(block) else block
    return boost_targets(
        binned.arrays,
        np.ascontiguousarray(block, dtype=np.float64),
        np.arange(start, stop, dtype=np.int64),
        own_feature[start:stop],
        seed,
    )


def grnboost2_fast(
    adata: ad.AnnData, tfs: Sequence[str], *, seed: int = 0, client: Client | None = None, chunk: int = CHUNK
) -> pd.DataFrame:
    """GRNBoost2's model on a binned TF matrix, many targets per compiled call, chunks as Dask tasks.

    Parameters
    ----------
    adata
        Log-normalised cells × genes (sparse stays sparse until a chunk of targets is boosted).
    tfs
        Regulators present in ``adata``.
    seed
        Fixes every target's random stream: same seed, same adjacencies, whatever the cluster.
    client
        Dask client; a local cluster when ``None``.

    Returns
    -------
    ``TF, target, importance`` for every positive importance; ``attrs['trees_per_target']``.
    """
    genes = list(adata.var_names)
    tf_positions = adata.var_names.get_indexer(tfs)
    matrix = adata.X.tocsc() if sp.issparse(adata.X) else np.asarray(adata.X)
    tf_matrix = matrix[:, tf_positions]
    binned = bin_features(tf_matrix.toarray() if sp.issparse(tf_matrix) else tf_matrix)
    own_feature = np.full(len(genes), -1, dtype=np.int64)
    own_feature[tf_positions] = np.arange(len(tf_positions))
    with client_or_local(client) as dask:
        # fresh keys: content-named ones could collide with a previous run's data being released
        shared_binned, shared_matrix = dask.scatter([binned, matrix], broadcast=True, hash=False)
        futures = [
            dask.submit(
                _boost_chunk,
                shared_binned,
                shared_matrix,
                start,
                min(start + chunk, len(genes)),
                own_feature,
                seed,
                pure=False,
            )
            for start in range(0, len(genes), chunk)
        ]
        parts = dask.gather(futures)
    importances = np.vstack([part[0] for part in parts])
    trees = np.concatenate([part[1] for part in parts])
    target_index, tf_index = np.nonzero(importances)
    adjacencies = pd.DataFrame(
        {
            "TF": np.asarray(tfs, dtype=object)[tf_index],
            "target": np.asarray(genes, dtype=object)[target_index],
            "importance": importances[target_index, tf_index],
        }
    )[ADJACENCY_COLUMNS]
    fitted = trees > 0
    adjacencies.attrs["trees_per_target"] = float(trees[fitted].mean()) if fitted.any() else 0.0
    adjacencies.attrs["targets_fitted"] = int(fitted.sum())
    return adjacencies


register(
    Method(
        id="grnboost2-fast",
        name="GRNBoost2 model, gridapp engine",
        citation="Moerman et al. 2019, Bioinformatics 35:2159 (model); gridapp (histogram engine)",
        supervised=False,
        infer=grnboost2_fast,
        parameters={
            "learning_rate": LEARNING_RATE,
            "subsample": SUBSAMPLE,
            "max_features": MAX_FEATURES,
            "max_depth": MAX_DEPTH,
            "n_estimators": MAX_TREES,
            "early_stop_window_length": WINDOW,
            "max_bins": MAX_BINS,
        },
    )
)
