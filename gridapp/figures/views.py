"""The Explore page's views as pure functions of one stored result and one view state (no Dash here).

Everything a view depends on (the result's key, the selected regulon, the edge threshold, top-N, hops,
occurrence, colouring, embedding, the lasso-selected cells, the prior scored against, the user's on/off
thresholds, the summary kind) is one :class:`ViewState`. :meth:`ViewState.validated` checks every piece
against the result it is about to describe, so no view can ever draw another result's data: a regulon
or colouring the result lacks falls back to its default, a threshold is brought into the result's range,
and a selection made on another result is dropped with a note.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from gridapp.core.aucell import thresholds_of
from gridapp.core.errors import GridappError
from gridapp.core.metrics import candidate_scores, precision_at, precision_by_threshold, score_candidates
from gridapp.core.network import annotate_edges, select_edges
from gridapp.core.priors import read_prior
from gridapp.core.summaries import with_selection
from gridapp.figures.auc import auc_distribution
from gridapp.figures.base import placeholder
from gridapp.figures.clustermap import clustermap
from gridapp.figures.embedding import embedding_scatter
from gridapp.figures.heatmap import tf_expression
from gridapp.figures.importance import importance_bins, importance_histogram, signed_bins
from gridapp.jobs.pipeline import Result

#: colour-by values that follow the selected regulon: its AUC, its on/off state
REGULON_AUC, REGULON_ON_OFF = "regulon-auc", "regulon-on-off"
#: the embeddings of the AUC matrix a result holds, by obsm key
EMBEDDINGS = {"X_umap_aucell": "UMAP", "X_tsne_aucell": "tSNE"}
#: the clustermap's kinds: (title, colour-bar title)
SUMMARY_KINDS = {"mean_auc_z": ("mean AUC z-score", "z"), "rss": ("regulon specificity (RSS)", "RSS")}
#: edges a freshly opened result shows: the strongest this many
DEFAULT_EDGES = 1000
#: the most cells a selection may name (a request naming more is refused as a whole)
MAX_SELECTED = 2_000_000
#: what each view says before there is a result to show
EMPTY = {
    "importance": "Launch a run (left) or open a cached run: the edge-importance histogram appears here.",
    "embedding": "The cells' regulon-activity embedding (UMAP / tSNE) appears here.",
    "auc": "The selected regulon's AUC distribution, with its on/off threshold, appears here.",
    "clustermap": "The cell type × regulon clustermap appears here.",
    "heatmap": "The regulons' TF expression per cell type appears here.",
}


@dataclass(frozen=True)
class ViewState:
    """Everything the Explore views depend on.

    Attributes
    ----------
    key
        The stored result shown.
    regulon
        The selected regulon (e.g. ``SPI1(+)``); it drives every view.
    log_threshold
        Edges with ``log10(importance)`` at least this are kept; ``None``: the strongest :data:`DEFAULT_EDGES`.
    top_n, hops, occurrence
        Each TF's strongest targets kept (``None``: all), the network's hops around the TF, and the share of
        runs an edge must recur in.
    colour_by, embedding
        The embedding's colouring (:data:`REGULON_AUC`, :data:`REGULON_ON_OFF`, an ``obs`` column,
        ``AUC: <regulon>`` or ``on/off: <regulon>``) and its kind (an :data:`EMBEDDINGS` key).
    selection_key, selection
        The result a lasso selection was made on, and the selected cells' positions.
    prior
        A prior network file to score against (already checked against the data roots), or ``None``.
    overrides
        The user's on/off thresholds, by regulon.
    summary_kind, dots
        The clustermap's kind (a :data:`SUMMARY_KINDS` key) and whether TF expression is a dot plot.
    """

    key: str | None = None
    regulon: str | None = None
    log_threshold: float | None = None
    top_n: int | None = None
    hops: int = 1
    occurrence: float = 0.0
    colour_by: str = REGULON_AUC
    embedding: str = "X_umap_aucell"
    selection_key: str | None = None
    selection: tuple[int, ...] = ()
    prior: str | None = None
    overrides: Mapping[str, float] = field(default_factory=dict)
    summary_kind: str = "mean_auc_z"
    dots: bool = False

    @classmethod
    def from_values(cls, values: Mapping[str, object]) -> ViewState:
        """A state from a request's values (any of them may be missing or of the wrong kind: each such value
        takes its default). ``selected`` is ``{"key": ..., "cells": [...]}``."""
        selected = values.get("selected")
        selected = selected if isinstance(selected, Mapping) else {}
        overrides = values.get("overrides")
        return cls(
            key=_text(values.get("key")),
            regulon=_text(values.get("regulon")),
            log_threshold=_number(values.get("log_threshold")),
            top_n=_whole(values.get("top_n"), low=1),
            hops=2 if _whole(values.get("hops"), low=1) == 2 else 1,
            occurrence=min(max(_number(values.get("occurrence")) or 0.0, 0.0), 1.0),
            colour_by=_text(values.get("colour_by")) or REGULON_AUC,
            embedding=_text(values.get("embedding")) or "X_umap_aucell",
            selection_key=_text(selected.get("key")),
            selection=_positions(selected.get("cells")),
            prior=_text(values.get("prior")),
            overrides={
                str(k): float(v)
                for k, v in (overrides.items() if isinstance(overrides, Mapping) else ())
                if _number(v) is not None
            },
            summary_kind=_text(values.get("summary_kind")) or "mean_auc_z",
            dots=bool(values.get("dots")),
        )

    def validated(self, result: Result) -> tuple[ViewState, list[str]]:
        """This state made to fit ``result`` (stored under :attr:`key`), with a note for each thing dropped.

        A regulon, colouring, embedding or summary kind the result lacks takes the result's default; the
        threshold is brought into the range of the result's importances; a selection made on another result,
        or naming cells the result lacks, is dropped.
        """
        adata = result.adata
        regulons = list(adata.obsm["X_aucell"].columns)
        notes = []
        selection = self.selection
        if selection and (self.selection_key != self.key or max(selection) >= adata.n_obs):
            notes.append(f"The {len(selection):,} cells selected on another run were dropped: select cells again.")
            selection = ()
        low, high, default = threshold_range(result)
        threshold = default if self.log_threshold is None else min(max(self.log_threshold, low), high)
        kinds = [k for k in EMBEDDINGS if k in adata.obsm]
        summaries = adata.uns.get("regulon_summaries", {})
        return (
            replace(
                self,
                regulon=self.regulon if self.regulon in regulons else (regulons[0] if regulons else None),
                log_threshold=threshold,
                colour_by=self.colour_by if self.colour_by in colour_values(result) else REGULON_AUC,
                embedding=self.embedding if self.embedding in kinds else (kinds[0] if kinds else self.embedding),
                selection_key=self.key if selection else None,
                selection=selection,
                overrides={r: v for r, v in self.overrides.items() if r in regulons},
                summary_kind=self.summary_kind if self.summary_kind in summaries else "mean_auc_z",
            ),
            notes,
        )

    def to_values(self) -> dict:
        """The state as plain JSON values, read back by :meth:`from_values`."""
        values = {name: getattr(self, name) for name in VALUE_NAMES}
        return {
            **values,
            "selected": {"key": self.selection_key, "cells": list(self.selection)},
            "overrides": dict(self.overrides),
        }

    @property
    def tf(self) -> str | None:
        """The selected regulon's TF."""
        return self.regulon.split("(")[0] if self.regulon else None


