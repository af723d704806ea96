"""Regulon files as pySCENIC writes them (``pyscenic.cli.utils.load_signatures``) and as gridapp writes them.

:func:`read_regulons` tells a file's kind from its name and content: ``pyscenic ctx``'s motif table (two header
rows), gridapp's ``regulon_targets.csv``, YAML, GMT, JSON and pickles. No file runs code: the motif table's
cells are parsed as literals (pySCENIC's ``load_motifs`` would ``eval`` them), YAML and pickles are read by
loaders that build only regulons.
"""

from __future__ import annotations

import ast
import contextlib
import gzip
import io
import itertools
import json
import pickle
import re
from collections import OrderedDict
from pathlib import Path
from typing import IO

import attr
import numpy as np
import pandas as pd
import yaml
from ctxcore.genesig import GeneSignature, Regulon
from frozendict import frozendict
from pyscenic.cli.utils import guess_separator
from pyscenic.prune import df2regulons

from gridapp.core.errors import GridappError
from gridapp.core.regulons import context_of, regulons_from_table

#: a regulon name as SCope and pySCENIC users write it: ``TF(+)``, ``TF (+)``, ``TF_(+)``, then anything
SIGNED_NAME = re.compile(r"^(?P<tf>.+?)[ _]?\((?P<sign>[+-])\)(?P<rest>.*)$")
#: the gene count pySCENIC's export2loom advice appends (``TF(+) (12g)``) or puts in place of the sign (``TF (12g)``)
GENE_COUNT = re.compile(r"\s*\(\d+g\)$")
#: the columns of gridapp's long regulon table that must be there (``weight`` defaults to 1)
TABLE_COLUMNS = {"regulon", "TF", "target"}
#: the columns of pySCENIC's enriched-motif table (``pyscenic ctx -o regulons.csv``) that ``df2regulons`` reads
MOTIF_TABLE_COLUMNS = {"Context", "TargetGenes", "NES", "MotifSimilarityQvalue", "OrthologousIdentity"}
YAML_SUFFIXES = (".yaml", ".yml")
PICKLE_SUFFIXES = (".dat", ".p", ".pkl", ".pickle")
TABLE_SUFFIXES = (".csv", ".tsv")
REGULON_FILE_HINT = (
    "Give the regulons as pySCENIC writes them (`pyscenic ctx -o regulons.csv`, or .yaml, .gmt, .dat) "
    "or as gridapp writes them (regulon_targets.csv)."
)


def pyscenic_name(name: str) -> str:
    """A regulon's name as pySCENIC gives it (``TF(+)``), from the forms SCope looms and users write.

    ``TF (+)`` and ``TF_(+)`` lose the separator, a gene count is dropped (``TF(+) (12g)``), and a gene count
    in place of the sign (``TF (12g)``, pySCENIC's export2loom advice) means activating: ``TF(+)``. The comma
    ctxcore's GMT writer puts after a name (``TF(+),``) goes. Anything after the sign stays
    (``SPI1(+) [unpruned]``).
    """
    text = str(name).strip().rstrip(",").strip()
    counted = GENE_COUNT.search(text) is not None
    text = GENE_COUNT.sub("", text)
    match = SIGNED_NAME.match(text)
    if match:
        return f"{match['tf']}({match['sign']}){match['rest']}"
    return f"{text}(+)" if counted else text


def regulon_file_kind(path: str | Path) -> str | None:
    """What kind of regulon file ``path`` is, from its name and (for tables) its header.

    Returns
    -------
    ``table`` (gridapp's long table: regulon, TF, target[, weight]), ``motifs`` (pySCENIC's ctx table, two
    header rows), ``yaml``, ``pickle``, ``gmt``, ``json`` (pySCENIC's name → targets) or ``None`` (not a
    regulon file).
    """
    name = Path(path).name.lower()
    if name.endswith(".gmt"):  # pySCENIC's GMT reader takes no gzipped file
        return "gmt"
    name = name.removesuffix(".gz")
    if name.endswith(TABLE_SUFFIXES):
        return _table_kind(Path(path))
    suffixes = {".json": "json", **dict.fromkeys(YAML_SUFFIXES, "yaml"), **dict.fromkeys(PICKLE_SUFFIXES, "pickle")}
    return next((kind for suffix, kind in suffixes.items() if name.endswith(suffix)), None)


