"""pySCENIC's dip test of unimodality (``pyscenic/diptest.py``), compiled: the same statistic, the same p-value.

pySCENIC's dip is Hartigan's algorithm run on the histogram of a sample's *distinct* values: the positions
are the sorted distinct values, each weighted by how often it occurs, and the statistic is half the largest
distance between the empirical distribution and the convex / concave pieces found by the algorithm's
narrowing windows. Its p-value is simulated: 1,000 samples of as many uniform draws as the data has
distinct values (the legacy Mersenne Twister stream of ``np.random.uniform(size=1000 * m)``, one sample per
row), ``(#{null dip > dip} + 1) / 1001``, and no p-value (unimodal) when every null dip is 0: when the data
has at most 4 distinct values (a sample with 5 or more distinct values has a positive dip).

Here every value is computed with pySCENIC's floating-point operations in pySCENIC's order (same slopes,
same first-minimum choice of the next touchpoint, same tie rules), so the statistic is bit-for-bit
pySCENIC's; the search for each next touchpoint only visits the points near the convex hull, the only
ones that can win it. The null samples are read from ``np.random.RandomState(seed)``'s stream by a
compiled Mersenne Twister, at first only into bins: a sample is drawn in full and run through the dip
algorithm only when an upper bound on its dip from those bins (its distance from the uniform
distribution) does not already show that it is at most the data's dip. :func:`is_bimodal` also stops
as soon as enough null dips exceed the data's for the decision to be unimodal.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: pySCENIC's number of simulated uniform samples per p-value
NULL_SAMPLES = 1000
#: pySCENIC returns no p-value (unimodal) at this many distinct values or fewer: every dip is 0
MAX_TRIVIAL_DISTINCT = 4
#: rounding slack of the upper bound on a null sample's dip (its arithmetic errs by ~1e-16)
BOUND_SLACK = 1e-9
#: how far above the exact convex hull a point may lie and still be a candidate touchpoint (rounding: ~1e-16)
NEAR_HULL = 1e-9
_MT_N = 624
_MT_M = 397
_RANDOM_BITS = 27  # of a legacy double's first Mersenne Twister word


def dip(values: np.ndarray) -> float:
    """pySCENIC's dip statistic (``pyscenic.diptest.dip_fn``) of a sample.

    Parameters
    ----------
    values
        The sample, in any order, as float64 (non-finite values are not supported).

    Returns
    -------
    Half the largest distance Hartigan's algorithm finds between the empirical distribution of the
    distinct values (weighted by their counts) and its unimodal fit; 0 for at most 4 distinct values.
    """
    positions, counts = _histogram(values)
    return float(_histogram_dip(positions, counts))


def dip_p_value(values: np.ndarray, *, seed: int = 0) -> float | None:
    """pySCENIC's simulated p-value of the dip (``pyscenic.diptest.diptst``), from ``RandomState(seed)``.

    pySCENIC draws the null samples from NumPy's global generator after ``np.random.seed(seed)``; this
    draws the same numbers from ``np.random.RandomState(seed)`` without touching the global one, so for
    any seed pySCENIC's ``derive_threshold`` seeds (any nonzero one) the p-value is the same.

    Returns
    -------
    ``(#{null dip > dip} + 1) / (NULL_SAMPLES + 1)``, or ``None`` for at most 4 distinct values.
    """
    positions, counts = _histogram(values)
    if len(positions) <= MAX_TRIVIAL_DISTINCT:
        return None
    return _p_value(_count_null_exceeding(positions, counts, seed, limit=NULL_SAMPLES))


def is_bimodal(values: np.ndarray, *, seed: int = 0, alpha: float = 0.05) -> bool:
    """Whether pySCENIC's dip test calls the sample bimodal: a p-value (see :func:`dip_p_value`) ≤ ``alpha``.

    Simulates only until so many null dips exceed the sample's that the p-value is above ``alpha``.
    """
    positions, counts = _histogram(values)
    if len(positions) <= MAX_TRIVIAL_DISTINCT:
        return False
    limit = next((n for n in range(NULL_SAMPLES + 1) if _p_value(n) > alpha), NULL_SAMPLES + 1)
    return _p_value(_count_null_exceeding(positions, counts, seed, limit=limit)) <= alpha


def _histogram(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct values (float64) and how often each occurs (as floats): what pySCENIC's dip sees."""
    positions, counts = np.unique(np.asarray(values, dtype=np.float64), return_counts=True)
    return positions, counts.astype(np.float64)


def _p_value(exceeding: int) -> float:
    """pySCENIC's p-value of a dip that ``exceeding`` of the null samples' dips exceed."""
    return (exceeding + 1) / (NULL_SAMPLES + 1)


def _count_null_exceeding(positions: np.ndarray, counts: np.ndarray, seed: int, *, limit: int) -> int:
    """How many of the null samples' dips exceed the sample's dip, counting no further than ``limit``."""
    observed = _histogram_dip(positions, counts)
    _, key, pos, *_ = np.random.RandomState(seed).get_state(legacy=True)
    key = np.array(key, dtype=np.uint32)
    return int(_null_exceeding(len(positions), observed, key, int(pos), NULL_SAMPLES, limit))


@njit(cache=True, nogil=True)
def _null_exceeding(m, observed, key, pos, n_samples, limit):
    """How many of ``n_samples`` null samples have a dip above ``observed``, counting no further than ``limit``.

    A null sample is the next ``m`` uniforms of the Mersenne Twister state ``key`` / ``pos``. Each is first
    only binned (a bound on its dip, :func:`_binned_dip_bound`); drawn again in full and run through the dip
    algorithm only when the bound exceeds ``observed``.
    """
    bits = 0  # 2**bits bins, at least 8 √m: their width adds about a seventh to the bound's usual size
    while 2**bits < 8 * np.sqrt(m) and bits < _RANDOM_BITS:
        bits += 1
    filled = np.empty(2**bits, dtype=np.int64)
    row = np.empty(m)
    start = np.empty_like(key)
    exceeding = 0
    for _ in range(n_samples):
        start[:] = key
        start_pos = pos
        filled[:] = 0
        pos = _bin_uniform(key, pos, m, _RANDOM_BITS - bits, filled)
        if _binned_dip_bound(filled, m) + BOUND_SLACK > observed:
            _fill_uniform(start, start_pos, row)
            positions, counts = _distinct(_sorted_unit(row))
            exceeding += _histogram_dip(positions, counts) > observed
            if exceeding >= limit:
                break
    return exceeding


@njit(cache=True, nogil=True)
def _sorted_unit(row):
    """``row`` (values in [0, 1)) sorted, in O(n): into n buckets by value, then an insertion sort within them."""
    n = len(row)
    starts = np.zeros(n + 1, dtype=np.int64)
    for x in row:
        starts[min(int(x * n), n - 1) + 1] += 1
    starts = np.cumsum(starts)
    ordered = np.empty(n)
    for x in row:
        bucket = min(int(x * n), n - 1)
        ordered[starts[bucket]] = x
        starts[bucket] += 1
    for i in range(1, n):
        x, j = ordered[i], i - 1
        while j >= 0 and ordered[j] > x:
            ordered[j + 1] = ordered[j]
            j -= 1
        ordered[j + 1] = x
    return ordered


@njit(cache=True, nogil=True)
def _distinct(ordered):
    """The distinct values of a sorted array and how often each occurs (as floats)."""
    n = len(ordered)
    positions = np.empty(n, dtype=ordered.dtype)
    counts = np.zeros(n)
    k = -1
    for i in range(n):
        if k < 0 or ordered[i] != positions[k]:
            k += 1
            positions[k] = ordered[i]
        counts[k] += 1.0
    return positions[: k + 1], counts[: k + 1]


@njit(cache=True, nogil=True)
def _binned_dip_bound(filled, n):
    """An upper bound on the dip of ``n`` values in [0, 1), from how many ``filled`` each of 2**k equal bins.

    Every piece the dip algorithm compares with the empirical distribution function F (and with its
    left limit G) is a convex minorant of G or a concave majorant of F over some window of the sample;
    both lie within ε of the line y = x when F and G do at every value, so the dip (half the largest
    distance) is at most ε = max |F − x|, |G − x|. A value in bin k has F and G between the fractions
    of the sample below the bin's two edges.
    """
    bins = len(filled)
    bound = 0.0
    below = 0
    for k in range(bins):
        if filled[k]:
            low, high = below / n, (below + filled[k]) / n
            bound = max(bound, high - k / bins, (k + 1) / bins - low)
        below += filled[k]
    return bound


@njit(cache=True, nogil=True)
def _bin_uniform(key, pos, n, shift, filled):
    """Count into ``filled`` the bins of the next ``n`` doubles of a legacy ``RandomState`` (see :func:`_fill_uniform`).

    A double is (a·2**26 + b) / 2**53 for the top 27 bits a of one word and the top 26 bits b of the next,
    so its bin among 2**(27 − ``shift``) equal bins is a >> ``shift``: the second word is skipped, not tempered.

    Returns
    -------
    The new position in ``key`` (which is advanced in place).
    """
    for _ in range(n):
        if pos >= _MT_N:
            _twist(key)
            pos = 0
        filled[np.int64(_temper(key[pos]) >> 5) >> shift] += 1
        pos += 1
        if pos >= _MT_N:
            _twist(key)
            pos = 0
        pos += 1
    return pos


@njit(cache=True, nogil=True)
def _fill_uniform(key, pos, out):
    """Fill ``out`` with the next doubles of a legacy ``RandomState`` (MT19937, 53-bit ``random_sample``).

    Returns
    -------
    The new position in ``key`` (which is advanced in place).
    """
    for i in range(len(out)):
        if pos >= _MT_N:
            _twist(key)
            pos = 0
        high = _temper(key[pos]) >> 5
        pos += 1
        if pos >= _MT_N:
            _twist(key)
            pos = 0
        low = _temper(key[pos]) >> 6
        pos += 1
        out[i] = (high * 67108864.0 + low) / 9007199254740992.0
    return pos


@njit(cache=True, nogil=True)
def _twist(key):
    """The Mersenne Twister's regeneration of its 624 state words, in place."""
    for i in range(_MT_N):
        y = (np.uint32(key[i]) & np.uint32(0x80000000)) | (key[(i + 1) % _MT_N] & np.uint32(0x7FFFFFFF))
        key[i] = key[(i + _MT_M) % _MT_N] ^ (y >> np.uint32(1)) ^ (np.uint32(0x9908B0DF) * (y & np.uint32(1)))


@njit(cache=True, nogil=True)
def _temper(word):
    """The Mersenne Twister's tempering of one state word."""
    y = np.uint64(word)
    y ^= y >> 11
    y ^= (y << 7) & 0x9D2C5680
    y ^= (y << 15) & 0xEFC60000
    y ^= y >> 18
    return y & 0xFFFFFFFF


@njit(cache=True, nogil=True, error_model="numpy")
def _histogram_dip(positions, counts):
    """pySCENIC's ``dip_fn`` of a histogram: sorted distinct ``positions`` and their ``counts`` (floats)."""
    m = len(positions)
    if m <= MAX_TRIVIAL_DISTINCT or positions[0] == positions[m - 1]:
        return 0.0
    cdf = np.cumsum(counts)
    total = cdf[m - 1]
    cdf = cdf / total
    mass = counts / total
    below = cdf - mass  # the distribution function's left limits
    left = np.empty(m)  # the convex pieces found so far, by point; points 0 … n_left − 1
    right = np.empty(m)  # the concave pieces found so far; points hi … m − 1
    left[0], right[m - 1] = 0.0, 1.0
    n_left = 1
    lo, hi = 0, m - 1
    convex, concave = np.empty(m), np.empty(m)
    convex_touch, concave_touch = np.empty(m, dtype=np.int64), np.empty(m, dtype=np.int64)
    turned_heights, turned_positions = np.empty(m), np.empty(m, dtype=positions.dtype)
    widest = 0.0
    while True:
        w = hi - lo + 1
        n_convex = _gcm(below[lo : hi + 1], positions[lo : hi + 1], convex, convex_touch)
        n_concave = _lcm(
            cdf[lo : hi + 1], positions[lo : hi + 1], concave, concave_touch, turned_heights, turned_positions
        )
        gap_left = _largest_gap(convex, concave, convex_touch[:n_convex])
        gap_right = _largest_gap(convex, concave, concave_touch[:n_concave])
        if gap_right > gap_left:
            xr = 0
            for k in range(n_concave):
                if abs(concave[concave_touch[k]] - convex[concave_touch[k]]) == gap_right:
                    xr = concave_touch[k]
            xl = 0
            for k in range(n_convex):
                if convex_touch[k] <= xr:
                    xl = convex_touch[k]
            gap = gap_right
        else:
            xl = 0
            for k in range(n_convex):
                if abs(concave[convex_touch[k]] - convex[convex_touch[k]]) == gap_left:
                    xl = convex_touch[k]
                    break
            xr = 0
            for k in range(n_concave):
                if concave_touch[k] >= xl:
                    xr = concave_touch[k]
                    break
            gap = gap_left
        if gap <= widest or xr == 0:
            the_dip = 0.0
            for p in range(n_left):
                the_dip = max(the_dip, abs(cdf[p] - left[p]))
            for p in range(hi, m):
                the_dip = max(the_dip, abs(cdf[p - 1] - right[p]))
            return the_dip / 2
        for k in range(xl + 1):
            widest = max(widest, abs(convex[k] - cdf[lo + k]))
        for k in range(xr, w):
            widest = max(widest, abs(concave[k] - cdf[lo + k] + mass[lo + k]))
        for k in range(1, xl + 1):
            left[lo + k] = convex[k]
        n_left = lo + xl + 1
        for k in range(xr, w - 1):
            right[lo + k] = concave[k]
        lo, hi = lo + xl, lo + xr


@njit(cache=True, nogil=True)
def _largest_gap(convex, concave, touchpoints):
    """pySCENIC's ``_touch_diffs_``: the largest |concave − convex| at the touchpoints."""
    gap = abs(concave[touchpoints[0]] - convex[touchpoints[0]])
    for t in touchpoints[1:]:
        gap = max(gap, abs(concave[t] - convex[t]))
    return gap


@njit(cache=True, nogil=True, error_model="numpy")
def _gcm(heights, positions, out, touchpoints):
    """pySCENIC's greatest convex minorant (``_gcm_``): from each touchpoint, the next is the first of least slope.

    pySCENIC compares the rounded slopes to every later point. Only points within rounding of the exact
    convex hull can have the least of them (heights lie in [0, 1], so such a point is less than ~1e-15
    above the hull, per touchpoint so far), so the same search over the points within
    :data:`NEAR_HULL` of the hull (see :func:`_near_hull`) finds the same touchpoints, and the minorant
    is then computed with pySCENIC's arithmetic. Writes the minorant at every point into ``out`` and the
    touchpoints into ``touchpoints``; returns how many.
    """
    n = len(heights)
    candidates = _near_hull(heights, positions)
    out[0] = heights[0]
    touchpoints[0] = 0
    n_touch = 1
    anchor, at = 0, 0  # the anchor and its place among the candidates
    while anchor < n - 1:
        base, origin = heights[anchor], positions[anchor]
        least, step, step_at = np.inf, -1, -1
        for c in range(at + 1, len(candidates)):
            j = candidates[c]
            slope = (heights[j] - base) / (positions[j] - origin)
            if step < 0 or slope < least:
                least, step, step_at = slope, j, c
        for k in range(anchor + 1, step + 1):
            out[k] = base + (positions[k] - origin) * least
        touchpoints[n_touch] = step
        n_touch += 1
        anchor, at = step, step_at
    return n_touch


@njit(cache=True, nogil=True)
def _near_hull(heights, positions):
    """Indices, in order, of the points at most :data:`NEAR_HULL` above the lower convex hull (a monotone chain)."""
    n = len(heights)
    hull = np.empty(n, dtype=np.int64)
    size = 0
    for i in range(n):
        while size >= 2:
            o, a = hull[size - 2], hull[size - 1]
            turn = (positions[a] - positions[o]) * (heights[i] - heights[o]) - (heights[a] - heights[o]) * (
                positions[i] - positions[o]
            )
            if turn > 0:
                break
            size -= 1
        hull[size] = i
        size += 1
    near = np.empty(n, dtype=np.int64)
    count, edge = 0, 0
    for j in range(n):
        while edge < size - 2 and hull[edge + 1] < j:
            edge += 1
        a, b = hull[edge], hull[min(edge + 1, size - 1)]
        below = heights[a]
        if b != a:
            below += (positions[j] - positions[a]) * ((heights[b] - heights[a]) / (positions[b] - positions[a]))
        if not heights[j] - below > NEAR_HULL:
            near[count] = j
            count += 1
    return near[:count]


@njit(cache=True, nogil=True, error_model="numpy")
def _lcm(heights, positions, out, touchpoints, turned_heights, turned_positions):
    """pySCENIC's least concave majorant: the convex minorant of the curve turned by 180° (same arithmetic)."""
    n = len(heights)
    top = positions.max()
    for i in range(n):
        turned_heights[i] = 1 - heights[n - 1 - i]
        turned_positions[i] = top - positions[n - 1 - i]
    n_touch = _gcm(turned_heights[:n], turned_positions[:n], out, touchpoints)
    for i in range((n + 1) // 2):
        out[i], out[n - 1 - i] = 1 - out[n - 1 - i], 1 - out[i]
    for k in range((n_touch + 1) // 2):
        touchpoints[k], touchpoints[n_touch - 1 - k] = n - 1 - touchpoints[n_touch - 1 - k], n - 1 - touchpoints[k]
    return n_touch
