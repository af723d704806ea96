"""Compare regulons between groups of cells and between runs: differential activity, rewiring, reproducibility.

Differential activity treats donors as the unit of replication (pseudo-bulk: one mean AUC per donor and
group), as muscat and decoupler advise for multi-donor single-cell data; it falls back to a cell-level
test only when a group has fewer than two donors, and says so in the ``test`` column. With the two or
three donors per group typical of such studies, a per-regulon t-test has one to four degrees of
freedom; the default therefore moderates each regulon's variance towards the common one, by the
empirical Bayes method of limma (Smyth 2004, *Stat Appl Genet Mol Biol* 3:3), over the regulons of a
cell type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import anndata as ad
import numpy as np
import pandas as pd
from scipy import special, stats

from gridapp.core.errors import GridappError
from gridapp.core.network import edges_above
from gridapp.core.subset import obs_column

#: columns of ``differential.csv``
DIFFERENTIAL_COLUMNS = (
    "cell_type",
    "regulon",
    "group_a",
    "group_b",
    "mean_a",
    "mean_b",
    "delta",
    "log2fc",
    "statistic",
    "pvalue",
    "qvalue",
    "n_donors_a",
    "n_donors_b",
    "test",
)
#: added to both means before the log2 fold change (AUC values lie in [0, 1])
PSEUDOCOUNT = 1e-3
#: a donor enters a cell type's pseudo-bulk test with at least this many cells of it in a group
MIN_CELLS_PER_DONOR = 10
PAIRED = "paired t-test on donor means"
UNPAIRED = "t-test on donor means"
MODERATED = "moderated (limma-style) "
CELLS = "Mann-Whitney U on cells (fewer than 2 donors per group: cells are not independent replicates)"
ALL_CELLS = "all cells"


def differential_activity(
    adata: ad.AnnData,
    *,
    group_key: str,
    groups: tuple[str, str],
    cell_type_key: str | None = None,
    donor_key: str | None = None,
    min_cells_per_donor: int = MIN_CELLS_PER_DONOR,
    moderated: bool = True,
    auc_key: str = "X_aucell",
) -> pd.DataFrame:
    """Regulon activity of group ``b`` against group ``a``, per cell type.

    Parameters
    ----------
    adata
        Cells with regulon activity in ``obsm[auc_key]`` (cells × regulons, as :func:`gridapp.core.aucell.aucell`
        stores it).
    group_key, groups
        ``obs`` column of the condition and the two values compared (``delta = mean_b - mean_a``).
    cell_type_key
        ``obs`` column of cell types; one comparison per type (all cells together when ``None``).
    donor_key
        ``obs`` column of donors (or samples). With at least two donors per group that have
        ``min_cells_per_donor`` cells of a type, the test is a t-test on per-donor mean AUCs, paired when
        at least two donors appear in both groups, with pooled variance otherwise; without, a Mann–Whitney U
        test on cells.
    min_cells_per_donor
        Cells a donor needs in a group and cell type to enter the pseudo-bulk.
    moderated
        Moderate the donor-level t-tests' variances across the regulons of a cell type (limma's empirical
        Bayes); ``False`` gives scipy's ``ttest_rel`` / ``ttest_ind``.
    auc_key
        ``obsm`` key of the AUC matrix.

    Returns
    -------
    One row per cell type and regulon with :data:`DIFFERENTIAL_COLUMNS`; ``qvalue`` is the
    Benjamini–Hochberg adjustment within a cell type. ``mean_a``/``mean_b`` are means of donor means for
    the pseudo-bulk tests and of cells otherwise. A regulon with no variation gets ``pvalue`` 1.
    """
    auc = _auc_frame(adata, auc_key)
    group = obs_column(adata, group_key)
    missing = [g for g in groups if g not in set(group)]
    if missing:
        raise GridappError(
            f"obs[{group_key!r}] has no value {', '.join(map(repr, missing))}.",
            f"Values there: {sorted(set(group))[:30]}.",
        )
    cell_type = obs_column(adata, cell_type_key) if cell_type_key else pd.Series(ALL_CELLS, index=adata.obs_names)
    donor = obs_column(adata, donor_key) if donor_key else None
    tables = []
    for name in sorted(cell_type.unique()):
        in_type = (cell_type == name).to_numpy()
        sides = [in_type & (group == g).to_numpy() for g in groups]
        if min(side.sum() for side in sides) < 3:
            continue
        donors = None if donor is None else [donor[side] for side in sides]
        table = _compare_cells(auc[sides[0]], auc[sides[1]], donors, min_cells_per_donor, moderated)
        tables.append(table.assign(cell_type=name, group_a=groups[0], group_b=groups[1]))
    if not tables:
        raise GridappError(
            f"No cell type has 3 or more cells in both {groups[0]!r} and {groups[1]!r} of obs[{group_key!r}].",
            "Choose groups that share cell types.",
        )
    return pd.concat(tables, ignore_index=True)[list(DIFFERENTIAL_COLUMNS)]


def _auc_frame(adata: ad.AnnData, auc_key: str) -> pd.DataFrame:
    if auc_key not in adata.obsm:
        raise GridappError(f"No regulon activity in obsm[{auc_key!r}].", "Run AUCell first (python -m gridapp run).")
    auc = adata.obsm[auc_key]
    return auc if isinstance(auc, pd.DataFrame) else pd.DataFrame(auc, index=adata.obs_names)


def _compare_cells(
    auc_a: pd.DataFrame,
    auc_b: pd.DataFrame,
    donors: Sequence[pd.Series] | None,
    min_cells_per_donor: int,
    moderated: bool,
) -> pd.DataFrame:
    """Means, the test statistic and p of one cell type's two groups (cells × regulons each)."""
    bulks = None if donors is None else [pseudobulk(a, d, min_cells_per_donor) for a, d in zip((auc_a, auc_b), donors)]
    if bulks is not None and min(len(b) for b in bulks) >= 2:
        paired = bulks[0].index.intersection(bulks[1].index)
        if len(paired) >= 2:
            bulks = [b.loc[paired] for b in bulks]
        statistic, pvalue = donor_t_test(*bulks, paired=len(paired) >= 2, moderated=moderated)
        test = (MODERATED if moderated else "") + (PAIRED if len(paired) >= 2 else UNPAIRED)
        mean_a, mean_b = (b.mean(axis=0).to_numpy() for b in bulks)
        n_donors = [len(b) for b in bulks]
    else:
        statistic, pvalue = stats.mannwhitneyu(auc_b, auc_a, axis=0, alternative="two-sided")
        mean_a, mean_b = auc_a.mean(axis=0).to_numpy(), auc_b.mean(axis=0).to_numpy()
        n_donors = [0, 0] if bulks is None else [len(b) for b in bulks]
        test = CELLS
    pvalue = np.where(np.isnan(pvalue), 1.0, pvalue)
    return pd.DataFrame(
        {
            "regulon": auc_a.columns,
            "mean_a": mean_a,
            "mean_b": mean_b,
            "delta": mean_b - mean_a,
            "log2fc": np.log2((mean_b + PSEUDOCOUNT) / (mean_a + PSEUDOCOUNT)),
            "statistic": statistic,
            "pvalue": pvalue,
            "qvalue": stats.false_discovery_control(pvalue, method="bh"),
            "n_donors_a": n_donors[0],
            "n_donors_b": n_donors[1],
            "test": test,
        }
    )