def read_regulons(path: str | Path) -> list[Regulon]:
    """Read the regulons of a file pySCENIC or gridapp wrote, as :func:`regulon_file_kind` tells its kind.

    pySCENIC's enriched-motif table becomes regulons by pySCENIC's own ``df2regulons`` (every target's
    highest weight over the TF's motifs), as ``load_signatures`` makes them; its ``Context`` and
    ``TargetGenes`` cells are parsed as literals (``load_signatures`` evaluates them as Python code). YAML and
    pickles are read without running code: only ctxcore's signatures, sets, dicts and NumPy numbers are built,
    anything else is refused. Names are normalised by :func:`pyscenic_name`; gene sets without a TF
    (GMT, JSON) get it from their name.

    Raises
    ------
    GridappError
        Naming the file, when it is none of these kinds, holds none or cannot be read.
    """
    path = Path(path)
    kind = regulon_file_kind(path)
    readers = {
        "table": _read_regulon_table,
        "motifs": _read_motif_table,
        "yaml": _read_yaml,
        "pickle": _read_pickle,
        "gmt": _read_gmt,
        "json": _read_json,
    }
    if kind is None:
        raise GridappError(f"{path.name}: not a regulon file.", REGULON_FILE_HINT)
    try:
        signatures = readers[kind](path)
    except GridappError:
        raise
    except Exception as err:  # a user's file fails in each reader's own way (pandas, YAML, pickle, attrs)
        raise GridappError(
            f"{path.name}: cannot be read as regulons ({kind}: {type(err).__name__}: {err}).",
            f"The file may be truncated or written by another tool. {REGULON_FILE_HINT}",
        ) from err
    if not signatures:
        raise GridappError(f"{path.name}: holds no regulon.", REGULON_FILE_HINT)
    return [_as_regulon(signature) for signature in signatures]


def _as_regulon(signature: GeneSignature) -> Regulon:
    name = pyscenic_name(signature.name)
    if isinstance(signature, Regulon):
        return signature if name == signature.name else signature.rename(name)
    return Regulon(
        name=name,
        gene2weight=dict(signature.gene2weight),
        gene2occurrence={},
        transcription_factor=name.split("(")[0],
        context=context_of(name),
    )


def table_separator(path: Path) -> str:
    """The field separator of a ``.tsv`` (tab) or ``.csv`` (comma) table, gzipped or not."""
    return "\t" if ".tsv" in path.name.lower() else ","


def _opened(path: Path, *, binary: bool = False) -> IO:
    """``path`` opened for reading, gunzipped when its name ends in ``.gz`` (ctxcore's ``openfile`` fails on
    binary files and on gzipped ones)."""
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb") if binary else gzip.open(path, "rt", encoding="utf-8")
    return open(path, "rb") if binary else open(path, encoding="utf-8")


def _table_kind(path: Path) -> str | None:
    with _opened(path) as handle:
        head = list(itertools.islice(handle, 2))
    rows = [line.rstrip("\r\n").split(table_separator(path)) for line in head]
    if len(rows) == 2 and "Enrichment" in rows[0] and "TargetGenes" in rows[1]:
        return "motifs"
    return "table" if rows and set(rows[0]) >= TABLE_COLUMNS else None


def _read_regulon_table(path: Path) -> list[Regulon]:
    table = pd.read_csv(
        path, sep=table_separator(path), dtype={"regulon": str, "TF": str, "target": str}, float_precision="round_trip"
    )
    return regulons_from_table(table if "weight" in table else table.assign(weight=1.0))


def _read_motif_table(path: Path) -> list[Regulon]:
    table = pd.read_csv(path, sep=table_separator(path), index_col=[0, 1], header=[0, 1], skipinitialspace=True)
    missing = MOTIF_TABLE_COLUMNS - set(table.columns.get_level_values(-1))
    if missing or list(table.index.names) != ["TF", "MotifID"]:
        raise GridappError(
            f"{path.name}: not pySCENIC's enriched-motif table (missing {sorted(missing) or 'the TF, MotifID index'}).",
            "Give the table `pyscenic ctx --output regulons.csv` wrote, unchanged.",
        )
    if table.empty:
        raise GridappError(
            f"{path.name}: no enriched motif, so no regulon (pySCENIC's ctx pruned every module away).",
            "Run `pyscenic ctx` with the ranking databases and motif annotations of your species.",
        )
    for name, parse in (("Context", _literal_context), ("TargetGenes", _literal_targets)):
        column = next(c for c in table.columns if c[-1] == name)
        table[column] = table[column].map(parse)
    with contextlib.redirect_stdout(io.StringIO()):  # df2regulons prints what it does
        return list(df2regulons(table))


def _literal(text: str, what: str) -> object:
    """``text`` as a Python literal (numbers, strings, lists, tuples, sets), never run as code."""
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as err:
        raise ValueError(f"a cell is not {what}: {text[:80]!r}") from err


