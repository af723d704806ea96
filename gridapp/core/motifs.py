"""cisTarget ranking databases and motif annotations, in every layout users have, for ctxcore.

ctxcore 0.2 opens only Feather v2 files named ``*.genes_vs_motifs.rankings.feather`` whose last
column ``motifs`` holds the motif ids. Users also have the older layouts (Feather v1 with a first
column ``features``; the legacy SQLite ``.db``) and a correctly laid out file with another name;
:func:`open_ranking_db` converts or links those once into a cache folder. Motif annotations come
as pySCENIC ``.tbl`` (``#motif_id, gene_name, ...``) or as RcisTarget tables (``motif, TF,
directAnnotation, ...``); :func:`write_motif_annotations` writes the ``.tbl`` that pySCENIC reads.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
from ctxcore.rnkdb import FeatherRankingDatabase

from gridapp.core.errors import GridappError

CTXCORE_SUFFIX = ".genes_vs_motifs.rankings.feather"
TBL_COLUMNS = ["#motif_id", "gene_name", "motif_similarity_qvalue", "orthologous_identity", "description"]
#: Below this fraction of the data's genes in a database, the database is of another species or naming.
MIN_GENE_OVERLAP = 0.2


def open_ranking_db(path: str | Path, *, cache_dir: str | Path) -> FeatherRankingDatabase:
    """Open a cisTarget gene ranking database in any supported layout.

    Parameters
    ----------
    path
        Feather v2 (ctxcore layout), Feather v1 (``features`` column) or legacy SQLite ``.db``.
    cache_dir
        Where converted copies are kept (named by the source's content hash, reused).

    Returns
    -------
    A ctxcore ranking database named after the file.
    """
    path = Path(path)
    if not path.is_file():
        raise GridappError(f"{path}: no such motif ranking database.", "Check the --motif-dbs path.")
    name = path.name.split(".")[0]
    if path.name.endswith(CTXCORE_SUFFIX) and _feather_version(path) == 2:
        return FeatherRankingDatabase(str(path), name=name)
    target = Path(cache_dir) / f"{name}-{_content_hash(path)}{CTXCORE_SUFFIX}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        table = _read_rankings(path)
        partial = target.with_suffix(".partial")
        feather.write_feather(table, partial, compression="uncompressed", version=2)
        partial.replace(target)
    return FeatherRankingDatabase(str(target), name=name)


def _feather_version(path: Path) -> int | None:
    with open(path, "rb") as handle:
        head = handle.read(6)
    if head == b"ARROW1":
        return 2
    if head[:4] == b"FEA1":
        return 1
    return None


def _content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


def _read_rankings(path: Path) -> pa.Table:
    """Read rankings (motifs × genes, int16/int32) into ctxcore's layout: genes, then ``motifs``."""
    if _feather_version(path):
        table = feather.read_table(path)
        index = next((c for c in ("motifs", "features", "tracks") if c in table.column_names), None)
        if index is None:
            raise GridappError(
                f"{path.name}: a Feather file without a 'motifs' or 'features' column.",
                "Use a cisTarget gene ranking database (motifs × genes).",
            )
        genes = [c for c in table.column_names if c != index]
        return table.select(genes).append_column("motifs", table.column(index).cast(pa.string()))
    return _read_sqlite_rankings(path)


def _read_sqlite_rankings(path: Path) -> pa.Table:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            motifs = [name for (name,) in db.execute("SELECT motifName FROM motifs ORDER BY idx")]
            rows = db.execute("SELECT geneID, ranking FROM rankings").fetchall()
    except sqlite3.DatabaseError as err:
        raise GridappError(
            f"{path.name}: not a cisTarget ranking database ({err}).",
            "Give a .feather ranking database (or the legacy SQLite .db).",
        ) from err
    columns = {gene: np.frombuffer(blob, dtype=np.int16) for gene, blob in rows}
    table = pa.table({gene: pa.array(ranks) for gene, ranks in columns.items()})
    return table.append_column("motifs", pa.array(motifs, type=pa.string()))


def check_gene_overlap(db: FeatherRankingDatabase, genes: Sequence[str], *, source: str) -> float:
    """Fraction of ``genes`` ranked in ``db``; an error when too few are (wrong species or naming)."""
    overlap = len(db.geneset.intersection(genes)) / max(len(genes), 1)
    if overlap < MIN_GENE_OVERLAP:
        upper = {g.upper() for g in db.geneset}
        case_overlap = sum(g.upper() in upper for g in genes) / max(len(genes), 1)
        cause = (
            "the database is of another species (genes match only when ignoring case)"
            if case_overlap >= MIN_GENE_OVERLAP
            else "the database uses another gene naming or species"
        )
        raise GridappError(
            f"{source}: only {overlap:.1%} of the data's genes are ranked in this motif database; {cause}.",
            "Use the cisTarget database of your data's species (hg38/hg19 for human, mm10 for mouse).",
        )
    return overlap


def read_motif_annotations(path: str | Path) -> pd.DataFrame:
    """Read motif → TF annotations in pySCENIC ``.tbl`` or RcisTarget layout into ``.tbl`` columns.

    RcisTarget tables have no numeric similarity q-value or orthologous identity; they are read
    from the ``description`` text (``q-value = 0.0006``, ``identity = 30%``), and direct
    annotations get q-value 0 and identity 1.
    """
    path = Path(path)
    if not path.is_file():
        raise GridappError(f"{path}: no such motif annotation file.", "Check the --motif-annotations path.")
    try:
        table = pd.read_csv(path, sep="\t", dtype=str)
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as err:
        raise GridappError(f"{path.name}: cannot read the motif annotations ({err}).") from err
    if {"#motif_id", "gene_name"} <= set(table.columns):
        for column in TBL_COLUMNS[2:4]:
            table[column] = pd.to_numeric(table.get(column, 0.0), errors="coerce").fillna(0.0)
        table["description"] = table.get("description", "").fillna("")
        return table[TBL_COLUMNS]
    if {"motif", "TF"} <= set(table.columns):
        description = table.get("description", pd.Series("", index=table.index)).fillna("")
        direct = table.get("directAnnotation", pd.Series("False", index=table.index)).str.lower() == "true"
        return pd.DataFrame(
            {
                "#motif_id": table["motif"],
                "gene_name": table["TF"],
                "motif_similarity_qvalue": description.map(_qvalue).where(~direct, 0.0),
                "orthologous_identity": description.map(_identity).where(~direct, 1.0),
                "description": description,
            }
        )
    raise GridappError(
        f"{path.name}: not a motif annotation table (columns {list(table.columns)[:6]}).",
        "Use pySCENIC's motifs-*.tbl or RcisTarget's motifAnnotations table (motif, TF, ...).",
    )


def _qvalue(description: str) -> float:
    match = re.search(r"q-value = ([0-9.eE-]+)", description)
    return float(match.group(1)) if match else 0.0


def _identity(description: str) -> float:
    match = re.search(r"identity = (\d+)%", description)
    return int(match.group(1)) / 100 if match else 1.0


def write_motif_annotations(annotations: pd.DataFrame, path: str | Path) -> Path:
    """Write annotations in the pySCENIC ``.tbl`` layout :func:`pyscenic.utils.load_motif_annotations` reads."""
    path = Path(path)
    annotations[TBL_COLUMNS].to_csv(path, sep="\t", index=False)
    return path


def read_enriched_motifs(path: str | Path) -> pd.DataFrame:
    """pySCENIC's enriched-motif table (``motifs.csv``: two header rows, ``TF, MotifID`` index) as a flat
    table: ``TF``, ``MotifID`` and the enrichment columns by their own names (``NES``, ``AUC``,
    ``TargetGenes`` as text, ...)."""
    table = pd.read_csv(path, header=[0, 1], index_col=[0, 1])
    table.columns = [name if name and not name.startswith("Unnamed") else group for group, name in table.columns]
    table.index.names = ["TF", "MotifID"]
    return table.reset_index()
