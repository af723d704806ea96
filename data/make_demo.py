"""Regenerate the embedded demo data in data/demo/ from ../shared/data (see data/README.md).

Run from the project root: ``python data/make_demo.py``.
"""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import pandas as pd

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DEMO = Path(__file__).resolve().parent / "demo"
TFS = Path(__file__).resolve().parent / "tfs"
#: the SCENIC protocol's TF lists, offered in the dashboard and as ``--tfs human|mouse``
TF_LISTS = ("allTFs_hg38.txt", "allTFs_mm.txt")
DONOR = "1016"


def main() -> None:
    """Write the one-donor Kang subset, the TF lists and the DoRothEA A–C prior restricted to it."""
    DEMO.mkdir(exist_ok=True)
    TFS.mkdir(exist_ok=True)
    for name in TF_LISTS:
        (TFS / name).write_bytes((SHARED / "tfs" / name).read_bytes())
    kang = ad.read_h5ad(SHARED / "singlecell" / "kang2018_muscat_ref_5donors.h5ad")
    donor = kang[kang.obs["sample_id"].astype(str) == DONOR].copy()
    donor.obs = donor.obs[["sample_id", "cluster_id"]]
    donor.var = donor.var[["feature"]]
    del donor.obsm, donor.uns
    donor.write_h5ad(DEMO / f"kang2018_donor{DONOR}.h5ad", compression="gzip")

    symbols = set(donor.var["feature"].astype(str))
    tfs = [t for t in (SHARED / "tfs" / "allTFs_hg38.txt").read_text().split() if t in symbols]
    (DEMO / "tfs_hg38_in_kang.txt").write_text("\n".join(tfs) + "\n")

    dorothea = pd.read_csv(SHARED / "priors" / "dorothea_hs.tsv.gz", sep="\t")
    prior = dorothea[
        dorothea["confidence"].isin(["A", "B", "C"]) & dorothea["tf"].isin(symbols) & dorothea["target"].isin(symbols)
    ]
    prior.to_csv(DEMO / "dorothea_ABC_kang.tsv", sep="\t", index=False)
    print(f"{donor.n_obs} cells × {donor.n_vars} genes, {len(tfs)} TFs, {len(prior)} prior edges")


if __name__ == "__main__":
    main()
