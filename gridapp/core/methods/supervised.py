"""DeepDRIM and scGREAT in the registry; PyTorch is imported only when one of them runs.

Both are trained on a prior's links present in the data (``train_prior``) and score every TF × gene
pair; :mod:`gridapp.core.supervised.infer` does the work. Without PyTorch (an optional extra) they stay
listed and say how to install it.
"""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import pandas as pd

from gridapp.core.errors import GridappError
from gridapp.core.methods.registry import Method, register

#: keyword arguments from code: the benchmark's training pairs and candidates, training length, torch threads,
#: callbacks, where to keep the trained model and its checkpoints
KEYWORDS = ("training", "candidates", "epochs", "threads", "progress", "cancelled", "save_to", "checkpoint")
#: parameters that set up training (the others describe the architecture); code may override ``epochs``
TRAINING = ("epochs", "batch_size", "learning_rate", "patience", "members")


def _lazy(kind: str, parameters: dict):
    def infer(adata: ad.AnnData, tfs: Sequence[str], **options: object) -> pd.DataFrame:
        try:
            from gridapp.core.supervised.infer import supervised_infer
        except ImportError as err:
            raise GridappError(
                f"{kind} needs PyTorch, which is not installed ({err}).",
                "pip install -r requirements-ml.txt (a CPU build of torch 2.13.0).",
            ) from None
        options.pop("client", None)
        defaults = {name: parameters[name] for name in TRAINING if name in parameters}
        return supervised_infer(kind)(adata, tfs, **{**defaults, **options})

    infer.__name__ = kind
    return infer


#: (id, name, citation, parameters) of each supervised method
SUPERVISED = (
    (
        "deepdrim",
        "DeepDRIM (supervised CNN on joint-expression images)",
        "Chen et al. 2021, Brief Bioinform 22:bbab325",
        {"bins": 32, "n_neighbours": 10, "epochs": 30, "batch_size": 64, "learning_rate": 1e-3, "patience": 4},
    ),
    (
        "scgreat",
        "scGREAT-style pair transformer (supervised; expression tokens only; mean of 5 seeds)",
        "Wang et al. 2024, iScience (scGREAT); without its BioBERT gene-text embeddings (not offline)",
        {
            "width": 64,
            "heads": 4,
            "layers": 2,
            "epochs": 30,
            "batch_size": 64,
            "learning_rate": 3e-4,
            "patience": 4,
            "members": 5,
        },
    ),
)

for kind, name, citation, parameters in SUPERVISED:
    register(
        Method(
            id=kind,
            name=name,
            citation=citation,
            supervised=True,
            infer=_lazy(kind, parameters),
            parameters=parameters,
            options=("train_prior",),
            keywords=KEYWORDS,
        )
    )
