"""RunParams: the one object that flows from the CLI or UI to the pipeline, the cache key and run.json."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, field, make_dataclass, replace
from functools import lru_cache
from pathlib import Path

from gridapp import __version__
from gridapp.core.errors import GridappError
from gridapp.core.methods import get_method
from gridapp.jobs.settings import BY_NAME, SETTINGS, Setting

#: where a server caches its results unless told otherwise (``--cache-dir``, ``GRIDAPP_CACHE_DIR``)
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "gridapp"
#: the BEELINE folder a benchmark reads (``GRIDAPP_BEELINE``, else beside the checkout in ``shared/data``)
DEFAULT_ROOT = Path(os.environ.get("GRIDAPP_BEELINE", Path(__file__).resolve().parents[3] / "shared/data/beeline"))
#: how a benchmark splits the candidate pairs it scores
SPLITS = ("full", "test", "tf-aware")
#: a comparison without a threshold compares each group's strongest edges
DEFAULT_TOP_EDGES = 5000
DATA_DIR = Path(__file__).resolve().parents[2] / "data"
DEMO_DIR = DATA_DIR / "demo"
#: shipped TF lists (data/README.md), usable by name wherever a TF list file is asked for
TF_LISTS = {"human": DATA_DIR / "tfs" / "allTFs_hg38.txt", "mouse": DATA_DIR / "tfs" / "allTFs_mm.txt"}


class _RunParamsMethods:
    """What every :class:`RunParams` can do; its fields come from :data:`~gridapp.jobs.settings.SETTINGS`."""

    def __post_init__(self) -> None:
        for setting in SETTINGS:
            setting.check(getattr(self, setting.name))
        if self.prune == "cistarget" and not (self.motif_dbs and self.motif_annotations):
            raise GridappError(
                "cisTarget pruning needs ranking databases and motif annotations.",
                "Give --motif-dbs FILE [FILE ...] and --motif-annotations FILE.",
            )
        if self.prune == "prior" and not self.prior:
            raise GridappError("Prior pruning needs a prior network.", "Give --prior FILE.")
        for setting in SETTINGS:
            if setting.prune_mode and getattr(self, setting.name) and setting.prune_mode != self.prune:
                raise GridappError(
                    f"{setting.flag} is for --prune {setting.prune_mode}, not --prune {self.prune}.",
                    f"Give --prune {setting.prune_mode}, or leave {setting.flag} out.",
                )
        method = get_method(self.method)
        for setting in SETTINGS:
            if setting.method_option and getattr(self, setting.name) and setting.name not in method.options:
                takers = setting.methods()
                raise GridappError(
                    f"{setting.flag} applies to {' and '.join(takers)}, not {self.method!r}.",
                    f"Use --method {' or '.join(takers)}, or leave {setting.flag} out.",
                )
        if method.supervised and not self.train_prior:
            raise GridappError(
                f"{self.method!r} learns from known links and needs a training prior.",
                "Give --train-prior FILE (DoRothEA, CollecTRI, TRRUST or a ChIP-seq link table).",
            )
        if method.signed and self.prune == "cistarget":
            raise GridappError(
                f"{self.method!r} gives signed links, not co-expression modules for cisTarget.",
                "Use --prune prior with --prior FILE (enrichment filter), or --prune none.",
            )

    @classmethod
    def demo(cls, **overrides: object) -> RunParams:
        """The embedded default: one Kang 2018 PBMC donor, pruned with its DoRothEA A–C prior."""
        defaults = {
            "input": str(DEMO_DIR / "kang2018_donor1016.h5ad"),
            "tfs": str(DEMO_DIR / "tfs_hg38_in_kang.txt"),
            "cell_type_key": "cluster_id",
            "donor_key": "sample_id",
            "prune": "prior",
        }
        if overrides.get("prune", "prior") == "prior":
            defaults["prior"] = str(DEMO_DIR / "dorothea_ABC_kang.tsv")
        return cls(**{**defaults, **overrides})

    def check_files(self) -> None:
        """Raise :class:`~gridapp.core.errors.GridappError` for the first file a setting names that does not exist:
        a mistyped path is told at once, not after the pipeline's imports and first steps."""
        for setting in SETTINGS:
            value = getattr(self, setting.name)
            paths = value if setting.kind == "files" else (value,) if setting.kind == "file" and value else ()
            missing = next((path for path in paths if not Path(path).exists()), None)
            if missing is not None:
                raise GridappError(f"{missing}: no such file ({setting.flag}).", f"Check the {setting.flag} path.")

    def method_options(self) -> dict:
        """The run options the chosen method takes (those that are set)."""
        return {name: getattr(self, name) for name in get_method(self.method).options if getattr(self, name)}

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (tuples as lists)."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, values: dict) -> RunParams:
        """Parameters from :meth:`to_dict`'s layout (lists back to tuples)."""
        return cls(**{name: tuple(v) if isinstance(v, list) else v for name, v in values.items()})

    def differences(self, stored: dict) -> list[str]:
        """How these parameters differ from a stored result's (its ``params.json``), one
        ``"<field>: <here> here, <there> in the result"`` per field, in the dashboard's words; empty when they
        match or when ``stored`` is not a gridapp run's (an imported pySCENIC output)."""
        mine = self.to_dict()
        if set(stored) != set(mine):
            return []
        if not mine["donors"] and not stored["donors"]:
            stored = {**stored, "donor_key": mine["donor_key"]}  # no donor chosen: the column does not matter
        return [
            f"{FIELD_WORDS.get(name, name)}: {_shown(value, name)} here, {_shown(stored[name], name)} in the result"
            for name, value in mine.items()
            if value != stored[name]
        ]

    def with_changes(self, **changes: object) -> RunParams:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def cache_key(self, fingerprint: str) -> str:
        """Content address of the result: input fingerprint + parameters + code version.

        File paths are replaced by the fingerprint of their content, so moving a file keeps the key.
        """
        params = {**self.to_dict(), "input": fingerprint}
        for setting in SETTINGS:
            if setting.kind == "file" and setting.name != "input" and params[setting.name]:
                params[setting.name] = file_fingerprint(params[setting.name])
            elif setting.kind == "files":
                params[setting.name] = [file_fingerprint(path) for path in params[setting.name]]
        return content_key({"params": params, "version": __version__})


