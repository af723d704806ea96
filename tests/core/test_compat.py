"""The compatibility restorations: still needed, and still enough for pySCENIC."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd

from gridapp.core import compat


def test_every_restoration_is_still_needed():
    probe = "; ".join(
        f"print(hasattr({'np' if owner is np else 'pd.Series'}, {name!r}))" for owner, name, _ in compat.RESTORATIONS
    )
    shown = subprocess.run(
        [sys.executable, "-c", f"import numpy as np, pandas as pd; {probe}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert shown == ["False"] * len(compat.RESTORATIONS), (
        "an attribute is back upstream: drop its restoration from gridapp/core/compat.py"
    )


def test_restorations_alias_the_builtin_meanings():
    assert np.object is object and np.float is float
    assert list(pd.Series([1, 2], index=["a", "b"]).iteritems()) == [("a", 1), ("b", 2)]


def test_pyscenic_code_that_uses_them_runs():
    from pyscenic.rss import regulon_specificity_scores  # np.float
    from pyscenic.transform import DF_META_DATA  # np.object at import time

    auc = pd.DataFrame({"A(+)": [0.9, 0.8, 0.1, 0.0], "B(+)": [0.0, 0.1, 0.7, 0.9]})
    cell_types = pd.Series(["x", "x", "y", "y"])
    rss = regulon_specificity_scores(auc, cell_types)
    assert rss.loc["x", "A(+)"] > rss.loc["y", "A(+)"] and rss.loc["y", "B(+)"] > rss.loc["x", "B(+)"]
    assert "TargetGenes" in DF_META_DATA.columns.get_level_values(1)


def test_apply_is_idempotent():
    assert compat.apply() == []


def test_dask_keeps_object_columns_as_objects():
    import dask
    import dask.dataframe as dd

    assert dask.config.get("dataframe.convert-string") is False
    frame = pd.DataFrame({"TargetGenes": [[("A", 1.0)], [("B", 2.0)]]})
    computed = dd.from_pandas(frame, npartitions=1).compute()
    assert computed["TargetGenes"].iloc[0] == [("A", 1.0)]
