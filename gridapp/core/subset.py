"""Choose cells (donors, cell types), normalise when needed, and choose genes (HVG ∪ TFs)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc
import scipy.sparse as sp

from gridapp.core.errors import GridappError

logger = logging.getLogger(__name__)

#: Fewer cells than this and neither GRNBoost2 nor AUCell gives anything meaningful.
MIN_CELLS = 20
#: Fewer TFs than this in the data means the TF list does not match it.
MIN_TFS = 5


def read_tfs(path: str | Path) -> list[str]:
    """Read a TF list: one symbol per line (pySCENIC ``allTFs_*.txt`` format), ``#`` comments allowed."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise GridappError(f"{path}: cannot read the TF list ({err}).", "Give a text file, one TF per line.") from err
    tfs = [line.split()[0] for line in lines if line.strip() and not line.startswith("#")]
    if not tfs:
        raise GridappError(f"{path}: the TF list is empty.", "Give a text file, one TF symbol per line.")
    return list(dict.fromkeys(tfs))


def subset_cells(
    adata: ad.AnnData,
    *,
    donor_key: str | None = None,
    donors: Sequence[str] = (),
    cell_type_key: str | None = None,
    cell_types: Sequence[str] = (),
    group_key: str | None = None,
    groups: Sequence[str] = (),
    min_cells: int = MIN_CELLS,
) -> ad.AnnData:
    """Keep the cells of the chosen donors, cell types and groups (conditions).

    Parameters
    ----------
    adata
        Cells × genes.
    donor_key, donors
        ``obs`` column holding donors and the donors to keep (all when empty).
    cell_type_key, cell_types
        ``obs`` column holding cell types and the types to keep (all when empty).
    group_key, groups
        ``obs`` column holding another grouping (a condition such as ``group_id``) and the values to keep.
    min_cells
        Fewest cells the subset may have.

    Returns
    -------
    A copy holding the selected cells.
    """
    keep = np.ones(adata.n_obs, dtype=bool)
    chosen = ((donor_key, donors, "donor"), (cell_type_key, cell_types, "cell type"), (group_key, groups, "group"))
    for key, values, what in chosen:
        if key is None:
            if values:
                raise GridappError(
                    f"{what}s {list(values)} were given without the obs column holding them.",
                    f"Add --{what.replace(' ', '')}-key COLUMN.",
                )
            continue
        column = obs_column(adata, key)
        if values:
            keep &= column.isin(_existing_values(column, values, key)).to_numpy()
    n_kept = int(keep.sum())
    if n_kept < min_cells:
        raise GridappError(
            f"The subset holds {n_kept} cells; at least {min_cells} are needed.",
            "Choose more donors, cell types or groups.",
        )
    return adata[keep].copy()


def obs_column(adata: ad.AnnData, key: str) -> pd.Series:
    """The ``obs`` column ``key`` as strings, or an error listing the columns there are."""
    if key not in adata.obs.columns:
        raise GridappError(f"No obs column {key!r}.", f"Available obs columns: {list(adata.obs.columns)}.")
    return adata.obs[key].astype(str)


def _existing_values(column: pd.Series, values: Sequence[str], key: str) -> list[str]:
    present = set(column.unique())
    missing = [v for v in values if str(v) not in present]
    if missing:
        raise GridappError(
            f"obs[{key!r}] has no value {', '.join(map(repr, missing))}.",
            f"Values there: {sorted(present)[:30]}.",
        )
    return [str(v) for v in values]


def normalise(adata: ad.AnnData, values: str) -> str:
    """Log-normalise raw counts in place (counts kept in ``layers['counts']``); leave other data as is.

    Parameters
    ----------
    adata
        Cells × genes.
    values
        ``"counts"`` or ``"log-normalised"``, as :func:`gridapp.core.io.check_values` said.

    Returns
    -------
    A sentence saying what was done.
    """
    if values != "counts":
        return "Values look log-normalised (non-integer): used as they are."
    adata.layers["counts"] = adata.X.copy()
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    return "Values are raw counts: normalised to 10,000 per cell and log1p-transformed."


@dataclass(frozen=True)
class TFCoverage:
    """How much of a TF list the data holds."""

    n_listed: int
    present: tuple[str, ...]

    @property
    def n_present(self) -> int:
        return len(self.present)

    @property
    def fraction(self) -> float:
        return self.n_present / self.n_listed if self.n_listed else 0.0

    def __str__(self) -> str:
        return f"{self.n_present} of {self.n_listed} listed TFs are in the data ({self.fraction:.1%})"


def tf_coverage(genes: Sequence[str], tfs: Sequence[str], *, min_tfs: int = MIN_TFS) -> TFCoverage:
    """Report which TFs of the list are among ``genes``; fail loudly when almost none are.

    The error names the likely cause: Ensembl IDs instead of symbols, letter case (mouse vs
    human), or a TF list of another species.
    """
    genes = pd.Index(genes).astype(str)
    coverage = TFCoverage(n_listed=len(tfs), present=tuple(t for t in tfs if t in set(genes)))
    if coverage.n_present >= min_tfs:
        return coverage
    upper_genes = set(genes.str.upper())
    case_hits = sum(t.upper() in upper_genes for t in tfs)
    if genes[:200].str.match(r"^ENS[A-Z]*G\d+").mean() > 0.5:
        cause = "gene names are Ensembl IDs; pass --gene-symbols COLUMN with the var column of symbols"
    elif case_hits >= min_tfs:
        cause = f"{case_hits} TFs match when ignoring case: the TF list is probably of another species"
    else:
        cause = "the TF list does not match these genes (wrong species or gene naming?)"
    raise GridappError(
        f"Only {coverage}; example genes: {list(genes[:3])}, example TFs: {list(tfs[:3])}.",
        f"Likely cause: {cause}.",
    )


def select_genes(
    adata: ad.AnnData,
    tfs: Sequence[str],
    *,
    n_top_genes: int = 3000,
    min_cells_fraction: float = 0.01,
) -> ad.AnnData:
    """Keep highly variable genes ∪ TFs, dropping genes detected in too few cells.

    Parameters
    ----------
    adata
        Log-normalised cells × genes.
    tfs
        TF symbols; those present are kept whatever their variance.
    n_top_genes
        Number of highly variable genes (scanpy's ``seurat`` flavour).
    min_cells_fraction
        Genes detected in fewer than this fraction of cells (and fewer than 3 cells) are dropped.

    Returns
    -------
    A copy with the chosen genes; ``var['highly_variable']`` and ``var['is_tf']`` mark why each was kept.
    """
    detected = np.asarray((adata.X > 0).sum(axis=0)).ravel() if sp.issparse(adata.X) else (adata.X > 0).sum(axis=0)
    expressed = detected >= max(3, math.ceil(min_cells_fraction * adata.n_obs))
    adata = adata[:, expressed].copy()
    is_tf = adata.var_names.isin(list(tfs))
    n_top = min(n_top_genes, adata.n_vars)
    if n_top < adata.n_vars:
        sc.pp.highly_variable_genes(adata, n_top_genes=n_top, flavor="seurat")
    else:
        adata.var["highly_variable"] = True
    adata.var["is_tf"] = is_tf
    keep = adata.var["highly_variable"].to_numpy() | is_tf
    return adata[:, keep].copy()
