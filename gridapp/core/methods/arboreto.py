"""GRNBoost2 and GENIE3 through arboreto's own Dask graph (the pySCENIC code path)."""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd
from arboreto.core import EARLY_STOP_WINDOW_LENGTH, RF_KWARGS, SGBM_KWARGS, create_graph
from distributed import Client

from gridapp.core.matrix import dense
from gridapp.core.methods.registry import ADJACENCY_COLUMNS, Method, register
from gridapp.core.parallel import client_or_local


def _arboreto(
    adata: ad.AnnData,
    tfs: Sequence[str],
    *,
    regressor_type: str,
    regressor_kwargs: dict,
    seed: int,
    client: Client | None,
) -> pd.DataFrame:
    """Run arboreto's graph for every gene as target; record trees per target in ``attrs``."""
    matrix = dense(adata.X)
    with client_or_local(client) as dask:
        links, meta = create_graph(
            matrix.astype(np.float32),
            gene_names=list(adata.var_names),
            tf_names=list(tfs),
            regressor_type=regressor_type,
            regressor_kwargs=regressor_kwargs,
            client=dask,
            include_meta=True,
            early_stop_window_length=EARLY_STOP_WINDOW_LENGTH,
            seed=seed,
        )
        links, meta = dask.compute([links, meta], sync=True)
    adjacencies = links[ADJACENCY_COLUMNS].reset_index(drop=True)
    adjacencies.attrs["trees_per_target"] = float(meta["n_estimators"].mean()) if len(meta) else 0.0
    adjacencies.attrs["targets_fitted"] = len(meta)
    return adjacencies


def grnboost2(adata: ad.AnnData, tfs: Sequence[str], *, seed: int = 0, client: Client | None = None) -> pd.DataFrame:
    """GRNBoost2 (Moerman et al. 2019): stochastic gradient boosting per target, early stopped."""
    return _arboreto(adata, tfs, regressor_type="GBM", regressor_kwargs=SGBM_KWARGS, seed=seed, client=client)


def genie3(adata: ad.AnnData, tfs: Sequence[str], *, seed: int = 0, client: Client | None = None) -> pd.DataFrame:
    """GENIE3 (Huynh-Thu et al. 2010): a random forest per target."""
    return _arboreto(adata, tfs, regressor_type="RF", regressor_kwargs=RF_KWARGS, seed=seed, client=client)


register(
    Method(
        id="grnboost2",
        name="GRNBoost2 (arboreto)",
        citation="Moerman et al. 2019, Bioinformatics 35:2159",
        supervised=False,
        infer=grnboost2,
        parameters={**SGBM_KWARGS, "early_stop_window_length": EARLY_STOP_WINDOW_LENGTH},
    )
)
register(
    Method(
        id="genie3",
        name="GENIE3 (arboreto)",
        citation="Huynh-Thu et al. 2010, PLoS ONE 5:e12776",
        supervised=False,
        infer=genie3,
        parameters=dict(RF_KWARGS),
    )
)
