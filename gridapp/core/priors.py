"""Read TF → target prior knowledge (DoRothEA, CollecTRI, TRRUST, link tables, GMT) into one layout.

Every reader returns a DataFrame with columns ``TF``, ``target``, ``sign`` (+1 activation,
-1 repression, 0 unknown) and ``confidence`` (DoRothEA's A–E, empty elsewhere), one row per
distinct TF–target pair.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from gridapp.core.errors import GridappError

PRIOR_COLUMNS = ["TF", "target", "sign", "confidence"]
TF_NAMES = ("tf", "source", "TF", "TF_name", "Gene1", "regulator")
TARGET_NAMES = ("target", "linked_gene", "Gene2", "Target")
SIGN_NAMES = ("mor", "weight", "mode", "sign")
TRRUST_MODES = {"Activation": 1, "Repression": -1, "Unknown": 0}


def read_prior(path: str | Path, *, confidence: Sequence[str] = ()) -> pd.DataFrame:
    """Read a prior network file.

    Parameters
    ----------
    path
        DoRothEA TSV (``tf, confidence, target, mor``), decoupler CSV (``source, target, weight``),
        TRRUST raw TSV (no header: TF, target, mode, PMIDs), a link table (``TF_name, linked_gene``),
        BEELINE (``Gene1, Gene2``) or a GMT whose set names start with the TF (``SPI1_human``).
    confidence
        Keep only these DoRothEA confidence levels (e.g. ``("A", "B", "C")``); all when empty.

    Returns
    -------
    DataFrame with columns ``TF, target, sign, confidence``.
    """
    path = Path(path)
    if not path.is_file():
        raise GridappError(f"{path}: no such prior file.", "Check the --prior path.")
    name = path.name.lower().removesuffix(".gz")
    try:
        prior = _read_gmt(path) if name.endswith((".gmt", ".gmt.txt")) else _read_table(path, name)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, EOFError) as err:
        raise GridappError(
            f"{path.name}: cannot read the prior table ({err}).",
            "Give a TSV/CSV with TF and target columns (DoRothEA, CollecTRI, TRRUST) or a GMT.",
        ) from err
    if confidence:
        if not prior["confidence"].astype(bool).any():
            raise GridappError(
                f"{path.name}: has no confidence column, so --prior-confidence cannot apply.",
                "Leave --prior-confidence out, or use a DoRothEA table.",
            )
        prior = prior[prior["confidence"].isin([c.upper() for c in confidence])]
    prior = prior.drop_duplicates(["TF", "target"]).reset_index(drop=True)
    if prior.empty:
        raise GridappError(f"{path.name}: no TF–target pair left.", "Check the file and --prior-confidence.")
    return prior


def _read_table(path: Path, name: str) -> pd.DataFrame:
    sep = "\t" if name.endswith((".tsv", ".txt", ".tab")) else ","
    frame = pd.read_csv(path, sep=sep, dtype=str)
    tf_col = next((c for c in TF_NAMES if c in frame.columns), None)
    target_col = next((c for c in TARGET_NAMES if c in frame.columns), None)
    if tf_col is None or target_col is None:
        if frame.shape[1] >= 3 and set(frame.iloc[:, 2]) <= set(TRRUST_MODES) | {frame.columns[2]}:
            frame = pd.read_csv(path, sep=sep, header=None, dtype=str)
            frame.columns = ["TF", "target", "mode", *frame.columns[3:]]
            tf_col, target_col = "TF", "target"
        else:
            raise GridappError(
                f"{path.name}: no TF/target columns (found {list(frame.columns)[:6]}).",
                f"Name them one of {TF_NAMES} and {TARGET_NAMES}, or use a TRRUST/DoRothEA/CollecTRI file.",
            )
    sign_col = next((c for c in SIGN_NAMES if c in frame.columns), None)
    return pd.DataFrame(
        {
            "TF": frame[tf_col].astype(str),
            "target": frame[target_col].astype(str),
            "sign": _signs(frame[sign_col]) if sign_col else 0,
            "confidence": frame["confidence"].fillna("").astype(str) if "confidence" in frame else "",
        }
    )


def _signs(values: pd.Series) -> np.ndarray:
    mapped = values.map(TRRUST_MODES)
    numeric = pd.to_numeric(values, errors="coerce")
    return np.sign(numeric.fillna(mapped).fillna(0)).astype(int).to_numpy()


def _read_gmt(path: Path) -> pd.DataFrame:
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 3:
                continue
            tf = fields[0].split("_")[0].split("(")[0].strip()
            rows.extend((tf, target) for target in fields[2:] if target)
    frame = pd.DataFrame(rows, columns=["TF", "target"])
    frame["sign"] = 0
    frame["confidence"] = ""
    return frame


def prior_targets(prior: pd.DataFrame) -> dict[str, set[str]]:
    """Map each TF of ``prior`` to the set of its targets."""
    return {tf: set(group) for tf, group in prior.groupby("TF")["target"]}
