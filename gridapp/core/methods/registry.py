"""One table of GRN inference methods; the pipeline, cache and UI never special-case a method.

Every method has the same signature, ``infer(adata, tfs, *, seed, client) -> adjacencies``,
where adjacencies is a DataFrame with columns ``TF``, ``target``, ``importance`` (pySCENIC's
``adjacencies.tsv`` layout), sorted by decreasing importance.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gridapp.core.errors import GridappError

if TYPE_CHECKING:
    import anndata as ad
    import pandas as pd
    from distributed import Client

InferFunction = Callable[..., "pd.DataFrame"]
ADJACENCY_COLUMNS = ["TF", "target", "importance"]
#: what the CLI and the dashboard run unless told otherwise
DEFAULT_METHOD = "grnboost2-fast"
#: every method's id (in menu order) and the module of :mod:`gridapp.core.methods` that registers it: the ids
#: are known without importing the methods (the CLI's choices), each method's module is imported when first used
PROVIDERS = {
    "grnboost2": "arboreto",
    "genie3": "arboreto",
    "grnboost2-fast": "boosting",
    "lasso": "lasso",
    "pearson": "statistics",
    "spearman": "statistics",
    "mi": "statistics",
    "deepdrim": "supervised",
    "scgreat": "supervised",
}
METHOD_IDS = tuple(PROVIDERS)


@dataclass(frozen=True)
class Method:
    """A registered inference method and what a user needs to know about it.

    Attributes
    ----------
    id
        What the CLI, the cache keys and the dashboard call it.
    name, citation
        For people: shown in the method menu and the benchmark tables.
    supervised
        Trained on known pairs (scored on a held-out split only).
    infer
        ``infer(adata, tfs, *, seed, client) -> DataFrame[TF, target, importance]``.
    seeded
        The seed changes the result (a benchmark runs unseeded methods once).
    parameters
        Hyper-parameters the method runs with, as published or chosen here.
    signed
        Its links carry a signed ``coefficient`` (activation > 0, repression < 0): regulons are
        ``TF(+)`` / ``TF(-)`` from the signs instead of co-expression modules.
    options
        Run options (:class:`~gridapp.jobs.params.RunParams` fields) it takes as keyword arguments.
    keywords
        Further keyword arguments its ``infer`` takes from code, not from a run's parameters (a
        supervised method's training pairs and candidates from the benchmark, progress callbacks).
    """

    id: str
    name: str
    citation: str
    supervised: bool
    infer: InferFunction
    seeded: bool = True
    parameters: dict = field(default_factory=dict)
    signed: bool = False
    options: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()


class _Methods(Mapping):
    """The methods by id, in :data:`PROVIDERS` order; a method's module is imported when it is first asked for."""

    def __init__(self) -> None:
        self.registered: dict[str, Method] = {}

    def __getitem__(self, method_id: str) -> Method:
        if method_id not in self.registered and method_id in PROVIDERS:
            importlib.import_module(f"gridapp.core.methods.{PROVIDERS[method_id]}")
        return self.registered[method_id]

    def __iter__(self) -> Iterator[str]:
        return iter(PROVIDERS)

    def __len__(self) -> int:
        return len(PROVIDERS)


METHODS: Mapping[str, Method] = _Methods()


def register(method: Method) -> Method:
    """Add ``method`` to :data:`METHODS` under its id (which :data:`PROVIDERS` must list)."""
    if method.id not in PROVIDERS:
        raise ValueError(f"Method {method.id!r} is not in PROVIDERS: add its id and module there.")
    METHODS.registered[method.id] = method
    return method


def get_method(method_id: str) -> Method:
    """The method registered as ``method_id``, or an error listing the ids there are."""
    try:
        return METHODS[method_id]
    except KeyError:
        raise GridappError(f"Unknown method {method_id!r}.", f"Choose one of: {', '.join(METHODS)}.") from None


def infer(
    adata: ad.AnnData,
    tfs: Sequence[str],
    *,
    method: str = DEFAULT_METHOD,
    seed: int = 0,
    client: Client | None = None,
    **options: object,
) -> pd.DataFrame:
    """Infer TF → target adjacencies with a registered method.

    Parameters
    ----------
    adata
        Log-normalised cells × genes; every gene is a candidate target.
    tfs
        Candidate regulators (those absent from ``adata`` are ignored).
    method
        A key of :data:`METHODS`.
    seed
        Random seed; the same seed gives the same adjacencies.
    client
        Dask client for the parallel part; a local cluster when ``None``.
    **options
        The method's own run options (:attr:`Method.options`, e.g. the LASSO's ``target_layer``).

    Returns
    -------
    DataFrame ``TF, target, importance`` sorted by decreasing importance, self-links excluded.
    """
    chosen = get_method(method)
    unknown = sorted(set(options) - set(chosen.options) - set(chosen.keywords))
    if unknown:
        raise GridappError(f"Method {method!r} takes no option {', '.join(unknown)}.")
    present = [t for t in tfs if t in adata.var_names]
    adjacencies = chosen.infer(adata, present, seed=seed, client=client, **options)
    adjacencies = adjacencies[adjacencies["TF"] != adjacencies["target"]]
    return adjacencies.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)
