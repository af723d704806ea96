"""The SCENIC pipeline as named steps with progress, cancellation and per-step timing."""

from __future__ import annotations

import json
import logging
import platform
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import version
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from ctxcore.genesig import Regulon
from distributed import Client
from threadpoolctl import threadpool_limits

from gridapp import __version__
from gridapp.core import aucell, embed, export, regulons, subset, summaries
from gridapp.core.atomic import replace_folder, scratch_beside
from gridapp.core.consensus import consensus_adjacencies, consensus_regulons
from gridapp.core.enrichment import tf_enrichment
from gridapp.core.errors import Cancelled, GridappError
from gridapp.core.io import InputReport, read_dataset
from gridapp.core.methods import boosting, get_method, infer
from gridapp.core.motifs import check_gene_overlap, open_ranking_db
from gridapp.core.priors import read_prior
from gridapp.jobs.datasets import obs_table
from gridapp.jobs.params import RunParams, known_fingerprint
from gridapp.jobs.settings import PREPARE_STEPS, prepare_settings

logger = logging.getLogger(__name__)

STEPS = (*PREPARE_STEPS, "grn", "modules", "prune", "aucell", "embed", "summaries")
PACKAGES = (
    "gridapp",
    "pyscenic",
    "arboreto",
    "ctxcore",
    "scanpy",
    "anndata",
    "numpy",
    "pandas",
    "scikit-learn",
    "dask",
    "distributed",
)
Progress = Callable[[int, int, str], None]
#: held by a thread of a long-lived process (the dashboard server) while it runs the pipeline's numba kernels:
#: numba's workqueue threading layer (the fork-safe one) aborts the whole process when two threads use it at
#: once, so the server's warm-up and the form's genes-detected preview take turns
KERNELS_LOCK = threading.Lock()


@dataclass(frozen=True)
class JobLimits:
    """The largest job a server accepts (``None``: no limit); checked once the subset is known.

    Attributes
    ----------
    max_cells
        Cells after subsetting (donors, cell types, groups).
    max_genes
        Genes that inference works on, after gene selection.
    """

    max_cells: int | None = None
    max_genes: int | None = None

    def check_cells(self, adata: ad.AnnData | int) -> None:
        """Raise :class:`GridappError` when the subset ``adata`` (or a cell count) has more cells than ``max_cells``."""
        n = adata if isinstance(adata, int) else adata.n_obs
        _refuse_over(n, self.max_cells, "cells", "GRIDAPP_MAX_CELLS", "choose fewer cell types or donors")

    def check_subset(self, params: RunParams) -> None:
        """:meth:`check_cells` on ``params``' subset, counted from the file's cell annotations alone: a job over
        the limit is refused before it starts workers or loads the matrix."""
        if self.max_cells is not None:
            self.check_cells(cells_of(ad.AnnData(obs=obs_table(params.input)), params))

    def check_genes(self, adata: ad.AnnData) -> None:
        """Raise :class:`GridappError` when the selected genes of ``adata`` are more than ``max_genes``."""
        _refuse_over(adata.n_vars, self.max_genes, "genes", "GRIDAPP_MAX_GENES", "lower the number of top genes")


def _refuse_over(n: int, limit: int | None, what: str, setting: str, advice: str) -> None:
    if limit is not None and n > limit:
        raise GridappError(
            f"The subset has {n:,} {what}; this server runs jobs of at most {limit:,} {what} ({setting}).",
            f"To run it here, {advice}; or run it with the CLI (python -m gridapp run) on your own machine.",
        )


#: no limit on cells or genes (the CLI's and a single user's dashboard)
NO_LIMITS = JobLimits()