def _literal_context(text: str) -> frozenset:
    """``frozenset({'activating', ...})`` as pySCENIC writes a motif's context, read as a literal."""
    what = "a set of words"
    inner = text.strip().removeprefix("frozenset(").removesuffix(")")
    items = _literal(inner, what) if inner else ()
    if not isinstance(items, set | frozenset | list | tuple) or not all(isinstance(i, str) for i in items):
        raise ValueError(f"a cell is not {what}: {text[:80]!r}")
    return frozenset(items)


def _literal_targets(text: str) -> list[tuple[str, float]]:
    """``[('GENE', 1.5), ...]`` as pySCENIC writes a motif's targets, read as a literal."""
    what = "a list of (gene, weight) pairs"
    pairs = _literal(text, what)
    if not isinstance(pairs, list | tuple) or not all(
        isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) and isinstance(p[1], int | float) for p in pairs
    ):
        raise ValueError(f"a cell is not {what}: {text[:80]!r}")
    return [(gene, float(weight)) for gene, weight in pairs]


def _read_gmt(path: Path) -> list[GeneSignature]:
    separator = guess_separator(str(path))  # pySCENIC's own choice of separator
    return GeneSignature.from_gmt(str(path), field_separator=separator, gene_separator=separator)


def _read_json(path: Path) -> list[GeneSignature]:
    with _opened(path) as handle:
        name2targets = json.load(handle)
    if not isinstance(name2targets, dict) or not all(
        isinstance(genes, list) and all(isinstance(g, str) for g in genes) for genes in name2targets.values()
    ):
        raise GridappError(
            f"{path.name}: not regulons (pySCENIC's JSON maps each regulon's name to its target genes).",
            REGULON_FILE_HINT,
        )
    return [GeneSignature(name=name, gene2weight=genes) for name, genes in name2targets.items()]


def _signatures(loaded: object, path: Path) -> list[GeneSignature]:
    if not isinstance(loaded, list | tuple | set | frozenset) or not all(
        isinstance(item, GeneSignature) for item in loaded
    ):
        raise GridappError(f"{path.name}: holds {type(loaded).__name__}, not a list of regulons.", REGULON_FILE_HINT)
    return list(loaded)


def _numeric_dtype(name: str, align: bool = False, copy: bool = False) -> np.dtype:
    """``numpy.dtype(name, align, copy)`` for a number type only (bool, integer, float): what pickled weights hold.

    A pickle asks for a copy (its state is then set on it, never on NumPy's own instance)."""
    dtype = np.dtype(str(name), align=bool(align), copy=bool(copy))
    if dtype.kind not in "biuf":
        raise pickle.UnpicklingError(f"a NumPy {dtype} is not a number type")
    return dtype


def _numeric_scalar(dtype: np.dtype, data: bytes) -> np.generic:
    """A NumPy number from its bytes (``numpy.core.multiarray.scalar`` for number types only)."""
    if not isinstance(dtype, np.dtype) or dtype.kind not in "biuf" or len(data) != dtype.itemsize:
        raise pickle.UnpicklingError("a NumPy scalar that is not a number")
    return np.frombuffer(data, dtype=dtype)[0]


def _latin1_bytes(text: str, encoding: str) -> bytes:
    """``_codecs.encode(text, 'latin1')``, how protocol-2 pickles write bytes (a NumPy number's)."""
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError("an encoding other than a protocol-2 pickle's bytes")
    return text.encode("latin1")


#: everything a pickle of pySCENIC's regulons may build (module, name → the callable used)
PICKLE_ALLOWED = {
    ("ctxcore.genesig", "Regulon"): Regulon,
    ("ctxcore.genesig", "GeneSignature"): GeneSignature,
    ("frozendict", "frozendict"): frozendict,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "set"): set,
    ("builtins", "dict"): dict,
    ("builtins", "list"): list,
    ("builtins", "tuple"): tuple,
    ("collections", "OrderedDict"): OrderedDict,
    ("numpy", "dtype"): _numeric_dtype,
    ("numpy.core.multiarray", "scalar"): _numeric_scalar,
    ("numpy._core.multiarray", "scalar"): _numeric_scalar,
    ("_codecs", "encode"): _latin1_bytes,
}


