"""Every run setting declared once: its name, type, default, bounds, label, help, command-line flag and form control.

A :class:`Setting`'s ``name`` is the :class:`~gridapp.jobs.params.RunParams` field and the ``run.json`` key;
its flag (``--cell-type-key``) and its dashboard control id (``cell-type-key``) are that name with dashes, so a
setting has one spelling everywhere. From :data:`SETTINGS` come the ``RunParams`` class itself (fields, defaults,
docstring, bounds checks), the options of ``python -m gridapp run`` and ``compare``, the dashboard form's
controls and the form → parameters function, the page's words for each option, and the settings table of
``docs/cli.md``. A new setting is one entry here (plus the code that uses it); a new method option is one entry
with ``method_option=True`` plus the method's ``infer`` keyword and its ``Method.options``.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

from gridapp.core.errors import GridappError
from gridapp.core.methods import METHOD_IDS, get_method
from gridapp.core.methods.registry import DEFAULT_METHOD

#: how a setting's value is given: one number, a word, a file, several files, several values (comma-separated)
KINDS = ("int", "float", "text", "choice", "file", "files", "values")
#: the groups of the command line's help and of the settings table, in order
GROUPS = ("data", "cell subset", "genes", "inference", "pruning", "activity", "comparison")
#: the pipeline steps that read settings before inference (those that change the cells and genes of a run)
PREPARE_STEPS = ("load", "subset", "genes")
PRUNE_MODES = ("cistarget", "prior", "none")
#: what ``prune`` becomes on the command line when it is not given, from the pruning file that is given
PRUNE_FROM = {"motif_dbs": "cistarget", "prior": "prior"}


@dataclass(frozen=True)
class Setting:
    """One run setting.

    Attributes
    ----------
    name
        The ``RunParams`` field and ``run.json`` key; with dashes, the CLI flag and the form control's id.
    label
        Its name on the page (the form's label, messages, the settings table).
    help
        One line for the CLI's ``--help``, the form's tooltip and the settings table.
    group
        One of :data:`GROUPS`.
    step
        The pipeline step that first reads it (``load``, ``subset`` and ``genes`` decide the cells and genes).
    kind
        One of :data:`KINDS`.
    default
        Its value when not given; ``None`` with ``required`` for the two a run cannot do without.
    low, high, low_open
        Bounds of a number (``low_open``: ``low`` itself is refused).
    step_by
        The form's increment for a number.
    choices
        The values a ``choice`` (or each of ``values``) may take.
    method_option
        Taken by the methods whose ``Method.options`` name it (passed to their ``infer``), ignored by others.
    prune_mode
        Given only with this pruning mode (a prior, the motif files).
    in_form
        The Explore form shows it (``gene_symbols`` is detected; the comparison's own page sets ``group_*``).
    advice
        What to do when a value is refused (after the bounds, in the message).
    empty
        What an empty value means, in words (``all``: every donor, every cell type).
    """

    name: str
    label: str
    help: str
    group: str
    step: str
    kind: str = "text"
    default: object = None
    required: bool = False
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    step_by: float | None = None
    choices: tuple[str, ...] = ()
    method_option: bool = False
    prune_mode: str | None = None
    in_form: bool = True
    advice: str = ""
    empty: str = "none"

    @property
    def flag(self) -> str:
        """The command-line option: ``--`` and the name with dashes."""
        return "--" + self.component

    @property
    def component(self) -> str:
        """The dashboard control's id: the name with dashes."""
        return self.name.replace("_", "-")

    @property
    def python_type(self) -> type:
        """The value's type in ``RunParams``."""
        return {"int": int, "float": float, "files": tuple, "values": tuple}.get(self.kind, str)

    def bounds(self) -> str:
        """The allowed range in words (``in (0, 1]``, ``≥ 1``), empty when unbounded."""
        if self.low is not None and self.high is not None:
            return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}]"
        if self.low is not None:
            return f"{'>' if self.low_open else '≥'} {self.low:g}"
        return ""

    def check(self, value: object) -> None:
        """Refuse ``value`` outside the bounds or choices, naming the flag and what to do."""
        if value is None or value == ():
            return
        if self.kind in ("int", "float"):
            outside = not math.isfinite(value)
            outside |= self.low is not None and (value < self.low or (self.low_open and value == self.low))
            outside |= self.high is not None and value > self.high
            if outside:
                raise GridappError(
                    f"{self.flag} must be {self.bounds()}, got {value:g}.",
                    self.advice or f"{self.label}: {self.help}. Leave it out for the default ({self.default}).",
                )
        if self.choices:
            wrong = [v for v in (value if self.kind == "values" else (value,)) if v not in self.choices]
            if wrong:
                raise GridappError(f"{self.flag} cannot be {wrong[0]!r}.", f"Choose from {', '.join(self.choices)}.")

    def from_form(self, value: object) -> object:
        """The value a form control sent, as this setting's type (empty: the default)."""
        if value is None or value == "" or value == []:
            return self.default
        if self.kind in ("values", "files"):
            if not isinstance(value, list | tuple):
                raise TypeError(f"{self.label} takes a list, got {type(value).__name__}")
            return tuple(str(v) for v in value)
        if self.kind in ("int", "float"):
            number = float(value)
            if self.kind == "int" and not number.is_integer():
                raise ValueError(f"{self.label} takes a whole number, got {value}")
            return int(number) if self.kind == "int" else number
        if not isinstance(value, str):
            raise TypeError(f"{self.label} takes text, got {type(value).__name__}")
        return value

    def methods(self) -> list[str]:
        """The methods that take this setting: all of them, or for a method option those whose ``Method.options``
        name it (their modules are imported to know)."""
        if not self.method_option:
            return list(METHOD_IDS)
        return [method for method in METHOD_IDS if self.name in get_method(method).options]

    def add_to(self, parser: argparse._ActionsContainer) -> None:
        """Add this setting's option to ``parser`` (no default: an option left out is not given)."""
        options: dict = {"help": self.help + (f" (default {self.default})" if self.default not in (None, ()) else "")}
        if self.kind in ("int", "float"):
            options["type"] = int if self.kind == "int" else float
        elif self.kind == "files":
            options["nargs"] = "+"
        elif self.kind == "values":
            options["type"] = comma_separated
        if self.kind == "choice":
            options["choices"] = self.choices
        metavar = {"file": "FILE", "files": "FILE", "values": "A,B", "int": "N", "float": "X"}.get(self.kind)
        if metavar:
            options["metavar"] = metavar
        parser.add_argument(self.flag, dest=self.name, **options)