#: the fields :meth:`ViewState.to_values` writes as they are
VALUE_NAMES = (
    "key",
    "regulon",
    "log_threshold",
    "top_n",
    "hops",
    "occurrence",
    "colour_by",
    "embedding",
    "prior",
    "summary_kind",
    "dots",
)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _whole(value: object, *, low: int) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number >= low and number == int(number) else None


def _positions(cells: object) -> tuple[int, ...]:
    """Cell positions from a request: a list of whole numbers ≥ 0, else nothing."""
    if not isinstance(cells, list) or len(cells) > MAX_SELECTED:
        return ()
    if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in cells):
        return ()
    return tuple(sorted(set(cells)))


def threshold_range(result: Result) -> tuple[float, float, float]:
    """The slider's range in log10(importance) for ``result``: (lowest positive, highest, the default that
    keeps the strongest :data:`DEFAULT_EDGES` edges)."""
    importance = result.adjacencies["importance"].to_numpy()
    positive = importance[importance > 0]
    if not positive.size:
        return -3.0, 3.0, 0.0
    default = np.sort(positive)[::-1][min(DEFAULT_EDGES, positive.size) - 1]
    return float(np.log10(positive.min())), float(np.log10(positive.max())), float(np.log10(default))


def colour_options(result: Result) -> list[dict]:
    """The embedding's colourings: the selected regulon's AUC and on/off first, then cell annotations (2 to
    200 values), then any regulon's AUC and on/off state."""
    obs = result.adata.obs
    regulons = list(result.adata.obsm["X_aucell"].columns)
    return [
        {"label": "selected regulon's AUC", "value": REGULON_AUC},
        {"label": "selected regulon on/off", "value": REGULON_ON_OFF},
        *[{"label": c, "value": c} for c in obs.columns if 2 <= obs[c].nunique() <= 200],
        *[{"label": f"AUC: {r}", "value": f"AUC: {r}"} for r in regulons],
        *[{"label": f"on/off: {r}", "value": f"on/off: {r}"} for r in regulons],
    ]


