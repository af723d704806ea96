"""GRN inference methods behind one interface; importing this package registers them all."""

from __future__ import annotations

from gridapp.core.methods import (
    arboreto,  # noqa: F401  (registers grnboost2, genie3)
    boosting,  # noqa: F401  (registers grnboost2-fast)
    lasso,  # noqa: F401  (registers lasso)
    statistics,  # noqa: F401  (registers pearson, spearman, mi)
    supervised,  # noqa: F401  (registers deepdrim, scgreat; PyTorch imported when they run)
)
from gridapp.core.methods.registry import DEFAULT_METHOD, METHODS, Method, get_method, infer

__all__ = ["DEFAULT_METHOD", "METHODS", "Method", "get_method", "infer"]