def comma_separated(value: str) -> tuple[str, ...]:
    """``a, b,c`` → ``('a', 'b', 'c')``."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


SETTINGS: list[Setting] = [
    Setting("input", "Dataset", "expression file: h5ad, loom, 10x .h5 / mtx folder, or CSV/TSV", "data", "load",
            kind="file", required=True),
    Setting("tfs", "TF list", "TF list, one symbol per line, or 'human' / 'mouse' (the shipped SCENIC lists)", "data",
            "load", kind="file", required=True),
    Setting("gene_symbols", "Gene-symbol column", "var column with gene symbols (detected when left out)", "data",
            "load", in_form=False),
    Setting("donor_key", "Donor column", "obs column of donors", "cell subset", "subset"),
    Setting("donors", "Donors", "donors to keep, comma-separated (all when left out)", "cell subset", "subset",
            kind="values", default=(), empty="all"),
    Setting("cell_type_key", "Cell-type column", "obs column of cell types", "cell subset", "subset"),
    Setting("cell_types", "Cell types", "cell types to keep, comma-separated (all when left out)", "cell subset",
            "subset", kind="values", default=(), empty="all"),
    Setting("group_key", "Condition column", "obs column of the condition to compare, e.g. group_id", "comparison",
            "subset", in_form=False),
    Setting("groups", "Conditions", "the two values compared, a,b (delta = b - a)", "comparison", "subset",
            kind="values", default=(), in_form=False),
    Setting("n_top_genes", "Top genes", "highly variable genes kept, besides the TFs", "genes", "genes", kind="int",
            default=3000, low=1, step_by=1),
    Setting("min_cells_fraction", "Min cells", "share of cells a kept gene is detected in", "genes", "genes",
            kind="float", default=0.01, low=0, high=1, step_by=0.005),
    Setting("method", "Method", "GRN inference method", "inference", "grn", kind="choice", default=DEFAULT_METHOD,
            choices=METHOD_IDS),
    Setting("seed", "Seed", "random seed of the inference and of what follows it", "inference", "grn", kind="int",
            default=0, low=0, step_by=1),
    Setting("runs", "Runs", "inference runs with seeds seed .. seed+runs-1, then their consensus", "inference", "grn",
            kind="int", default=1, low=1, high=100, step_by=1),
    Setting("min_occurrence", "Min occurrence", "share of runs an edge or regulon must occur in (runs > 1)",
            "inference", "grn", kind="float", default=0.8, low=0, high=1, low_open=True, step_by=0.05,
            advice="Give a share such as 0.8 of the runs, or --runs 1 for a single run."),
    Setting("target_layer", "Target layer", "layer regressed on the TFs: new / unspliced RNA (X when left out)",
            "inference", "grn", method_option=True),
    Setting("tf_layer", "TF layer", "layer of the TFs' expression: total / spliced RNA (X when left out)",
            "inference", "grn", method_option=True),
    Setting("train_prior", "Training prior", "links a supervised model learns from (DoRothEA, TRRUST, ChIP-seq, ...)",
            "inference", "grn", kind="file", method_option=True),
    Setting("prune", "Pruning", "how modules become regulons: motifs (cistarget), a prior network, or none", "pruning",
            "prune", kind="choice", default="none", choices=PRUNE_MODES),
    Setting("motif_dbs", "Ranking databases", "cisTarget ranking database(s) (.feather)", "pruning", "prune",
            kind="files", default=(), prune_mode="cistarget"),
    Setting("motif_annotations", "Motif annotations", "motif annotations (.tbl or RcisTarget table)", "pruning",
            "prune", kind="file", prune_mode="cistarget"),
    Setting("prior", "Prior network", "prior network (DoRothEA, CollecTRI, TRRUST, ...)", "pruning", "prune",
            kind="file", prune_mode="prior"),
    Setting("prior_confidence", "DoRothEA confidence", "DoRothEA levels to keep, e.g. A,B,C (all when left out)",
            "pruning", "prune", kind="values", default=(), choices=tuple("ABCDE"), prune_mode="prior"),
    Setting("fdr", "Enrichment FDR", "a signed method with a prior keeps TFs whose targets are enriched at this FDR",
            "pruning", "prune", kind="float", default=0.05, low=0, high=1, low_open=True, step_by=0.001),
    Setting("auc_threshold", "AUC threshold", "share of each cell's top-ranked genes AUCell scores (chosen from the "
            "data when left out)", "activity", "aucell", kind="float", low=0, high=1, low_open=True, step_by=0.001,
            advice="Give a share such as 0.05, or leave it out to choose it from the data."),
]  # fmt: skip

#: the settings by name
BY_NAME = {setting.name: setting for setting in SETTINGS}


def settings_of(*groups: str) -> list[Setting]:
    """The settings of ``groups``, in declaration order."""
    return [setting for setting in SETTINGS if setting.group in groups]


def form_settings() -> list[Setting]:
    """The settings the Explore form sets, in declaration order."""
    return [setting for setting in SETTINGS if setting.in_form]


def prepare_settings() -> list[Setting]:
    """The settings read before inference: nothing else changes the cells and genes a run works on."""
    return [setting for setting in SETTINGS if setting.step in PREPARE_STEPS]


def settings_table() -> str:
    """The Markdown table of every setting (docs/cli.md holds it; a test checks it matches)."""
    rows = ["| Setting | CLI flag | Default | Bounds | What it sets |", "|---|---|---|---|---|"]
    for setting in SETTINGS:
        default = "required" if setting.required else "—" if setting.default in (None, ()) else f"`{setting.default}`"
        applies = f" ({', '.join(setting.methods())} only)" if setting.method_option else ""
        applies += f" (with `--prune {setting.prune_mode}`)" if setting.prune_mode else ""
        allowed = setting.bounds() or ("a method id" if setting.name == "method" else ", ".join(setting.choices) or "—")
        rows.append(f"| {setting.label} | `{setting.flag}` | {default} | {allowed} | {setting.help}{applies} |")
    return "\n".join(rows)
