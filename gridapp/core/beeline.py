"""Read the BEELINE benchmark (Pratapa et al. 2020) as GENELink redistributes it (see ../shared/data/README.md).

A set is named ``<cell>-<500|1000>-<network>``, e.g. ``mDC-500-Specific``: the cell type's expression
of its significant TFs and top 500 or 1000 variable genes, scored against one ground-truth network
(cell-type-specific ChIP-seq, non-specific ChIP-seq, STRING, or loss/gain-of-function for mESC).
Every network folder of a cell type and size lists the same genes in its own order (``Target.csv``);
its labels and train/test splits index into that order. The expression matrix (genes × cells,
log-normalised) ships in only some folders and serves them all.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import anndata as ad
import pandas as pd

from gridapp.core.errors import GridappError

CELLS = ("hESC", "hHEP", "mDC", "mESC", "mHSC-E", "mHSC-GM", "mHSC-L")
SIZES = ("500", "1000")
NETWORKS = ("Specific", "Non-Specific", "STRING", "Lofgof")
EXPRESSION = "BL--ExpressionData.csv.gz"
PARTS = ("Train", "Validation", "Test")


def parse_id(dataset_id: str) -> tuple[str, str, str]:
    """``(cell, size, network)`` of a set id such as ``mHSC-GM-500-Non-Specific``."""
    for cell in sorted(CELLS, key=len, reverse=True):
        if dataset_id.startswith(cell + "-"):
            size, _, network = dataset_id[len(cell) + 1 :].partition("-")
            if size in SIZES and network in NETWORKS:
                return cell, size, network
    raise GridappError(
        f"Unknown BEELINE set {dataset_id!r}.",
        f"Use <cell>-<500|1000>-<network> with cell in {', '.join(CELLS)} and network in {', '.join(NETWORKS)}, "
        "e.g. mDC-500-Specific, or 'all'.",
    )


def _folder(root: Path, cell: str, size: str, network: str) -> Path:
    return Path(root) / "networks" / f"{network} Dataset" / cell / f"TFs+{size}"


def expression_path(root: str | Path, dataset_id: str) -> Path | None:
    """The expression file serving ``dataset_id`` (from any network folder of its cell type and size), if any."""
    cell, size, _ = parse_id(dataset_id)
    for network in NETWORKS:
        path = _folder(Path(root), cell, size, network) / EXPRESSION
        if path.is_file():
            return path
    return None


def dataset_ids(root: str | Path, *, available: bool = True) -> list[str]:
    """Every set with a ground truth under ``root`` (only those with expression when ``available``)."""
    ids = [
        f"{cell}-{size}-{network}"
        for cell in CELLS
        for size in SIZES
        for network in NETWORKS
        if (_folder(Path(root), cell, size, network) / "BL--network.csv.gz").is_file()
    ]
    return [i for i in ids if expression_path(root, i)] if available else ids


def require_expression(root: str | Path, dataset_id: str) -> Path:
    """:func:`expression_path`, or an error naming the sets that have expression."""
    path = expression_path(root, dataset_id)
    if path is None:
        cell, size, _ = parse_id(dataset_id)
        raise GridappError(
            f"{dataset_id}: no expression matrix for {cell} TFs+{size} under {root}.",
            f"Download it from BEELINE (Zenodo 3701939) or choose one of: {', '.join(dataset_ids(root))}.",
        )
    return path


def n_cells(root: str | Path, dataset_id: str) -> int:
    """The cells of a set's expression matrix (genes × cells), from its header line alone."""
    with gzip.open(require_expression(root, dataset_id), "rt") as handle:
        return len(handle.readline().rstrip("\n").split(",")) - 1


def resolve_ids(root: str | Path, spec: str) -> list[str]:
    """Set ids from a comma-separated list, where ``all`` stands for every set with expression; each is checked."""
    ids: list[str] = []
    for item in (part.strip() for part in spec.split(",") if part.strip()):
        ids.extend(dataset_ids(root) if item == "all" else [item])
    if not ids:
        raise GridappError(f"No BEELINE set with expression under {root}.", "See ../shared/data/README.md.")
    for dataset_id in ids:
        require_expression(root, dataset_id)
    return list(dict.fromkeys(ids))


def _genes(folder: Path) -> list[str]:
    return pd.read_csv(folder / "Target.csv.gz", index_col=0)["Gene"].astype(str).tolist()


def read_beeline(root: str | Path, dataset_id: str) -> tuple[ad.AnnData, list[str], pd.DataFrame]:
    """Cells × genes expression in the set's own gene order, its TFs and its ground truth.

    Returns
    -------
    ``(adata, tfs, truth)``; ``truth`` has columns ``TF, target``.
    """
    cell, size, network = parse_id(dataset_id)
    folder = _folder(Path(root), cell, size, network)
    if not (folder / "BL--network.csv.gz").is_file():
        raise GridappError(f"{dataset_id}: no ground truth in {folder}.", "See ../shared/data/README.md.")
    expression = pd.read_csv(require_expression(root, dataset_id), index_col=0)
    genes = _genes(folder)
    missing = [g for g in genes if g not in expression.index]
    if missing:
        raise GridappError(f"{dataset_id}: {len(missing)} genes of {folder / 'Target.csv.gz'} lack expression.")
    adata = ad.AnnData(expression.loc[genes].T.astype("float32"))
    tfs = [tf for tf in pd.read_csv(folder / "TF.csv.gz", index_col=0)["TF"].astype(str) if tf in adata.var_names]
    truth = pd.read_csv(folder / "BL--network.csv.gz").rename(columns={"Gene1": "TF", "Gene2": "target"})
    return adata, tfs, truth[["TF", "target"]].astype(str)


def split_folder(root: str | Path, dataset_id: str) -> Path:
    """The train/validation/test split of a set: GENELink's (scGREAT's) where it exists, else one resample."""
    folder = _split_folder(root, dataset_id)
    if folder is None:
        raise GridappError(f"{dataset_id}: no train/test split under {root}.", "Use --split full for this set.")
    return folder


def has_split(root: str | Path, dataset_id: str) -> bool:
    """Whether a set has a train/validation/test split (Lofgof sets have none)."""
    return _split_folder(root, dataset_id) is not None


def _split_folder(root: str | Path, dataset_id: str) -> Path | None:
    cell, size, network = parse_id(dataset_id)
    candidates = [Path(root) / "splits_resample1" / network / f"{cell} {size}" / "sample1"]
    if network == "Specific":
        candidates.insert(0, Path(root) / "splits_genelink" / f"{cell} {size}")
    return next((folder for folder in candidates if (folder / "Test_set.csv.gz").is_file()), None)


def read_split(root: str | Path, dataset_id: str, part: str = "Test") -> pd.DataFrame:
    """One part of a set's split as gene names: ``TF, target, label``."""
    if part not in PARTS:
        raise GridappError(f"Unknown split part {part!r}.", f"Choose one of: {', '.join(PARTS)}.")
    cell, size, network = parse_id(dataset_id)
    genes = _genes(_folder(Path(root), cell, size, network))
    table = pd.read_csv(split_folder(root, dataset_id) / f"{part}_set.csv.gz", index_col=0)
    return pd.DataFrame(
        {
            "TF": [genes[i] for i in table["TF"]],
            "target": [genes[i] for i in table["Target"]],
            "label": table["Label"].astype(bool).to_numpy(),
        }
    )