def _docstring() -> str:
    """RunParams' docstring: its attributes are the settings, in their own words."""
    lines = [
        "Everything that determines a pipeline result (and nothing about where it runs).",
        "",
        "Attributes",
        "-" * 10,
    ]
    for setting in SETTINGS:
        lines += [setting.name, f"    {setting.label}: {setting.help}."]
    return "\n".join(lines)


def _field(setting: Setting) -> tuple:
    """A RunParams field of ``setting``: (name, type) when required, else with its default."""
    kind = setting.python_type if setting.required or setting.default is not None else setting.python_type | None
    return (setting.name, kind) if setting.required else (setting.name, kind, field(default=setting.default))


#: The one object that flows from the CLI or the dashboard to the pipeline, the cache key and ``run.json``: a
#: frozen dataclass with one field per :data:`~gridapp.jobs.settings.SETTINGS` entry.
RunParams = make_dataclass(
    "RunParams",
    [_field(setting) for setting in SETTINGS],
    bases=(_RunParamsMethods,),
    frozen=True,
    namespace={"__doc__": _docstring(), "__module__": __name__},
)


def content_key(payload: dict) -> str:
    """The one content-address recipe of stored results: the SHA-256 of ``payload`` as sorted JSON (values JSON
    lacks as their text), first 32 hex digits."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


def file_version(path: str | Path) -> tuple[str, int, int, int, int]:
    """What tells one version of a file from another without reading it: path, device, inode, size and
    modification time. The one key of every memo of a file's content (fingerprints, obs tables, layer names,
    unpacked sizes, the form's preview)."""
    info = Path(path).stat()
    return str(path), info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


def known_fingerprint(path: str | Path) -> str:
    """:func:`file_fingerprint`, hashed once per :func:`file_version` (a large dataset is read once)."""
    return _fingerprint_of(file_version(path))


@lru_cache(maxsize=64)
def _fingerprint_of(version: tuple) -> str:
    return file_fingerprint(version[0])


def file_fingerprint(path: str | Path) -> str:
    """SHA-256 of a file's bytes (of every file, in name order, for a folder)."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode())
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


#: RunParams fields in the dashboard's words
FIELD_WORDS = {setting.name: setting.label.lower() for setting in SETTINGS}


def _shown(value: object, name: str) -> str:
    """Setting ``name``'s value as a user reads it: file names without folders, lists joined, nothing as what it
    means (``none``; ``all`` for donors and cell types)."""
    if value is None or value == []:
        return BY_NAME[name].empty
    if isinstance(value, list):
        return ", ".join(_shown(v, name) for v in value)
    return Path(value).name if isinstance(value, str) and "/" in value else str(value)