def colour_values(result: Result) -> set[str]:
    """The colour-by values :func:`colour_options` offers."""
    return {option["value"] for option in colour_options(result)}


@dataclass(frozen=True)
class NetworkView:
    """The subnetwork shown and exported: edges (annotated with ``regulon`` and ``in_prior``), the number
    of edges above the threshold, the number the cap left out, and the focus TFs."""

    edges: pd.DataFrame
    n_above: int
    left_out: int
    focus: tuple[str, ...]


def network_view(result: Result, state: ViewState) -> NetworkView:
    """The edges around the selected TF at the state's threshold, top-N, hops and occurrence; ``in_prior``
    is membership of the state's prior when one is scored, else of the prior the run was pruned with."""
    focus = (state.tf,) if state.tf else ()
    selection = select_edges(
        result.adjacencies,
        10 ** (state.log_threshold or 0.0),
        focus=focus,
        hops=state.hops,
        top_n_per_tf=state.top_n,
        min_occurrence=state.occurrence,
    )
    edges = annotate_edges(selection.edges, result.regulon_targets, view_prior_pairs(result, state))
    return NetworkView(edges, selection.n_above_threshold, selection.n_left_out, focus)


def view_prior_pairs(result: Result, state: ViewState) -> frozenset[tuple[str, str]]:
    """The (TF, target) pairs behind ``in_prior``: the scored prior's, else the run's own prior's."""
    if state.prior:
        return prior_pairs(state.prior, ())
    params = result.summary["params"]
    return prior_pairs(params.get("prior"), tuple(params.get("prior_confidence") or ()))


@lru_cache(maxsize=8)
def prior_pairs(path: str | None, confidence: tuple[str, ...]) -> frozenset[tuple[str, str]]:
    """The (TF, target) pairs of a prior network file (none without one)."""
    if not path or not Path(path).is_file():
        return frozenset()
    prior = read_prior(path, confidence=confidence)
    return frozenset(zip(prior["TF"], prior["target"]))


@lru_cache(maxsize=8)
def importance_histogram_bins(result: Result) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Histogram of a result's importances: bin edges, counts and (signed links) repressing counts."""
    adjacencies = result.adjacencies
    if "coefficient" in adjacencies:
        return signed_bins(adjacencies["coefficient"].to_numpy())
    return (*importance_bins(adjacencies["importance"].to_numpy()), None)


@lru_cache(maxsize=8)
def prior_scoring(result: Result, prior: str) -> tuple[pd.DataFrame, dict]:
    """A result's network scored against a prior file: precision by threshold and the overall scores."""
    adjacencies = result.adjacencies
    genes = list(dict.fromkeys([*result.adata.var_names, *adjacencies["TF"], *adjacencies["target"]]))
    table = candidate_scores(adjacencies, read_prior(prior), tfs=sorted(set(adjacencies["TF"])), genes=genes)
    return precision_by_threshold(table), score_candidates(table)


@dataclass(frozen=True)
class ImportanceView:
    """The importance histogram and its notes: edges kept, network shown, and the prior's score."""

    figure: go.Figure
    kept: str
    shown: str
    prior_note: str


def importance_view(result: Result, state: ViewState, network: NetworkView) -> ImportanceView:
    """The histogram of importances with the threshold (and, with a prior, its precision curve)."""
    edges, counts, repressing = importance_histogram_bins(result)
    threshold = 10 ** (state.log_threshold or 0.0)
    precision = random_precision = None
    note = ""
    if state.prior:
        name = Path(state.prior).name
        try:
            curve, scores = prior_scoring(result, state.prior)
        except GridappError as err:
            note = f"Cannot score against {name}: {err}"
        else:
            precision, random_precision = precision_at(curve, 10**edges), scores["random_precision"]
            note = prior_note(name, scores, precision_at(curve, [threshold]).iloc[0])
    figure = importance_histogram(
        edges,
        counts,
        threshold,
        n_kept=network.n_above,
        precision=precision,
        random_precision=random_precision,
        repressing=repressing,
    )
    shown = f"{len(network.edges):,} edges shown" + (
        f"; {network.left_out:,} more left out (cap 2,000)" if network.left_out else ""
    )
    return ImportanceView(figure, f"{network.n_above:,} edges kept at importance ≥ {threshold:.3g}", shown, note)


