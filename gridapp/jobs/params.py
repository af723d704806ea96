"""RunParams: the one object that flows from the CLI or UI to the pipeline, the cache key and run.json."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from gridapp import __version__
from gridapp.core.errors import GridappError
from gridapp.core.methods import get_method
from gridapp.core.methods.registry import DEFAULT_METHOD

PRUNE_MODES = ("cistarget", "prior", "none")
#: where a server caches its results unless told otherwise (``--cache-dir``, ``GRIDAPP_CACHE_DIR``)
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "gridapp"
#: the BEELINE folder a benchmark reads (``GRIDAPP_BEELINE``, else beside the checkout in ``shared/data``)
DEFAULT_ROOT = Path(os.environ.get("GRIDAPP_BEELINE", Path(__file__).resolve().parents[3] / "shared/data/beeline"))
#: how a benchmark splits the candidate pairs it scores
SPLITS = ("full", "test", "tf-aware")
#: a comparison without a threshold compares each group's strongest edges
DEFAULT_TOP_EDGES = 5000
DATA_DIR = Path(__file__).resolve().parents[2] / "data"
DEMO_DIR = DATA_DIR / "demo"
#: shipped TF lists (data/README.md), usable by name wherever a TF list file is asked for
TF_LISTS = {"human": DATA_DIR / "tfs" / "allTFs_hg38.txt", "mouse": DATA_DIR / "tfs" / "allTFs_mm.txt"}


@dataclass(frozen=True)
class RunParams:
    """Everything that determines a pipeline result (and nothing about where it runs).

    Attributes
    ----------
    input
        Expression file (h5ad, loom, 10x, CSV/TSV).
    tfs
        TF list, one symbol per line.
    gene_symbols
        ``var`` column of gene symbols (auto-detected when ``None``).
    donor_key, donors, cell_type_key, cell_types, group_key, groups
        The cell subset (all cells when empty): donors, cell types and another grouping (a condition).
    n_top_genes, min_cells_fraction
        Gene set: highly variable genes ∪ TFs, detected in at least this fraction of cells.
    method, seed
        GRN inference method id (see :data:`gridapp.core.methods.METHODS`) and its seed.
    target_layer, tf_layer
        Layers a method with these options (``lasso``) regresses (new / unspliced RNA) and regresses on
        (total / spliced); ``X`` when ``None``.
    train_prior
        Link table a supervised method (``deepdrim``, ``scgreat``) learns from: its pairs present in the
        data are the positives, same-TF non-links the negatives.
    runs, min_occurrence
        Inference runs (seeds ``seed .. seed + runs - 1``) and the fraction of them an edge or a
        regulon must occur in to enter the consensus (``runs > 1``).
    prune
        ``cistarget``, ``prior`` or ``none``.
    motif_dbs, motif_annotations
        cisTarget ranking databases and motif annotations (``prune="cistarget"``).
    prior, prior_confidence
        Prior network file and DoRothEA confidence levels to keep (``prune="prior"``). A signed method
        (``lasso``) uses the prior as sci-fate uses ChIP-seq targets: a TF is kept when its targets are
        enriched in the prior's (Fisher's exact test, Benjamini–Hochberg below ``fdr``).
    auc_threshold
        AUCell ranking cut-off; chosen from the data when ``None``.
    """

    input: str
    tfs: str
    gene_symbols: str | None = None
    donor_key: str | None = None
    donors: tuple[str, ...] = ()
    cell_type_key: str | None = None
    cell_types: tuple[str, ...] = ()
    group_key: str | None = None
    groups: tuple[str, ...] = ()
    n_top_genes: int = 3000
    min_cells_fraction: float = 0.01
    method: str = DEFAULT_METHOD
    seed: int = 0
    target_layer: str | None = None
    tf_layer: str | None = None
    train_prior: str | None = None
    runs: int = 1
    min_occurrence: float = 0.8
    prune: str = "none"
    motif_dbs: tuple[str, ...] = ()
    motif_annotations: str | None = None
    prior: str | None = None
    prior_confidence: tuple[str, ...] = field(default=())
    fdr: float = 0.05
    auc_threshold: float | None = None

    def __post_init__(self) -> None:
        if self.prune not in PRUNE_MODES:
            raise GridappError(f"Unknown pruning mode {self.prune!r}.", f"Choose one of {PRUNE_MODES}.")
        if self.prune == "cistarget" and not (self.motif_dbs and self.motif_annotations):
            raise GridappError(
                "cisTarget pruning needs ranking databases and motif annotations.",
                "Give --motif-db FILE [FILE ...] and --motif-annotations FILE.",
            )
        if self.prune == "prior" and not self.prior:
            raise GridappError("Prior pruning needs a prior network.", "Give --prior FILE.")
        if self.runs < 1 or not 0 < self.min_occurrence <= 1:
            raise GridappError(
                f"--runs must be ≥ 1 and --min-occurrence in (0, 1], got {self.runs} and {self.min_occurrence}.",
                "Give --runs 1 for a single run, or more with a --min-occurrence share such as 0.8.",
            )
        method = get_method(self.method)
        layers = [name for name in ("target_layer", "tf_layer") if getattr(self, name)]
        if set(layers) - set(method.options):
            raise GridappError(
                f"--{layers[0].replace('_', '-')} applies to methods that regress layers, not {self.method!r}.",
                "Use --method lasso, or leave the layer options out.",
            )
        if method.supervised and not self.train_prior:
            raise GridappError(
                f"{self.method!r} learns from known links and needs a training prior.",
                "Give --train-prior FILE (DoRothEA, CollecTRI, TRRUST or a ChIP-seq link table).",
            )
        if self.train_prior and "train_prior" not in method.options:
            raise GridappError(
                f"--train-prior applies to supervised methods, not {self.method!r}.",
                "Use --method deepdrim or scgreat, or leave --train-prior out.",
            )
        if method.signed and self.prune == "cistarget":
            raise GridappError(
                f"{self.method!r} gives signed links, not co-expression modules for cisTarget.",
                "Use --prior FILE (enrichment filter) or --no-prune.",
            )
        if self.n_top_genes < 1:
            raise GridappError(
                f"--n-top-genes must be positive, got {self.n_top_genes}.",
                "Give the number of highly variable genes to keep besides the TFs, or leave it out for the default.",
            )
        if self.auc_threshold is not None and not 0 < self.auc_threshold <= 1:
            raise GridappError(
                f"--auc-threshold must be in (0, 1], got {self.auc_threshold}.",
                "It is the share of each cell's top-ranked genes AUCell scores (e.g. 0.05); "
                "leave it out to choose it from the data.",
            )

    @classmethod
    def demo(cls, **overrides: object) -> RunParams:
        """The embedded default: one Kang 2018 PBMC donor, pruned with its DoRothEA A–C prior."""
        defaults = {
            "input": str(DEMO_DIR / "kang2018_donor1016.h5ad"),
            "tfs": str(DEMO_DIR / "tfs_hg38_in_kang.txt"),
            "cell_type_key": "cluster_id",
            "donor_key": "sample_id",
            "prune": "prior",
        }
        if overrides.get("prune", "prior") == "prior":
            defaults["prior"] = str(DEMO_DIR / "dorothea_ABC_kang.tsv")
        return cls(**{**defaults, **overrides})

    def method_options(self) -> dict:
        """The run options the chosen method takes (those that are set)."""
        return {name: getattr(self, name) for name in get_method(self.method).options if getattr(self, name)}

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (tuples as lists)."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, values: dict) -> RunParams:
        """Parameters from :meth:`to_dict`'s layout (lists back to tuples)."""
        return cls(**{name: tuple(v) if isinstance(v, list) else v for name, v in values.items()})

    def differences(self, stored: dict) -> list[str]:
        """How these parameters differ from a stored result's (its ``params.json``), one
        ``"<field>: <here> here, <there> in the result"`` per field, in the dashboard's words; empty when they
        match or when ``stored`` is not a gridapp run's (an imported pySCENIC output)."""
        mine = self.to_dict()
        if set(stored) != set(mine):
            return []
        if not mine["donors"] and not stored["donors"]:
            stored = {**stored, "donor_key": mine["donor_key"]}  # no donor chosen: the column does not matter
        return [
            f"{FIELD_WORDS.get(name, name)}: {_shown(value)} here, {_shown(stored[name])} in the result"
            for name, value in mine.items()
            if value != stored[name]
        ]

    def with_changes(self, **changes: object) -> RunParams:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def cache_key(self, fingerprint: str) -> str:
        """Content address of the result: input fingerprint + parameters + code version.

        File paths are replaced by the fingerprint of their content, so moving a file keeps the key.
        """
        params = self.to_dict()
        for name in ("tfs", "prior", "motif_annotations"):
            if params[name]:
                params[name] = file_fingerprint(params[name])
        params["motif_dbs"] = [file_fingerprint(path) for path in params["motif_dbs"]]
        params["input"] = fingerprint
        return content_key({"params": params, "version": __version__})


