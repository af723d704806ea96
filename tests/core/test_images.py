"""DeepDRIM's joint-expression images against hand-computed histograms; neighbour choice and shapes."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from gridapp.core.supervised.images import PairImages, bin_codes, top_covariance_neighbours


def _adata(values: np.ndarray) -> ad.AnnData:
    return ad.AnnData(values.astype(np.float32), var=pd.DataFrame(index=[f"g{i}" for i in range(values.shape[1])]))


def test_a_pair_image_is_the_scaled_joint_histogram_of_logged_values():
    # 4 cells; a = (0, 0, 9.99, 9.99), b = (0, 9.99, 9.99, 9.99): log10(x + 0.01) is -2 or 1,
    # so with 2 bins the cells fall in (low, low) once, (low, high) once and (high, high) twice
    values = np.array([[0, 0, 0], [0, 9.99, 1], [9.99, 9.99, 2], [9.99, 9.99, 3]])
    image = PairImages(_adata(values), n_neighbours=1, bins=2).primary([("g0", "g1")])[0]
    share = np.array([[1, 1], [0, 2]]) / 4
    expected = (np.log10(share + 1e-4) + 4) / 4
    np.testing.assert_allclose(image, expected, rtol=1e-6)
    assert image[1, 0] == pytest.approx(0.0)  # an empty bin


def test_binning_follows_numpy_histogram_edges():
    rng = np.random.default_rng(0)
    logged = rng.normal(size=(200, 3))
    codes = bin_codes(logged, 32)
    for gene in range(3):
        counts, _ = np.histogram(logged[:, gene], bins=32)
        np.testing.assert_array_equal(np.bincount(codes[:, gene], minlength=32), counts)


def test_neighbours_are_the_most_covarying_other_genes():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(300, 1))
    logged = np.hstack([base, base * 3 + rng.normal(0, 0.1, (300, 1)), base + rng.normal(0, 1, (300, 1)), -base])
    neighbours = top_covariance_neighbours(logged, 2)
    assert list(neighbours[0]) == [1, 2]  # g1 covaries most with g0, then g2; -g0 last
    assert all(gene not in row for gene, row in enumerate(neighbours))


def test_input_shapes_for_pairs_and_neighbour_stacks():
    rng = np.random.default_rng(2)
    images = PairImages(_adata(rng.poisson(2.0, (50, 15))), n_neighbours=4)
    assert images.primary([("g0", "g1"), ("g2", "g3"), ("g0", "g0")]).shape == (3, 32, 32)
    stack = images.neighbour_stack(["g0", "g5"])
    assert stack.shape == (2, 5, 32, 32) and stack.dtype == np.float32
    np.testing.assert_allclose(stack[0, 0], images.primary([("g0", "g0")])[0])  # the self image comes first
    partner = images.genes[images.neighbours[5, 0]]
    np.testing.assert_allclose(stack[1, 1], images.primary([("g5", partner)])[0])