@dataclass(eq=False)
class Result:
    """A run's result: just computed (:func:`run`), read back from the cache (:meth:`ResultCache.load
    <gridapp.jobs.cache.ResultCache.load>`) or imported from a pySCENIC output folder. Equal only to itself, so
    views can memoise on it (a key's result is read once per process and shared).

    Attributes
    ----------
    adata
        The cell subset on the chosen genes, log-normalised, with ``obsm['X_aucell']``,
        ``obsm['X_umap_aucell']``, ``obsm['X_tsne_aucell']`` and ``uns['aucell']``,
        ``uns['regulon_summaries']`` (when a cell-type column was given), ``uns['enrichment']`` (a signed
        method pruned by a prior: TF, n_targets, n_reference, overlap, odds_ratio, pvalue, qvalue, kept)
        and ``uns['consensus']``
        (several runs: ``runs``, ``min_occurrence``, ``regulons`` = occurrence per regulon name).
    adjacencies
        ``TF, target, importance``, sorted by decreasing importance; with several runs, their
        consensus, with an ``occurrence`` column (fraction of runs listing the edge).
    regulons
        The regulons that AUCell scored (ctxcore objects; read back from the cache, rebuilt from
        ``regulon_targets.csv`` with the context their sign gives).
    motifs
        pySCENIC's enriched-motif table (cisTarget pruning only).
    summary
        The content of ``run.json``.
    """

    adata: ad.AnnData
    adjacencies: pd.DataFrame
    regulons: list[Regulon]
    motifs: pd.DataFrame | None = None
    summary: dict = field(default_factory=dict)

    @cached_property
    def regulon_targets(self) -> pd.DataFrame:
        """The regulons as rows ``regulon, TF, target, weight`` (the ``regulon_targets.csv`` layout)."""
        return regulons.regulons_table(self.regulons)


def run(
    params: RunParams,
    *,
    client: Client | None = None,
    cache_dir: str | Path,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    model_dir: str | Path | None = None,
    limits: JobLimits = NO_LIMITS,
) -> Result:
    """Run load → subset → genes → GRN → modules → prune → AUCell → embed → summaries.

    Parameters
    ----------
    params
        What to compute.
    client
        Dask client for GRN inference and cisTarget pruning; a local cluster when ``None``.
    cache_dir
        Where converted motif databases are kept.
    progress
        Called as ``progress(step_index, n_steps, step_name)`` before each step.
    cancelled
        Polled between steps; when it returns True, :class:`Cancelled` is raised.
    model_dir
        Where a supervised method keeps its trained model (``seed_<N>/model.pt`` + ``model.json``).
    limits
        The largest subset this run may work on (a shared server's settings); unlimited by default.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _run_steps(
            params,
            client=client,
            cache_dir=cache_dir,
            progress=progress,
            cancelled=cancelled,
            model_dir=model_dir,
            limits=limits,
        )
    result.summary["warnings"] = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))[:50]
    result.adata.uns["gridapp_run"] = json.dumps(result.summary)
    return result


@dataclass
class _Steps:
    """Announces each step of a run (cancellation, progress) and times the laps between them."""

    progress: Progress | None
    cancelled: Callable[[], bool]
    seconds: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def step(self, name: str) -> None:
        if self.cancelled():
            raise Cancelled(f"cancelled before step {name!r}")
        if self.progress:
            self.progress(STEPS.index(name), len(STEPS), name)

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(now - self.started, 2)
        self.started = now


def _run_steps(
    params: RunParams,
    *,
    client: Client | None,
    cache_dir: str | Path,
    progress: Progress | None,
    cancelled: Callable[[], bool],
    model_dir: str | Path | None = None,
    limits: JobLimits = NO_LIMITS,
) -> Result:
    notes: list[str] = []
    steps = _Steps(progress, cancelled)
    adata, coverage, report = prepare(params, notes=notes, step=steps.step, lap=steps.lap, limits=limits)
    for path in params.motif_dbs:  # fail before the long GRN step, not after it
        db = open_ranking_db(path, cache_dir=cache_dir)
        share = check_gene_overlap(db, list(adata.var_names), source=Path(path).name)
        notes.append(f"{Path(path).name}: ranks {share:.1%} of the selected genes.")
    steps.lap("genes")

    steps.step("grn")
    runs = _grn_runs(params, adata, coverage.present, client=client, steps=steps, model_dir=model_dir)
    adjacencies = runs[0] if len(runs) == 1 else consensus_adjacencies(runs, min_occurrence=params.min_occurrence)
    grn_stats = {**runs[0].attrs, "runs": len(runs)}
    steps.lap("grn")

    steps.step("modules")
    signed = get_method(params.method).signed
    found_per_run = [[] if signed else regulons.modules(adata, run_adjacencies) for run_adjacencies in runs]
    steps.lap("modules")

    steps.step("prune")
    found_regulons, motifs = _pruned(params, adata, runs, found_per_run, cache_dir=cache_dir, client=client)
    steps.lap("prune")

    steps.step("aucell")
    auc = aucell.aucell(adata, found_regulons, auc_threshold=params.auc_threshold, seed=params.seed)
    aucell.binarize(adata, seed=params.seed)
    steps.lap("aucell")

    steps.step("embed")
    embed.embed_auc(adata, seed=params.seed)
    steps.lap("embed")

    steps.step("summaries")
    tables = summaries.celltype_summaries(adata, params.cell_type_key) if params.cell_type_key else {}
    steps.lap("summaries")

    counts = {"adjacencies": len(adjacencies), "modules": len(found_per_run[0]), "regulons": len(found_regulons)}
    summary = _summary(params, adata, report, coverage, counts, grn_stats, tables, steps.seconds, notes)
    logger.info("AUC matrix: %s cells × %s regulons", *auc.shape)
    return Result(adata=adata, adjacencies=adjacencies, regulons=found_regulons, motifs=motifs, summary=summary)


def _grn_runs(
    params: RunParams,
    adata: ad.AnnData,
    tfs: list[str],
    *,
    client: Client | None,
    steps: _Steps,
    model_dir: str | Path | None,
) -> list[pd.DataFrame]:
    """The adjacencies of each of ``params.runs`` seeds; a supervised method reports its epochs and stops between
    them when cancelled, and saves each seed's model under ``model_dir``."""
    options = params.method_options()
    if "train_prior" in options:
        options["train_prior"] = read_prior(options["train_prior"])
        options["cancelled"] = steps.cancelled
        if steps.progress:
            grn, report = STEPS.index("grn"), steps.progress
            options["progress"] = lambda epoch, epochs, note: report(grn, len(STEPS), f"grn: training, {note}")
    runs = []
    for seed in range(params.seed, params.seed + params.runs):
        if steps.cancelled():
            raise Cancelled(f"cancelled during step 'grn' (before seed {seed})")
        if "train_prior" in options and model_dir is not None:
            options["save_to"] = Path(model_dir) / f"seed_{seed}"
        runs.append(infer(adata, tfs, method=params.method, seed=seed, client=client, **options))
    return runs


