"""GRNBoost2's model, grown fast: stochastic gradient boosting of every target on all TFs.

The model is the one of GRNBoost2 (Moerman et al. 2019) as arboreto runs it through scikit-learn:
for each target gene, least-squares gradient boosting of its expression on the TFs' expression with
depth-3 regression trees, learning rate 0.01, a fresh 90 % row subsample per tree, 10 % of the TFs
drawn at every split, and early stopping when the out-of-bag improvement, averaged over the last 25
trees, turns negative (improvement measured on the trees' own out-of-bag rows). Importance of a TF
for a target = its total squared-error reduction over the trees, normalised to sum to the number
of trees, as arboreto reports it.

What makes it fast: the TF matrix is binned once (each distinct value its own bin, quantiles beyond
``MAX_BINS``) and shared by all targets; a node's split search walks only the cells outside each
TF's most common bin (zero expression for most TFs), pre-sorted by bin, or builds a histogram where
that is cheaper; whole chunks of targets are boosted in one compiled call that releases the GIL;
chunks run as Dask tasks. Each
target draws its random numbers from its own stream (seed, target position), so results do not
depend on chunking, workers or their order.
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
#: histogram slots after the bins where the base bin's cells are summed in rotation
SPARE = 8
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
    off_base_ptr, off_base_cells, off_base_bins
        For TF ``f``, the cells outside its base bin are ``off_base_cells[off_base_ptr[f]:off_base_ptr[f + 1]]``,
        in decreasing bin order, and ``off_base_bins`` holds their bins.
    run_ptr, run_end, run_bin
        Those cells as runs of one bin: TF ``f``'s runs are ``run_ptr[f]:run_ptr[f + 1]``, run ``k`` holds
        bin ``run_bin[k]`` and ends (exclusive) at position ``run_end[k]`` of ``off_base_cells``.
    """

    bins: np.ndarray
    base: np.ndarray
    off_base_ptr: np.ndarray
    off_base_cells: np.ndarray
    off_base_bins: np.ndarray
    run_ptr: np.ndarray
    run_end: np.ndarray
    run_bin: np.ndarray

    @property
    def arrays(self) -> tuple[np.ndarray, ...]:
        """The fields as one tuple, the form the compiled kernels take."""
        return (
            self.bins,
            self.base,
            self.off_base_ptr,
            self.off_base_cells,
            self.off_base_bins,
            self.run_ptr,
            self.run_end,
            self.run_bin,
        )


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
    off_base = bins != base[:, None]
    off_base_ptr = np.concatenate([[0], np.cumsum(off_base.sum(axis=1))]).astype(np.int64)
    features, cells = np.nonzero(off_base)
    order = np.lexsort((cells, -bins[features, cells].astype(np.int64), features))  # per TF, bins decreasing
    features, cells = features[order], cells[order]
    cell_bins = bins[features, cells]
    starts = np.flatnonzero(np.r_[True, (np.diff(cell_bins.astype(np.int64)) != 0) | (np.diff(features) != 0)])
    run_ptr = np.searchsorted(starts, off_base_ptr).astype(np.int64)
    run_end = np.r_[starts[1:], len(cells)].astype(np.int64)
    return BinnedFeatures(
        bins, base, off_base_ptr, cells.astype(np.int64), cell_bins, run_ptr, run_end, cell_bins[starts]
    )


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


@njit(cache=True, nogil=True)
def _histogram(binned, f, base, node, start, n, total, rows, node_of, residual, node_residual, hist_sum, hist_cnt):
    """Fill ``hist_sum`` / ``hist_cnt`` with feature ``f``'s bins over one node; return the occupied bin range.

    Walks f's off-base cells when they are under half the node's (the base bin then gets what they
    leave of the node's total), else the node's cells (base-bin cells rotate over SPARE slots, so
    that the additions do not form one serial chain).
    """
    bins, _, off_base_ptr, off_base_cells, off_base_bins = binned[:5]
    low, high = base, base
    if 2 * (off_base_ptr[f + 1] - off_base_ptr[f]) < n:
        others_sum, others_n = 0.0, 0
        for p in range(off_base_ptr[f], off_base_ptr[f + 1]):
            c = off_base_cells[p]
            inside = node_of[c] == node
            b = off_base_bins[p]
            r = residual[c] if inside else 0.0
            hist_sum[b] += r  # branch-free: another node's cell adds nothing
            hist_cnt[b] += inside
            others_sum += r
            others_n += inside
            low, high = min(low, b if inside else base), max(high, b if inside else base)
        hist_sum[base] = total - others_sum
        hist_cnt[base] = n - others_n
        return low, high
    for k in range(n):
        b = bins[f, rows[start + k]]
        slot = b if b != base else MAX_BINS + (k & (SPARE - 1))
        hist_sum[slot] += node_residual[k]
        hist_cnt[slot] += 1
        low, high = min(low, b), max(high, b)
    for slot in range(MAX_BINS, MAX_BINS + SPARE):
        hist_sum[base] += hist_sum[slot]
        hist_cnt[base] += hist_cnt[slot]
        hist_sum[slot], hist_cnt[slot] = 0.0, 0
    return low, high