def donor_t_test(
    bulk_a: pd.DataFrame, bulk_b: pd.DataFrame, *, paired: bool, moderated: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """t statistics and two-sided p of ``b - a`` per regulon from donor means (donors × regulons each).

    ``paired``: rows are the same donors in the same order (a t-test on their differences); otherwise a
    two-sample t-test with pooled variance. ``moderated`` replaces each regulon's variance by its limma
    posterior (see :func:`moderate_variances`) and adds the prior's degrees of freedom.
    """
    if paired:
        differences = (bulk_b - bulk_a).to_numpy(float)
        effect, variance = differences.mean(axis=0), differences.var(axis=0, ddof=1)
        df, scale = len(differences) - 1, 1 / len(differences)
    else:
        a, b = bulk_a.to_numpy(float), bulk_b.to_numpy(float)
        effect = b.mean(axis=0) - a.mean(axis=0)
        df = len(a) + len(b) - 2
        variance = (a.var(axis=0, ddof=1) * (len(a) - 1) + b.var(axis=0, ddof=1) * (len(b) - 1)) / df
        scale = 1 / len(a) + 1 / len(b)
    prior_df = 0.0
    if moderated:
        variance, prior_df = moderate_variances(variance, df)
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = effect / np.sqrt(variance * scale)
    return statistic, 2 * stats.t.sf(np.abs(statistic), df + prior_df)


def moderate_variances(variances: np.ndarray, df: float) -> tuple[np.ndarray, float]:
    """limma's posterior variances: each sample variance shrunk towards a prior fitted to all of them.

    The prior is a scaled inverse chi-square with ``d0`` degrees of freedom and scale ``s0²``, fitted by
    moments of the log variances (Smyth 2004); the posterior is ``(d0 s0² + df s²) / (d0 + df)``.
    Returns the posteriors and ``d0`` (``inf`` when the variances vary no more than sampling explains,
    0 when fewer than three are positive: no moderation).
    """
    positive = variances[np.isfinite(variances) & (variances > 0)]
    if len(positive) < 3:
        return variances, 0.0
    e = np.log(positive) - special.digamma(df / 2) + np.log(df / 2)
    excess = e.var(ddof=1) - special.polygamma(1, df / 2)
    if excess <= 0:
        return np.full_like(variances, np.exp(e.mean())), np.inf
    d0 = 2 * trigamma_inverse(excess)
    s0_squared = np.exp(e.mean() + special.digamma(d0 / 2) - np.log(d0 / 2))
    return (d0 * s0_squared + df * variances) / (d0 + df), float(d0)


def trigamma_inverse(x: float) -> float:
    """The ``y`` with ``trigamma(y) = x`` (Newton's method on ``1 / trigamma``, as limma solves it)."""
    if x > 1e7:
        return 1 / np.sqrt(x)
    if x < 1e-6:
        return 1 / x
    y = 0.5 + 1 / x
    for _ in range(50):
        trigamma = special.polygamma(1, y)
        step = trigamma * (1 - trigamma / x) / special.polygamma(2, y)
        y += step
        if -step / y < 1e-8:
            break
    return float(y)


def pseudobulk(auc: pd.DataFrame, donor: pd.Series, min_cells: int = MIN_CELLS_PER_DONOR) -> pd.DataFrame:
    """Mean AUC per donor (donors × regulons), over the donors with at least ``min_cells`` cells."""
    counts = donor.value_counts()
    kept = counts.index[counts >= min_cells]
    means = auc.groupby(donor.to_numpy()).mean()
    return means.loc[means.index.isin(kept)]


@dataclass(frozen=True)
class Rewiring:
    """How the network of run b differs from that of run a at a threshold.

    Attributes
    ----------
    edges
        ``TF, target, importance_a, importance_b, status`` with status ``kept``, ``gained`` (b only) or
        ``lost`` (a only), strongest first.
    tfs
        Per TF: ``targets_a, targets_b, kept, gained, lost, jaccard`` (of its two target sets).
    regulons
        Per regulon name: ``in_a, in_b, targets_a, targets_b, jaccard, present`` (``both``, ``a only``,
        ``b only``).
    """

    edges: pd.DataFrame
    tfs: pd.DataFrame
    regulons: pd.DataFrame


def rewiring(
    adjacencies_a: pd.DataFrame,
    adjacencies_b: pd.DataFrame,
    *,
    threshold: float | None = None,
    top_edges: int | None = None,
    regulons_a: pd.DataFrame | None = None,
    regulons_b: pd.DataFrame | None = None,
) -> Rewiring:
    """Edges gained, lost and kept between two runs, per-TF target overlap and regulons of one run only.

    Parameters
    ----------
    adjacencies_a, adjacencies_b
        ``TF, target, importance`` of the two runs, sorted by decreasing importance.
    threshold, top_edges
        Keep edges with ``importance >= threshold``, or each run's ``top_edges`` strongest edges (the scales
        of two runs' importances differ with their cell numbers, so equal counts compare more fairly).
    regulons_a, regulons_b
        The runs' regulon tables (``regulon, TF, target``) for the regulon comparison.
    """
    if (threshold is None) == (top_edges is None):
        raise GridappError("Give one of an importance threshold or a number of top edges to compare runs at.")
    kept = [
        edges_above(adj, threshold) if threshold is not None else adj.head(top_edges)
        for adj in (adjacencies_a, adjacencies_b)
    ]
    edges = pd.merge(
        kept[0][["TF", "target", "importance"]],
        kept[1][["TF", "target", "importance"]],
        on=["TF", "target"],
        how="outer",
        suffixes=("_a", "_b"),
    )
    edges["status"] = np.select(
        [edges["importance_a"].notna() & edges["importance_b"].notna(), edges["importance_b"].notna()],
        ["kept", "gained"],
        "lost",
    )
    edges = edges.sort_values(by=["importance_b", "importance_a"], ascending=False, na_position="last")
    regulons = (
        regulon_overlap(regulons_a, regulons_b)
        if regulons_a is not None and regulons_b is not None
        else pd.DataFrame(columns=["regulon", "in_a", "in_b", "targets_a", "targets_b", "jaccard", "present"])
    )
    return Rewiring(edges=edges.reset_index(drop=True), tfs=_tf_rewiring(edges), regulons=regulons)


def _tf_rewiring(edges: pd.DataFrame) -> pd.DataFrame:
    counts = pd.crosstab(edges["TF"], edges["status"]).reindex(columns=["kept", "gained", "lost"], fill_value=0)
    table = counts.assign(targets_a=counts["kept"] + counts["lost"], targets_b=counts["kept"] + counts["gained"])
    table["jaccard"] = table["kept"] / table[["kept", "gained", "lost"]].sum(axis=1)
    table = table.reset_index()[["TF", "targets_a", "targets_b", "kept", "gained", "lost", "jaccard"]]
    return table.sort_values(["jaccard", "TF"]).reset_index(drop=True)


def regulon_overlap(regulons_a: pd.DataFrame, regulons_b: pd.DataFrame) -> pd.DataFrame:
    """Per regulon name of either table: whether each run has it, its target counts and their Jaccard index."""
    targets = [_target_sets(table) for table in (regulons_a, regulons_b)]
    names = sorted(set(targets[0]) | set(targets[1]))
    rows = []
    for name in names:
        a, b = (t.get(name, frozenset()) for t in targets)
        rows.append(
            {
                "regulon": name,
                "in_a": name in targets[0],
                "in_b": name in targets[1],
                "targets_a": len(a),
                "targets_b": len(b),
                "jaccard": _jaccard(a, b),
                "present": "both" if a and b else ("a only" if a else "b only"),
            }
        )
    return pd.DataFrame(rows, columns=["regulon", "in_a", "in_b", "targets_a", "targets_b", "jaccard", "present"])


def reproducibility(regulons_by_run: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """How reproducibly runs on separate donors recover each regulon.

    Parameters
    ----------
    regulons_by_run
        Donor → its run's regulon table (``regulon, TF, target``).

    Returns
    -------
    Per regulon: ``found_in`` (donors recovering it), ``n_donors``, ``fraction``, ``mean_jaccard`` (mean
    pairwise Jaccard index of its target sets over the donors recovering it; NaN with one), ``donors``
    (``;``-separated) and ``single_donor`` (seen in one donor only), most reproducible first.
    """
    targets = {donor: _target_sets(table) for donor, table in regulons_by_run.items()}
    names = sorted({name for found in targets.values() for name in found})
    rows = []
    for name in names:
        donors = [donor for donor, found in targets.items() if name in found]
        pairs = [_jaccard(targets[a][name], targets[b][name]) for a, b in combinations(donors, 2)]
        rows.append(
            {
                "regulon": name,
                "found_in": len(donors),
                "n_donors": len(targets),
                "fraction": len(donors) / len(targets),
                "mean_jaccard": float(np.mean(pairs)) if pairs else np.nan,
                "donors": ";".join(donors),
                "single_donor": len(donors) == 1,
            }
        )
    table = pd.DataFrame(
        rows, columns=["regulon", "found_in", "n_donors", "fraction", "mean_jaccard", "donors", "single_donor"]
    )
    return table.sort_values(["fraction", "mean_jaccard", "regulon"], ascending=[False, False, True]).reset_index(
        drop=True
    )


def _target_sets(table: pd.DataFrame) -> dict[str, frozenset[str]]:
    return {name: frozenset(group["target"]) for name, group in table.groupby("regulon", sort=False)}


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else np.nan