def _pruned(
    params: RunParams,
    adata: ad.AnnData,
    runs: list[pd.DataFrame],
    found_per_run: list[list[Regulon]],
    *,
    cache_dir: str | Path,
    client: Client | None,
) -> tuple[list[Regulon], pd.DataFrame | None]:
    """The regulons that survive pruning (with several runs, those found in ``min_occurrence`` of them) and the
    enriched motifs (cisTarget only); a signed method's per-TF enrichment goes to ``adata.uns['enrichment']``."""
    if get_method(params.method).signed:
        pruned = [_prune_signed(params, run_adjacencies, list(adata.var_names)) for run_adjacencies in runs]
        if pruned[0][1] is not None:
            adata.uns["enrichment"] = pruned[0][1]
        pruned = [(found_signed, None) for found_signed, _ in pruned]
    else:
        pruned = [_prune(params, modules, cache_dir=cache_dir, client=client) for modules in found_per_run]
    found_regulons, motifs = pruned[0]
    if len(runs) > 1:
        found_regulons, occurrence = consensus_regulons([r for r, _ in pruned], min_occurrence=params.min_occurrence)
        adata.uns["consensus"] = {"runs": len(runs), "min_occurrence": params.min_occurrence, "regulons": occurrence}
        if motifs is not None:
            motifs = pd.concat([m.assign(seed=params.seed + i) for i, (_, m) in enumerate(pruned)])
    if not found_regulons:
        raise GridappError(
            f"No regulon survived {params.prune} pruning of {len(found_per_run[0])} modules"
            + (f" in {params.min_occurrence:.0%} of {len(runs)} runs." if len(runs) > 1 else "."),
            "Try another prior or motif database, more cells, a lower --min-occurrence, "
            "or --prune none to inspect the modules.",
        )
    return found_regulons, motifs


def _summary(
    params: RunParams,
    adata: ad.AnnData,
    report: InputReport,
    coverage: subset.TFCoverage,
    counts: dict,
    grn_stats: dict,
    tables: dict,
    seconds: dict,
    notes: list[str],
) -> dict:
    """What ``run.json`` says of a run: input, settings, counts, GRN statistics, AUCell threshold, top regulons,
    seconds per step, notes, package versions."""
    return {
        "gridapp_version": __version__,
        "input": {
            "path": str(params.input),
            "sha256": known_fingerprint(params.input),
            "format": report.format,
            "gene_symbols": report.gene_symbols,
            "values": report.values,
        },
        "params": params.to_dict(),
        "counts": {
            "cells": adata.n_obs,
            "genes": adata.n_vars,
            "tfs_listed": coverage.n_listed,
            "tfs_in_data": coverage.n_present,
            **counts,
        },
        "grn": grn_stats,
        "aucell": {
            "auc_threshold": adata.uns["aucell"]["auc_threshold"],
            "auc_threshold_chosen": params.auc_threshold is None,
            "genes_detected_quantiles": {str(q): float(v) for q, v in aucell.genes_detected_quantiles(adata).items()},
        },
        "top_regulons": {name: summaries.top_regulons(tables[name]) for name in ("rss", "mean_auc_z") if tables},
        "seconds": seconds,
        "notes": notes,
        "packages": {name: _version(name) for name in PACKAGES},
        "python": platform.python_version(),
    }