@njit(cache=True, nogil=True)
def _grow_tree(binned, n_in, features, n_draw, state, work, tree, importance):
    """Grow one depth-3 least-squares tree on the residuals of the in-bag cells; add its squared-error
    reductions to ``importance``.

    ``work`` holds the target's in-bag cells ``rows[:n_in]``, ``node_of`` (0 for those cells, -1 for
    the others; each cell's node as the tree grows), the residuals and scratch arrays.

    ``tree`` rows: feature, threshold bin, left, right, value (a leaf when feature < 0). Returns the
    number of nodes.
    """
    bins, binned_base, off_base_ptr, off_base_cells, _, run_ptr, run_end, run_bin = binned
    rows, node_of, residual, hist_sum, hist_cnt, node_residual, starts, ends, depths, inverse = work
    starts[0], ends[0], depths[0] = 0, n_in, 0
    n_nodes, node = 1, 0
    n_features = len(features)
    while node < n_nodes:
        start, end = starts[node], ends[node]
        n = end - start
        total = 0.0
        squares = 0.0
        for k in range(n):
            r = residual[rows[start + k]]
            node_residual[k] = r
            total += r
            squares += r * r
        mean = total / n
        tree[node, 0] = -1.0
        tree[node, 4] = mean
        if depths[node] >= MAX_DEPTH or n < 2 or squares / n - mean * mean <= EPSILON:
            node += 1
            continue
        best_gain, best_feature, best_bin = -1.0, -1, -1
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
            varies = False
            # measured: walking the node's own cells (histogram) is faster unless f's off-base cells
            # are under half as many
            if 2 * (off_base_ptr[f + 1] - off_base_ptr[f]) < n and base == 0:
                # f's off-base cells come in runs of one bin, in decreasing bin order: after each run,
                # this node's cells seen so far are the right side of the split just below that bin
                right_n, right_sum, p, evaluated = 0, 0.0, off_base_ptr[f], 0
                for k in range(run_ptr[f], run_ptr[f + 1]):
                    while p < run_end[k]:  # branch-free: another node's cell adds nothing
                        inside = node_of[off_base_cells[p]] == node
                        right_n += inside
                        right_sum += residual[off_base_cells[p]] if inside else 0.0
                        p += 1
                    if right_n != evaluated and right_n < n:  # the run had cells of this node
                        evaluated = right_n
                        varies = True
                        gain = _gain(total - right_sum, n - right_n, right_sum, right_n, inverse, parent)
                        if gain > best_gain:
                            best_gain, best_feature, best_bin = gain, f, run_bin[k] - 1
            else:
                low, high = _histogram(
                    binned, f, base, node, start, n, total, rows, node_of, residual, node_residual, hist_sum, hist_cnt
                )
                left_n, left_sum = 0, 0.0
                for b in range(low, high):
                    if hist_cnt[b] == 0:
                        continue
                    left_n += hist_cnt[b]
                    left_sum += hist_sum[b]
                    if left_n == n:
                        break
                    varies = True
                    gain = _gain(left_sum, left_n, total - left_sum, n - left_n, inverse, parent)
                    if gain > best_gain:
                        best_gain, best_feature, best_bin = gain, f, b
                for b in range(low, high + 1):
                    hist_sum[b] = 0.0
                    hist_cnt[b] = 0
            if varies:
                informative += 1
        if best_feature < 0:
            node += 1
            continue
        # partition rows[start:end] into bin <= best_bin (left) and the rest (right)
        lo, hi = start, end - 1
        while lo <= hi:
            if bins[best_feature, rows[lo]] <= best_bin:
                lo += 1
            else:
                rows[lo], rows[hi] = rows[hi], rows[lo]
                hi -= 1
        for k in range(start, lo):
            node_of[rows[k]] = n_nodes
        for k in range(lo, end):
            node_of[rows[k]] = n_nodes + 1
        tree[node, 0] = best_feature
        tree[node, 1] = best_bin
        tree[node, 2] = n_nodes
        tree[node, 3] = n_nodes + 1
        importance[best_feature] += best_gain
        for child_start, child_end in ((start, lo), (lo, end)):
            starts[n_nodes], ends[n_nodes], depths[n_nodes] = child_start, child_end, depths[node] + 1
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
    node_of = np.empty(n_cells, dtype=np.int64)
    rows = np.empty(n_in, dtype=np.int64)
    # scratch of _grow_tree: histogram sums and counts (kept zeroed), node residuals, node extents,
    # and 1 / k for every node size k (a split scan multiplies instead of dividing)
    inverse = np.zeros(n_in + 1)
    inverse[1:] = 1.0 / np.arange(1, n_in + 1)
    work = (
        rows,
        node_of,
        residual,
        np.zeros(MAX_BINS + SPARE),
        np.zeros(MAX_BINS + SPARE, dtype=np.int64),
        np.empty(n_in),
        np.empty(MAX_NODES, dtype=np.int64),
        np.empty(MAX_NODES, dtype=np.int64),
        np.empty(MAX_NODES, dtype=np.int64),
        inverse,
    )
    tree = np.empty((MAX_NODES, 5))
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
        chosen = 0
        for c in range(n_cells):
            node_of[c] = 0 if in_bag[c] else -1
            if in_bag[c]:
                rows[chosen] = c
                chosen += 1
        old_oob = 0.0
        for c in range(n_cells):
            residual[c] = y[c] - prediction[c]
            if not in_bag[c]:
                old_oob += residual[c] * residual[c]
        tree_importance[:] = 0.0
        n_nodes = _grow_tree(binned, n_in, features, n_draw, state, work, tree, tree_importance)
        if n_nodes > 1:
            importance += tree_importance
        new_oob = 0.0
        for c in range(n_cells):
            node = node_of[c]  # in-bag cells know their leaf; out-of-bag ones descend the tree
            if node < 0:
                node = 0
                while tree[node, 0] >= 0:
                    node = int(tree[node, 2] if bins[int(tree[node, 0]), c] <= tree[node, 1] else tree[node, 3])
            prediction[c] += learning_rate * tree[node, 4]
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
    )
)
