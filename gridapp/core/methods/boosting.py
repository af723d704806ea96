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
leave of the node's total, and the filled bins are kept as a 64-bit mask, scanned in order. Where the
CPU packs a vector's chosen lanes in one instruction (AVX-512 VBMI2's compress), a node's cells are first
listed that way, 64 per word without a branch, then added up in one loop: a walk of each word's bits
mispredicts its loop's end once per word, and that was most of the histograms' time. The
residuals are updated in place after each tree: an in-bag cell through the leaf bitset that holds it,
an out-of-bag cell (10 %) by walking the tree. Whole chunks of targets are boosted in one compiled call
that releases the GIL: in threads of this process when the work stays on this machine, as Dask tasks on
a cluster reached by address. Each target draws its random numbers from its own stream (seed, target
position), so results do not depend on chunking, threads, workers or their order.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import anndata as ad
import llvmlite.binding
import numpy as np
import pandas as pd
import scipy.sparse as sp
from distributed import Client, LocalCluster
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils, config
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic

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
#: words per segment of a node's listed cells (their positions are 16-bit within a segment)
SEGMENT_WORDS = 2**16 // WORD
#: vector lanes of 16 bits per compress (half a word)
LANES = 32
#: targets per Dask task: small enough to balance two workers, large enough to amortise a task
CHUNK = 32
#: targets per turn of a thread: a turn costs microseconds, so small turns balance the threads' last ones
THREAD_CHUNK = 8
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


@intrinsic
def _popcount(typingctx, src):
    """Number of set bits of an unsigned integer (one instruction where the CPU has it)."""

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return src(src), codegen


def vector_compress() -> bool:
    """Whether numba compiles for a CPU that packs a vector's chosen 16-bit lanes in one instruction
    (AVX-512 VBMI2's ``vpcompressw``): the host, or the CPU set by ``NUMBA_CPU_NAME`` and ``NUMBA_CPU_FEATURES``.

    Elsewhere the compress is emulated lane by lane, slower than walking the bits.
    """
    if config.CPU_NAME and config.CPU_NAME != "host":
        return "+avx512vbmi2" in (config.CPU_FEATURES or "").split(",")
    return bool(llvmlite.binding.get_host_cpu_features().get("avx512vbmi2", False))


#: how the histograms find a node's cells: listed by vector compress (True) or by walking their bits
COMPRESS = vector_compress()