def warm_up(seed: int = 0) -> None:
    """Compile (or load from numba's cache) what a job runs in its own process (the GRN engine when there is no
    worker pool, AUCell, binarisation, UMAP's kernels; the loom writer's imports), on a tiny problem, so that a
    process forked afterwards (a dashboard job) finds them ready instead of spending seconds compiling UMAP on its
    first result.

    Every native thread pool is held to one thread meanwhile (``threadpoolctl``): a fork of a process whose
    OpenMP pool has threads hangs in its first OpenMP call (scikit-learn's neighbour search). tSNE (openTSNE,
    precompiled, with threads of its own) is left out.
    """
    rng = np.random.default_rng(seed)
    genes = [f"G{i}" for i in range(40)]
    adata = ad.AnnData(sp.csr_matrix(rng.poisson(1.0, (60, 40)).astype(np.float32)), var=pd.DataFrame(index=genes))
    found = [
        Regulon(
            name=f"{tf}(+)",
            gene2weight=dict.fromkeys(genes[i : i + 10], 1.0),
            transcription_factor=tf,
            gene2occurrence=[],
        )
        for i, tf in enumerate(genes[:3])
    ]
    with KERNELS_LOCK, threadpool_limits(1):
        boosting.warm_up()  # a job with no pool runs the GRN engine in its own threads
        auc = aucell.aucell(adata, found, auc_threshold=0.25, seed=seed, n_threads=1)
        aucell.binarize(adata, seed=seed)
        embed.umap_of(auc.to_numpy(np.float32), seed=seed)
        export.loom_writer()  # imported once here, not in every job


def _prune(
    params: RunParams, found: list[Regulon], *, cache_dir: str | Path, client: Client | None
) -> tuple[list[Regulon], pd.DataFrame | None]:
    """Regulons from co-expression modules by the run's pruning mode (and cisTarget's motif table)."""
    if params.prune == "cistarget":
        return regulons.prune_cistarget(
            found, params.motif_dbs, params.motif_annotations, cache_dir=cache_dir, client=client
        )
    if params.prune == "prior":
        return regulons.prune_prior(found, read_prior(params.prior, confidence=params.prior_confidence)), None
    return regulons.unpruned(found), None


def _prune_signed(
    params: RunParams, adjacencies: pd.DataFrame, genes: list[str]
) -> tuple[list[Regulon], pd.DataFrame | None]:
    """``TF(+)``/``TF(-)`` regulons from signed links, of the TFs enriched in the prior when pruning by one."""
    if params.prune != "prior":
        return regulons.signed_regulons(adjacencies), None
    reference = read_prior(params.prior, confidence=params.prior_confidence)
    table = tf_enrichment(adjacencies, reference, universe=genes, fdr=params.fdr)
    return regulons.signed_regulons(adjacencies, tfs=table.loc[table["kept"], "TF"].tolist()), table


#: the RunParams fields :func:`prepare` reads (with the files ``input`` and ``tfs`` name): nothing else changes
#: the cells and genes a run works on
PREPARE_FIELDS = tuple(setting.name for setting in prepare_settings())


def prepare(
    params: RunParams,
    *,
    notes: list[str],
    step: Callable[[str], None] = lambda name: None,
    lap: Callable[[str], None] = lambda name: None,
    limits: JobLimits = NO_LIMITS,
) -> tuple[ad.AnnData, subset.TFCoverage, InputReport]:
    """Steps load, subset and genes: the log-normalised cells × genes that inference works on.

    Parameters
    ----------
    params
        The run's parameters.
    notes
        Receives what was decided (symbol column, normalisation, TF coverage).
    step, lap
        Called at the start of each step and when load / subset end (progress and timing).
    limits
        Checked on the subset's cells and on the selected genes.
    """
    step("load")
    tfs = subset.read_tfs(params.tfs)
    adata, report = read_dataset(params.input, gene_symbols=params.gene_symbols, tfs=tfs)
    notes.extend(report.notes)
    lap("load")

    step("subset")
    adata = cells_of(adata, params)
    limits.check_cells(adata)
    notes.append(subset.normalise(adata, report.values))
    lap("subset")

    step("genes")
    coverage = subset.tf_coverage(adata.var_names, tfs)
    adata = subset.select_genes(
        adata, coverage.present, n_top_genes=params.n_top_genes, min_cells_fraction=params.min_cells_fraction
    )
    limits.check_genes(adata)
    coverage = subset.tf_coverage(adata.var_names, tfs)
    notes.append(f"TF coverage after gene selection: {coverage}.")
    return adata, coverage, report