class RegulonUnpickler(pickle.Unpickler):
    """Unpickles pySCENIC's regulons (``pyscenic ctx -o regulons.dat``) and refuses anything else.

    A pickle names the functions it calls; only those of :data:`PICKLE_ALLOWED` (ctxcore's signatures, plain
    containers, NumPy numbers) are given, so a pickle that would call anything else (``os.system``, ...)
    stops with :class:`pickle.UnpicklingError` before it runs.
    """

    def find_class(self, module: str, name: str) -> object:
        module = "builtins" if module == "__builtin__" else module  # protocol 0-2 pickles use Python 2's name
        try:
            return PICKLE_ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of pySCENIC's regulons") from None


def _read_pickle(path: Path) -> list[GeneSignature]:
    with _opened(path, binary=True) as handle:
        try:
            loaded = RegulonUnpickler(handle).load()
        except pickle.UnpicklingError as err:
            raise GridappError(
                f"{path.name}: refused: the pickle would build something other than regulons ({err}).",
                "Pickles can run code: open only pickles pySCENIC wrote, or give its regulons.csv / .yaml instead.",
            ) from err
    return _signatures(loaded, path)


class RegulonYamlLoader(yaml.SafeLoader):
    """YAML as pySCENIC writes regulons (``save_to_yaml``: ctxcore objects, frozensets, frozendicts, NumPy
    numbers as ``python/object`` tags; or ctxcore's own ``!Regulon`` tags) and nothing else: a safe loader with
    just those tags added, so no other Python object is ever built."""


def _yaml_signature(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> GeneSignature:
    kinds = {"ctxcore.genesig.Regulon": Regulon, "ctxcore.genesig.GeneSignature": GeneSignature}
    if suffix not in kinds:
        raise yaml.constructor.ConstructorError(None, None, f"{suffix} is not a ctxcore signature", node.start_mark)
    fields = loader.construct_mapping(node, deep=True)
    known = attr.fields_dict(kinds[suffix])
    return kinds[suffix](**{name: value for name, value in fields.items() if name in known})


def _yaml_call(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> object:
    calls = {
        "builtins.frozenset": frozenset,
        "frozendict.frozendict": dict,
        "numpy.dtype": _numeric_dtype,
        "numpy.core.multiarray.scalar": _numeric_scalar,
        "numpy._core.multiarray.scalar": _numeric_scalar,
    }
    if suffix not in calls:
        raise yaml.constructor.ConstructorError(None, None, f"{suffix} is not part of regulons", node.start_mark)
    if isinstance(node, yaml.SequenceNode):
        arguments = loader.construct_sequence(node, deep=True)
    else:
        arguments = loader.construct_mapping(node, deep=True).get("args", [])
    built = calls[suffix](*arguments)
    if isinstance(built, np.dtype) and isinstance(node, yaml.MappingNode):  # its byte order is in its state
        state = loader.construct_mapping(node, deep=True).get("state") or ()
        built = built.newbyteorder(state[1]) if len(state) > 1 and state[1] in "<>" else built
    return built


def _yaml_tagged(loader: yaml.SafeLoader, node: yaml.Node) -> GeneSignature:
    """ctxcore's own YAML form (``!Regulon`` / ``!GeneSignature``: name, genes, weights, ...)."""
    data = loader.construct_mapping(node, deep=True)
    gene2weight = list(zip(data["genes"], data["weights"]))
    if node.tag == "!GeneSignature":
        return GeneSignature(name=data["name"], gene2weight=gene2weight)
    return Regulon(
        name=data["name"],
        gene2weight=gene2weight,
        gene2occurrence={},
        transcription_factor=data["transcription_factor"],
        context=frozenset(data.get("context", ())),
        score=data.get("score", 0.0),
    )


RegulonYamlLoader.add_multi_constructor("tag:yaml.org,2002:python/object:", _yaml_signature)
for _prefix in ("tag:yaml.org,2002:python/object/apply:", "tag:yaml.org,2002:python/object/new:"):
    RegulonYamlLoader.add_multi_constructor(_prefix, _yaml_call)
RegulonYamlLoader.add_constructor(
    "tag:yaml.org,2002:python/tuple", lambda loader, node: tuple(loader.construct_sequence(node, deep=True))
)
for _tag in ("!Regulon", "!GeneSignature"):
    RegulonYamlLoader.add_constructor(_tag, _yaml_tagged)


def _read_yaml(path: Path) -> list[GeneSignature]:
    with _opened(path) as handle:
        try:
            loaded = yaml.load(handle.read(), Loader=RegulonYamlLoader)  # a safe loader with the tags above
        except yaml.constructor.ConstructorError as err:
            raise GridappError(
                f"{path.name}: refused: the YAML would build something other than regulons ({err.problem}).",
                "Give the regulons pySCENIC wrote (save_to_yaml / `pyscenic ctx -o regulons.yaml`).",
            ) from err
    return _signatures(loaded, path)