def content_key(payload: dict) -> str:
    """The one content-address recipe of stored results: the SHA-256 of ``payload`` as sorted JSON (values JSON
    lacks as their text), first 32 hex digits."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


def file_fingerprint(path: str | Path) -> str:
    """SHA-256 of a file's bytes (of every file, in name order, for a folder)."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode())
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


#: RunParams fields in the dashboard's words
FIELD_WORDS = {
    "input": "dataset",
    "tfs": "TF list",
    "donor_key": "donor column",
    "cell_type_key": "cell-type column",
    "cell_types": "cell types",
    "n_top_genes": "top genes",
    "runs": "runs",
    "min_occurrence": "min occurrence",
    "prune": "pruning",
    "prior": "prior network",
    "prior_confidence": "DoRothEA confidence",
    "motif_dbs": "ranking databases",
    "motif_annotations": "motif annotations",
    "auc_threshold": "AUC threshold",
    "target_layer": "target layer",
    "tf_layer": "TF layer",
    "train_prior": "training prior",
    "fdr": "enrichment FDR",
}


def _shown(value: object) -> str:
    """A parameter's value as a user reads it: file names without folders, lists joined, none as 'none'."""
    if value is None or value == []:
        return "none"
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    return Path(value).name if isinstance(value, str) and "/" in value else str(value)