def cells_of(adata: ad.AnnData, params: RunParams) -> ad.AnnData:
    """The cells of ``params``' subset (donors, cell types, groups)."""
    return subset.subset_cells(
        adata,
        donor_key=params.donor_key,
        donors=params.donors,
        cell_type_key=params.cell_type_key,
        cell_types=params.cell_types,
        group_key=params.group_key,
        groups=params.groups,
    )


def _version(package: str) -> str:
    return __version__ if package == "gridapp" else version(package)


@contextmanager
def output_folder(out: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """A scratch folder that becomes ``out`` only when the block succeeds.

    A folder ``out`` that already holds files is refused unless ``overwrite``; even then it is
    replaced only after the new outputs are complete, so a run that fails or is interrupted leaves
    ``out``, and the earlier result in it, exactly as it was.

    Parameters
    ----------
    out
        The output folder.
    overwrite
        Replace a non-empty ``out``.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GridappError(f"{out}: exists and is not a folder.", "Choose another --out.")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise GridappError(
            f"{out}: the output folder already holds files.",
            "Choose an empty or new folder, or add --overwrite to replace its content.",
        )
    with ExitStack() as stack:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            scratch = stack.enter_context(scratch_beside(out, folder=True))
        except OSError as err:
            raise GridappError(
                f"{out}: cannot create the output folder ({err.strerror or err}).",
                f"Choose an --out whose parent folder ({out.parent}) you can write to.",
            ) from err
        yield scratch
        replace_folder(out, scratch)


def write_outputs(result: Result, out: Path, *, cell_type_key: str | None) -> list[Path]:
    """Write every output file of a run into ``out`` and return their paths.

    ``adjacencies.csv``, ``regulon_targets.csv``, ``regulons.gmt`` and ``regulons.yaml`` (see
    :func:`gridapp.core.export.write_regulons`), ``auc.csv``, ``auc_binary.csv``, ``motifs.csv`` (cisTarget: the
    enriched-motif table as ``pyscenic ctx`` writes it, two header rows), ``celltype_<table>.csv`` (with a
    cell-type column), ``regulon_occurrence.csv`` (several runs), ``enrichment.csv`` (a signed method pruned by a
    prior: the per-TF Fisher test), ``result.h5ad``, ``result.loom`` and ``run.json`` (written last: its presence
    marks a complete output). pySCENIC's ``load_signatures`` reads ``regulons.yaml``, ``regulons.gmt`` and
    ``motifs.csv``; its ``aucell`` on ``result.loom`` with ``regulons.yaml`` gives ``auc.csv``.
    """
    started = time.perf_counter()
    result.adjacencies.to_csv(out / "adjacencies.csv", index=False)
    export.write_regulons(result.regulons, out)
    result.adata.obsm["X_aucell"].to_csv(out / "auc.csv", index_label="cell")
    result.adata.obsm["X_aucell_binary"].to_csv(out / "auc_binary.csv", index_label="cell")
    if result.motifs is not None:
        result.motifs.to_csv(out / "motifs.csv")
    if isinstance(result.adata.uns.get("enrichment"), pd.DataFrame):
        result.adata.uns["enrichment"].to_csv(out / "enrichment.csv", index=False)
    if "consensus" in result.adata.uns:
        result.adata.uns["consensus"]["regulons"].to_csv(out / "regulon_occurrence.csv", index=False)
    for name, table in result.adata.uns.get("regulon_summaries", {}).items():
        if isinstance(table, pd.DataFrame):
            table.to_csv(out / f"celltype_{name}.csv")
    result.adata.write_h5ad(out / "result.h5ad")
    if result.adata.n_vars:  # a SCope loom needs expression (imported AUC tables have none)
        export.write_loom(result.adata, result.regulons, out / "result.loom", cell_type_key=cell_type_key)
    result.summary["seconds"]["write"] = round(time.perf_counter() - started, 2)
    (out / "run.json").write_text(json.dumps(result.summary, indent=2), encoding="utf-8")
    return sorted(out.iterdir())