def prior_note(name: str, scores: dict, at: pd.Series) -> str:
    """One line on how a network and its kept edges agree with a prior."""
    random = scores["random_precision"]
    kept = (
        f"kept edges: {at['true_kept']:,.0f} of {at['kept']:,.0f} known, precision {at['precision']:.3f} "
        f"({at['precision'] / random:.1f}× random), recall {at['recall']:.3f}"
        if at["kept"]
        else "no candidate pair kept at this threshold"
    )
    return (
        f"vs {name}: AUROC {scores['auroc']:.3f}, AUPRC {scores['auprc']:.4f} ({scores['auprc_ratio']:.1f}× random) "
        f"over {scores['candidates']:,.0f} TF–gene pairs ({scores['true_pairs']:,.0f} known); {kept}."
    )


def cell_colour(result: Result, state: ViewState) -> pd.Series:
    """The per-cell values behind the state's colouring (named for the colour bar / legend)."""
    adata = result.adata
    auc = adata.obsm["X_aucell"]
    choice = state.colour_by
    if choice in (REGULON_AUC, REGULON_ON_OFF) and state.regulon:
        choice = f"{'AUC' if choice == REGULON_AUC else 'on/off'}: {state.regulon}"
    if choice.startswith("AUC: "):
        return auc[choice.removeprefix("AUC: ")].rename(choice)
    if choice.startswith("on/off: "):
        regulon = choice.removeprefix("on/off: ")
        threshold = thresholds_of(adata, dict(state.overrides))[regulon]
        return (auc[regulon] > threshold).map({False: "off", True: "on"}).rename(choice)
    if choice in adata.obs:
        return adata.obs[choice].astype(str).rename(choice)
    return pd.Series("cells", index=adata.obs_names, name="cells")


def cell_views(result: Result, state: ViewState) -> tuple[go.Figure, go.Figure]:
    """The AUC embedding coloured by the state's choice, and the selected regulon's AUC distribution with
    its on/off threshold (the user's, when set); the selected cells are highlighted in both."""
    adata = result.adata
    if state.embedding not in adata.obsm:
        return placeholder(EMPTY["embedding"]), placeholder(EMPTY["auc"])
    colour = cell_colour(result, state)
    embedding = embedding_scatter(
        np.asarray(adata.obsm[state.embedding]),
        colour,
        title=f"{EMBEDDINGS.get(state.embedding, '')} · {colour.name} · {adata.n_obs:,} cells",
        selected=list(state.selection) or None,
    )
    embedding.update_layout(uirevision=state.key)  # a new result starts with a fresh zoom and no lasso
    if not state.regulon:
        return embedding, placeholder(EMPTY["auc"])
    values = adata.obsm["X_aucell"][state.regulon].to_numpy()
    threshold = thresholds_of(adata, dict(state.overrides))[state.regulon]
    return embedding, auc_distribution(values, threshold, regulon=state.regulon, selected=list(state.selection) or None)


def summary_views(result: Result, state: ViewState) -> tuple[go.Figure, go.Figure]:
    """The cell type × regulon clustermap (the selected regulon's column marked) and the TF expression
    heatmap / dot plot (its TF marked), with a row for the selected cells when there are any."""
    adata = result.adata
    summaries = adata.uns.get("regulon_summaries", {})
    if state.summary_kind not in summaries:
        reason = "This result has no cell-type column: no per-cell-type summaries."
        return placeholder(reason), placeholder(reason)
    tables = with_selection(adata, list(state.selection))
    title, colour_title = SUMMARY_KINDS[state.summary_kind]
    n_types = len(summaries["mean_auc"])
    counts = f"{adata.n_obs:,} cells · {n_types:,} cell type{'s' if n_types > 1 else ''}"
    heatmap = tf_expression(
        tables["tf_expression"],
        detected=tables.get("tf_detected"),
        dots=state.dots,
        mark=state.tf,
        title=f"TF expression · {counts}",
    )
    clusters = clustermap(
        tables[state.summary_kind], title=f"{title} · {counts}", colour_title=colour_title, mark=state.regulon
    )
    return clusters, heatmap


@dataclass(frozen=True)
class RegulonCard:
    """The selected regulon at a glance: a one-line summary and its targets (one row per target)."""

    summary: str
    targets: pd.DataFrame


