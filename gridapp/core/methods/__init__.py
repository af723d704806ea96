"""GRN inference methods behind one interface (:mod:`~gridapp.core.methods.registry`).

A method's module registers it when imported; :data:`~gridapp.core.methods.registry.METHODS` imports a
method's module the first time the method is asked for, so importing this package is cheap.
"""

from __future__ import annotations

from gridapp.core.methods.registry import DEFAULT_METHOD, METHOD_IDS, METHODS, Method, get_method, infer

__all__ = ["DEFAULT_METHOD", "METHODS", "METHOD_IDS", "Method", "get_method", "infer"]