@intrinsic
def _list_bits(typingctx, positions, count, word, first):
    """Write ``first`` + the index of each set bit of ``word``, in order, to ``positions[count:]`` (uint16);
    return ``count`` + the number of set bits.

    Two compressions of 32 lanes, each stored whole: ``positions`` needs ``2 * LANES`` entries of room past
    the last position written.
    """

    def codegen(context, builder, signature, args):
        array, count, word, first = args
        data = context.make_array(signature.args[0])(context, builder, array).data
        i16, i32, i64 = ir.IntType(16), ir.IntType(32), ir.IntType(64)
        vector, mask = ir.VectorType(i16, LANES), ir.VectorType(ir.IntType(1), LANES)
        compress = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(vector, [vector, mask, vector]),
            f"llvm.experimental.vector.compress.v{LANES}i16",
        )
        lane_zero = ir.Constant(ir.VectorType(i32, LANES), [0] * LANES)
        start = builder.insert_element(ir.Constant(vector, ir.Undefined), builder.trunc(first, i16), i32(0))
        start = builder.shuffle_vector(start, ir.Constant(vector, ir.Undefined), lane_zero)
        for half in range(WORD // LANES):
            bits = builder.trunc(builder.lshr(word, i64(LANES * half)), ir.IntType(LANES))
            lanes = builder.add(start, ir.Constant(vector, list(range(LANES * half, LANES * (half + 1)))))
            packed = builder.call(compress, [lanes, builder.bitcast(bits, mask), ir.Constant(vector, [0] * LANES)])
            builder.store(packed, builder.bitcast(builder.gep(data, [count]), vector.as_pointer()), align=2)
            count = builder.add(count, builder.zext(builder.ctpop(bits), i64))
        return count

    return types.int64(positions, count, word, first), codegen


@njit(cache=True, inline="always", error_model="numpy")
def _next(state: np.ndarray) -> float:
    """Uniform double in [0, 1) from a splitmix64 stream kept in ``state[0]``."""
    state[0] += np.uint64(0x9E3779B97F4A7C15)
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return float(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, inline="always", error_model="numpy")
def _list_cells(row, mask, start, stop, positions):
    """List the cells of ``row & mask`` in words ``start:stop`` into ``positions`` (relative to word ``start``,
    in order) by vector compress; return how many."""
    listed = 0
    for w in range(start, stop):
        listed = _list_bits(positions, listed, row[w] & mask[w], (w - start) * WORD)
    return listed


@njit(cache=True, inline="always", error_model="numpy")
def _each_cell(row, mask, positions, compress, visit, state):
    """Call ``visit(cell, state)`` on each cell of ``row & mask``, in order: listed by vector compress a segment
    at a time (``compress``), else by walking each word's bits."""
    for start in range(0, len(row), SEGMENT_WORDS):
        stop = min(start + SEGMENT_WORDS, len(row))
        first = np.uint64(start * WORD)
        if compress:
            for i in range(_list_cells(row, mask, start, stop, positions)):
                visit(first + positions[i], state)
            continue
        for w in range(start, stop):
            word, offset = row[w] & mask[w], first + np.uint64((w - start) * WORD)
            while word:
                visit(offset + trailing_zeros(word), state)
                word &= word - np.uint64(1)


@njit(cache=True, inline="always", error_model="numpy")
def _add_cell(c, bins_f, residual, hist_sum, hist_cnt):
    """Add cell ``c``'s residual to its bin's sum and count; return the bin's bit and the residual."""
    b = np.uint64(bins_f[c])
    r = residual[c]
    hist_sum[b] += r
    hist_cnt[b] += 1
    return np.uint64(1) << b, r


@njit(cache=True, inline="always", error_model="numpy")
def _histogram(bins_f, off_base_f, node_cells, residual, hist_sum, hist_cnt, positions, compress):
    """Add the residuals of the node's cells outside the feature's base bin to their bins' sums and counts.

    Returns the bitmask of bins filled, the residuals' sum and the number of cells. With ``compress`` the
    cells are listed into ``positions`` first (:func:`_list_bits`, a segment at a time), else each word's
    bits are walked. Both add the cells in the same order, so the sums are the same to the bit. Cell
    positions are unsigned, so indexing needs no negative-index check.
    """
    occupied, others_sum, others_n = np.uint64(0), 0.0, 0
    if compress:
        for start in range(0, len(node_cells), SEGMENT_WORDS):
            stop = min(start + SEGMENT_WORDS, len(node_cells))
            listed = _list_cells(node_cells, off_base_f, start, stop, positions)
            first = np.uint64(start * WORD)
            for i in range(listed):
                bit, r = _add_cell(first + positions[i], bins_f, residual, hist_sum, hist_cnt)
                occupied |= bit
                others_sum += r
            others_n += listed
        return occupied, others_sum, others_n
    offset = np.uint64(0)
    for w in range(len(node_cells)):
        word = node_cells[w] & off_base_f[w]
        others_n += _popcount(word)
        while word:
            bit, r = _add_cell(offset + trailing_zeros(word), bins_f, residual, hist_sum, hist_cnt)
            word &= word - np.uint64(1)
            occupied |= bit
            others_sum += r
        offset += np.uint64(WORD)
    return occupied, others_sum, others_n


@njit(cache=True, inline="always", error_model="numpy")
def _send_left(c, state):
    """Set cell ``c``'s bit in ``going_left`` when its bin is <= ``threshold``; ``state``: those and the bins."""
    going_left, bins_f, threshold = state
    going_left[c // np.uint64(WORD)] |= np.uint64(bins_f[c] <= threshold) << (c % np.uint64(WORD))


@njit(cache=True, inline="always", error_model="numpy")
def _split(node, left, feature, threshold, binned, node_bits, positions, compress):
    """Divide a node's cells between its children: bin <= ``threshold`` to ``left``, the others to ``left + 1``.

    The node's cells in the feature's base bin go together; the others are visited one by one (:func:`_each_cell`).
    """
    bins, binned_base, off_base = binned
    bins_f, off_base_f = bins[feature], off_base[feature]
    node_cells, going_left = node_bits[node], node_bits[left]
    base_left = binned_base[feature] <= threshold
    for w in range(len(node_cells)):
        going_left[w] = node_cells[w] & ~off_base_f[w] if base_left else np.uint64(0)
    _each_cell(node_cells, off_base_f, positions, compress, _send_left, (going_left, bins_f, threshold))
    for w in range(len(node_cells)):
        node_bits[left + 1, w] = node_cells[w] & ~going_left[w]


@njit(cache=True, nogil=True, error_model="numpy")
def _grow_tree(binned, node_bits, residual, n_in, total_in, features, n_draw, state, work, tree, importance, compress):
    """Grow one depth-3 least-squares tree on the residuals of the in-bag cells (``node_bits[0]``);
    add its squared-error reductions to ``importance``.

    Nodes are numbered breadth first; ``node_bits[k]`` receives node k's cells. ``tree``: each node's
    feature (a leaf when < 0), threshold bin (left: bin <= threshold), left child (the right one
    follows) and value. ``compress``: how :func:`_histogram` and :func:`_split` find a node's cells.
    Returns the number of nodes.
    """
    bins, binned_base, off_base = binned
    hist_sum, hist_cnt, sizes, totals, depths, inverse, positions = work
    tree_feature, tree_threshold, tree_left, tree_value = tree
    sizes[0], totals[0], depths[0] = n_in, total_in, 0
    n_nodes, node = 1, 0
    n_features = len(features)
    while node < n_nodes:
        n, total = sizes[node], totals[node]
        tree_feature[node] = -1
        tree_value[node] = total / n
        if depths[node] >= MAX_DEPTH or n < 2:
            node += 1
            continue
        parent = total * total / n
        # candidates are compared on left² / n_left + right² / n_right: the gain plus the parent's term
        best_score, best_feature, best_threshold, best_n, best_sum = parent - 1.0, -1, -1, 0, 0.0
        visited, informative, i = 0, 0, 0
        # draw features without replacement until n_draw were visited and one of them varies here
        while i < n_features and (visited < n_draw or informative == 0):
            j = i + int(_next(state) * (n_features - i))
            features[i], features[j] = features[j], features[i]
            f = features[i]
            i += 1
            visited += 1
            occupied, others_sum, others_n = _histogram(
                bins[f], off_base[f], node_bits[node], residual, hist_sum, hist_cnt, positions, compress
            )
            if others_n < n:  # the base bin holds the rest of the node
                base = np.uint64(binned_base[f])
                hist_sum[base] = total - others_sum
                hist_cnt[base] = n - others_n
                occupied |= np.uint64(1) << base
            if occupied & (occupied - np.uint64(1)):
                informative += 1
            # scan the filled bins in order (clearing them); a split lies between two consecutive ones
            previous = int(trailing_zeros(occupied))
            occupied &= occupied - np.uint64(1)
            left_n, left_sum = hist_cnt[previous], hist_sum[previous]
            hist_sum[previous], hist_cnt[previous] = 0.0, 0
            while occupied:
                b = int(trailing_zeros(occupied))
                occupied &= occupied - np.uint64(1)
                right_sum = total - left_sum
                score = (
                    left_sum * left_sum * inverse[np.uint64(left_n)]
                    + right_sum * right_sum * inverse[np.uint64(n - left_n)]
                )
                if score > best_score:
                    best_score, best_feature, best_threshold = score, f, (previous + b) // 2
                    best_n, best_sum = left_n, left_sum
                left_n += hist_cnt[b]
                left_sum += hist_sum[b]
                hist_sum[b], hist_cnt[b] = 0.0, 0
                previous = b
        best_gain = best_score - parent
        # a node whose residuals are all equal stays a leaf: no split gains more than rounding error
        if best_feature < 0 or best_gain <= EPSILON * (n + 8.0 * parent):
            node += 1
            continue
        _split(node, n_nodes, best_feature, best_threshold, binned, node_bits, positions, compress)
        tree_feature[node] = best_feature
        tree_threshold[node] = best_threshold
        tree_left[node] = n_nodes
        importance[best_feature] += best_gain
        for child_n, child_sum in ((best_n, best_sum), (n - best_n, total - best_sum)):
            sizes[n_nodes], totals[n_nodes], depths[n_nodes] = child_n, child_sum, depths[node] + 1
            n_nodes += 1
        node += 1
    return n_nodes


@njit(cache=True, inline="always", error_model="numpy")
def _sum(values):
    """Sum in four interleaved partial sums: a quarter of a single sum's chain of dependent additions."""
    a, b, c, d = 0.0, 0.0, 0.0, 0.0
    whole = len(values) - len(values) % 4
    for i in range(0, whole, 4):
        a, b, c, d = a + values[i], b + values[i + 1], c + values[i + 2], d + values[i + 3]
    for i in range(whole, len(values)):
        a += values[i]
    return (a + b) + (c + d)


@njit(cache=True, inline="always", error_model="numpy")
def _take_step(c, state):
    """Take ``step`` off cell ``c``'s residual; ``state``: the residuals and the step."""
    residual, step = state
    residual[c] -= step


@njit(cache=True, inline="always", error_model="numpy")
def _draw_bag(n_in, every_cell, in_bag, out_of_bag, state):
    """Draw the tree's in-bag cells into ``in_bag`` (a bitset; exactly ``n_in`` cells) and the others into
    ``out_of_bag``: Floyd's sampling of the cells left out."""
    in_bag[:] = every_cell
    for k in range(len(out_of_bag)):
        j = n_in + k
        out = np.uint64(_next(state) * (j + 1))
        if not (in_bag[out // np.uint64(WORD)] >> (out % np.uint64(WORD))) & np.uint64(1):
            out = np.uint64(j)  # drawn before: j takes its place
        in_bag[out // np.uint64(WORD)] &= ~(np.uint64(1) << (out % np.uint64(WORD)))
        out_of_bag[k] = out


@njit(cache=True, nogil=True, error_model="numpy")
def _boost_target(binned, y, features, n_draw, state, settings):
    """Boost one target; return (importance per TF, number of trees).

    The residuals are kept up to date tree by tree: an in-bag cell's leaf is the node bitset that
    holds it, an out-of-bag cell walks the tree. ``settings``: maximal number of trees, learning rate,
    subsample fraction, early-stopping window, and how the histograms find a node's cells (``compress``).
    """
    max_trees, learning_rate, subsample, window, compress = settings
    bins = binned[0]
    n_cells = len(y)
    n_words = binned[2].shape[1]
    n_in = max(1, int(subsample * n_cells))
    residual = y - y.mean()
    every_cell = np.zeros(n_words, dtype=np.uint64)
    for c in range(n_cells):
        every_cell[c // WORD] |= np.uint64(1) << np.uint64(c % WORD)
    out_of_bag = np.empty(n_cells - n_in, dtype=np.uint64)
    node_bits = np.zeros((MAX_NODES, n_words), dtype=np.uint64)
    # scratch of _grow_tree: histogram sums and counts (kept zeroed), node sizes, residual sums and
    # depths, 1 / k for every node size k (a split scan multiplies instead of dividing), and a segment's
    # listed cells with the room _list_bits writes past them
    inverse = np.zeros(n_in + 1)
    inverse[1:] = 1.0 / np.arange(1, n_in + 1)
    positions = np.empty(min(n_words, SEGMENT_WORDS) * WORD + 2 * LANES, dtype=np.uint16)
    work = (
        np.zeros(MAX_BINS),
        np.zeros(MAX_BINS, dtype=np.int64),
        np.empty(MAX_NODES, dtype=np.int64),
        np.empty(MAX_NODES),
        np.empty(MAX_NODES, dtype=np.int64),
        inverse,
        positions,
    )
    tree = (
        np.empty(MAX_NODES, dtype=np.int64),
        np.empty(MAX_NODES, dtype=np.int64),
        np.empty(MAX_NODES, dtype=np.int64),
        np.empty(MAX_NODES),
    )
    tree_feature, tree_threshold, tree_left, tree_value = tree
    importance = np.zeros(bins.shape[0])
    improvements = np.zeros(window)  # the last ``window`` out-of-bag improvements, as a ring
    window_sum = 0.0
    n_trees = 0
    n_out = len(out_of_bag)
    for stage in range(max_trees):
        _draw_bag(n_in, every_cell, node_bits[0], out_of_bag, state)
        total_in, old_oob = _sum(residual), 0.0
        for c in out_of_bag:
            total_in -= residual[c]
            old_oob += residual[c] * residual[c]
        n_nodes = _grow_tree(
            binned, node_bits, residual, n_in, total_in, features, n_draw, state, work, tree, importance, compress
        )
        new_oob = 0.0
        for c in out_of_bag:
            node = 0
            while tree_feature[node] >= 0:
                node = tree_left[node] + (bins[tree_feature[node], c] > tree_threshold[node])
            residual[c] -= learning_rate * tree_value[node]
            new_oob += residual[c] * residual[c]
        for node in range(n_nodes):
            if tree_feature[node] < 0:
                leaf, step = node_bits[node], learning_rate * tree_value[node]
                _each_cell(leaf, leaf, positions, compress, _take_step, (residual, step))
        improvement = (old_oob - new_oob) / n_out if n_out else 0.0
        window_sum += improvement - improvements[stage % window]
        improvements[stage % window] = improvement
        n_trees = stage + 1
        if stage >= window - 1 and window_sum / window < 0:
            break
    total = importance.sum()
    if total > 0:
        importance *= n_trees / total
    return importance, n_trees


@njit(cache=True, nogil=True, error_model="numpy")
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
    compress: bool = COMPRESS,
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
    compress
        List a node's cells by vector compress before adding them up (:data:`COMPRESS`: where the CPU
        does it in one instruction), else walk their bits. The trees are the same either way.

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
        settings = (max_trees, learning_rate, subsample, window, compress)
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
    """Boost targets ``start:stop`` (columns of ``expression``): one Dask task, or one thread's turn."""
    block = expression[:, start:stop]
    block = block.toarray() if sp.issparse(block) else block
    return boost_targets(
        binned.arrays,
        np.ascontiguousarray(block, dtype=np.float64),
        np.arange(start, stop, dtype=np.int64),
        own_feature[start:stop],
        seed,
    )


def local_threads(client: Client | None) -> int:
    """Threads to boost in, in this process, when the work stays on this machine; 0 to use the Dask client.

    No client: one per CPU core. A client of a :class:`~distributed.LocalCluster` of this process: as many as
    the cluster's workers have (the same cores; worker processes would only add scheduling and copies). A
    client of a scheduler reached by address (another machine's, or a pool shared by several jobs) keeps
    the work on its cluster.
    """
    if client is None:
        return os.cpu_count() or 1
    if isinstance(getattr(client, "cluster", None), LocalCluster):
        return sum(client.nthreads().values())
    return 0


def _boost_in_threads(
    binned: BinnedFeatures,
    expression: sp.csc_matrix | np.ndarray,
    own_feature: np.ndarray,
    seed: int,
    chunk: int,
    n_threads: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Boost every target in ``n_threads`` threads (the kernels release the GIL), ``chunk`` targets a turn."""
    n_targets = expression.shape[1]
    importances = np.zeros((n_targets, binned.bins.shape[0]))
    trees = np.zeros(n_targets, dtype=np.int64)

    def boost(start: int) -> None:
        stop = min(start + chunk, n_targets)
        importances[start:stop], trees[start:stop] = _boost_chunk(binned, expression, start, stop, own_feature, seed)

    pool = ThreadPoolExecutor(n_threads, thread_name_prefix="gridapp-boost")
    try:
        for turn in [pool.submit(boost, start) for start in range(0, n_targets, chunk)]:
            turn.result()
    finally:  # an interrupted run (a job's time limit) drops the turns not started
        pool.shutdown(wait=True, cancel_futures=True)
    return importances, trees


def _boost_on_dask(
    dask: Client,
    binned: BinnedFeatures,
    expression: sp.csc_matrix | np.ndarray,
    own_feature: np.ndarray,
    seed: int,
    chunk: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Boost every target as Dask tasks of ``chunk`` targets, the binned TFs and the matrix sent once per worker."""
    n_targets = expression.shape[1]
    # fresh keys: content-named ones could collide with a previous run's data being released
    shared_binned, shared_matrix = dask.scatter([binned, expression], broadcast=True, hash=False)
    futures = [
        dask.submit(
            _boost_chunk,
            shared_binned,
            shared_matrix,
            start,
            min(start + chunk, n_targets),
            own_feature,
            seed,
            pure=False,
        )
        for start in range(0, n_targets, chunk)
    ]
    parts = dask.gather(futures)
    return np.vstack([part[0] for part in parts]), np.concatenate([part[1] for part in parts])


def grnboost2_fast(
    adata: ad.AnnData,
    tfs: Sequence[str],
    *,
    seed: int = 0,
    client: Client | None = None,
    chunk: int | None = None,
    threads: int | None = None,
) -> pd.DataFrame:
    """GRNBoost2's model on a binned TF matrix, many targets per compiled call.

    Parameters
    ----------
    adata
        Log-normalised cells × genes (sparse stays sparse until a chunk of targets is boosted).
    tfs
        Regulators present in ``adata``.
    seed
        Fixes every target's random stream: same seed, same adjacencies, whatever the chunks, threads or cluster.
    client
        Dask client. Work that stays on this machine (no client, or the client of a local cluster) runs in
        threads of this process (:func:`local_threads`); a scheduler reached by address gets Dask tasks.
    chunk
        Targets per thread turn (:data:`THREAD_CHUNK`) or Dask task (:data:`CHUNK`).
    threads
        Threads for local work instead of :func:`local_threads`' count; 0 sends the work to ``client`` (a
        local cluster when ``None``) as Dask tasks.

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
    n_threads = local_threads(client) if threads is None else threads
    if n_threads:
        importances, trees = _boost_in_threads(binned, matrix, own_feature, seed, chunk or THREAD_CHUNK, n_threads)
    else:
        with client_or_local(client) as dask:
            importances, trees = _boost_on_dask(dask, binned, matrix, own_feature, seed, chunk or CHUNK)
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