def regulon_card(result: Result, state: ViewState) -> RegulonCard | None:
    """The selected regulon's size, cells on, most specific cell types (RSS) and targets: importance,
    occurrence (consensus runs), in prior, and the best motif and its NES when pruned with cisTarget."""
    if not state.regulon:
        return None
    members = result.regulon_targets[result.regulon_targets["regulon"] == state.regulon]
    adata = result.adata
    values = adata.obsm["X_aucell"][state.regulon]
    threshold = thresholds_of(adata, dict(state.overrides))[state.regulon]
    n_on = int((values > threshold).sum())
    parts = [
        f"{state.regulon}: {len(members):,} targets",
        f"on in {n_on:,} of {adata.n_obs:,} cells (AUC > {threshold:.3g})",
    ]
    rss = adata.uns.get("regulon_summaries", {}).get("rss")
    if isinstance(rss, pd.DataFrame) and state.regulon in rss and len(rss) > 1:
        top = rss[state.regulon].sort_values(ascending=False).head(3)
        parts.append("most specific in " + ", ".join(f"{t} (RSS {v:.2f})" for t, v in top.items()))
    links = result.adjacencies[result.adjacencies["TF"] == state.tf].drop_duplicates("target").set_index("target")
    pairs = view_prior_pairs(result, state)
    targets = pd.DataFrame({"gene": members["target"].to_numpy()})
    importance = links["importance"].reindex(targets["gene"]).to_numpy(float)
    targets["importance"] = np.where(np.isnan(importance), members["weight"].to_numpy(float), importance)
    if "occurrence" in links:
        targets["occurrence"] = links["occurrence"].reindex(targets["gene"]).to_numpy()
    targets["in_prior"] = [(state.tf, gene) in pairs for gene in targets["gene"]]
    motifs = motif_support(result.motifs, state.tf) if result.motifs is not None else None
    if motifs is not None:
        targets = targets.merge(motifs, how="left", left_on="gene", right_index=True)
    return RegulonCard("; ".join(parts) + ".", targets.sort_values("importance", ascending=False, ignore_index=True))


def motif_support(motifs: pd.DataFrame, tf: str | None) -> pd.DataFrame:
    """Per target gene of ``tf``, the most enriched motif that supports it and that motif's NES, from a
    pySCENIC ``motifs.csv`` table (columns flattened to their last level: ``NES``, ``TargetGenes``)."""
    if tf is None or "TargetGenes" not in motifs or "NES" not in motifs:
        return pd.DataFrame(columns=["motif", "NES"])
    rows = motifs[motifs["TF"] == tf].sort_values("NES", ascending=False)
    best: dict[str, tuple[str, float]] = {}
    for motif, nes, genes in zip(rows["MotifID"], rows["NES"], rows["TargetGenes"]):
        for gene, _weight in ast.literal_eval(genes) if isinstance(genes, str) else genes:
            best.setdefault(gene, (motif, float(nes)))
    return pd.DataFrame.from_dict(best, orient="index", columns=["motif", "NES"])


def gene_lookup(result: Result, gene: str, state: ViewState) -> tuple[str, pd.DataFrame]:
    """Where ``gene`` sits in a result: the regulons that contain it (or that it drives) and the TFs upstream
    of it (every TF → gene edge, strongest first, flagged when above the threshold, in a regulon, in prior)."""
    gene = gene.strip()
    regulons = result.regulon_targets
    containing = list(dict.fromkeys(regulons.loc[regulons["target"] == gene, "regulon"]))
    driven = list(dict.fromkeys(regulons.loc[regulons["TF"] == gene, "regulon"]))
    adjacencies = result.adjacencies
    upstream = adjacencies[adjacencies["target"] == gene]
    if not (containing or driven or len(upstream)):
        known = gene in result.adata.var_names
        return (
            f"{gene}: " + ("in the data but in no edge of this network." if known else "not in this result."),
            pd.DataFrame(),
        )
    threshold = 10 ** (state.log_threshold or 0.0)
    membership = set(zip(regulons["TF"], regulons["target"]))
    pairs = view_prior_pairs(result, state)
    table = pd.DataFrame(
        {
            "TF": upstream["TF"].to_numpy(),
            "importance": upstream["importance"].to_numpy(float),
            "kept": upstream["importance"].to_numpy(float) >= threshold,
            "in_regulon": [(tf, gene) in membership for tf in upstream["TF"]],
            "in_prior": [(tf, gene) in pairs for tf in upstream["TF"]],
        }
    ).sort_values("importance", ascending=False, ignore_index=True)
    parts = [f"{gene}: target of {len(containing)} regulon(s)" + (f" ({', '.join(containing)})" if containing else "")]
    if driven:
        parts.append(f"its own regulon: {', '.join(driven)}")
    parts.append(f"{len(table):,} TFs upstream, {int(table['kept'].sum()):,} above the threshold")
    return "; ".join(parts) + ".", table
