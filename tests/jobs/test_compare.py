"""``python -m gridapp compare`` on Kang 2018 control vs interferon-β: differential regulons, rewiring, donors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gridapp.cli import main
from gridapp.core.compare import DIFFERENTIAL_COLUMNS, differential_activity
from gridapp.jobs.cache import ResultCache
from gridapp.jobs.compare import CompareSpec, IncompleteComparisonError, Missing, load_compare
from gridapp.jobs.params import RunParams
from tests.conftest import shared

pytestmark = [pytest.mark.slow, pytest.mark.needs_shared]
INTERFERON = ("STAT1(+)", "IRF1(+)", "IRF7(+)", "IRF9(+)", "STAT2(+)")


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare")
    argv = [
        "compare",
        "--input",
        str(shared("singlecell/kang2018_muscat_example_sce.h5ad")),
        "--tfs",
        "human",
        "--prior",
        str(shared("priors/dorothea_ABC_human_decoupler.csv.gz")),
        "--cell-type-key",
        "cluster_id",
        "--cell-types",
        "CD14+ Monocytes,CD4 T cells",
        "--n-top-genes",
        "800",
        "--group-key",
        "group_id",
        "--groups",
        "ctrl,stim",
        "--donor-key",
        "sample_id",
        "--reproducibility",
        "--workers",
        "2",
        "--cache-dir",
        str(folder / "cache"),
    ]
    code = main([*argv, "--out", str(folder / "out")])
    return code, folder, argv


def test_compare_writes_every_table(compared):
    code, folder, _ = compared
    out = folder / "out"
    assert code == 0
    expected = {"differential", "rewiring_edges", "rewiring_tfs", "rewiring_regulons", "reproducibility"}
    assert {p.stem for p in out.glob("*.csv")} == expected
    assert (out / "run" / "run.json").is_file() and (out / "run" / "auc.csv").is_file()
    table = pd.read_csv(out / "differential.csv")
    assert tuple(table.columns) == DIFFERENTIAL_COLUMNS
    assert set(table["cell_type"]) == {"CD14+ Monocytes", "CD4 T cells"}
    assert (table[["n_donors_a", "n_donors_b"]] == 2).all().all()  # two samples per condition
    edges = pd.read_csv(out / "rewiring_edges.csv")
    assert set(edges["status"]) == {"kept", "gained", "lost"}
    assert (edges["status"] != "lost").sum() == (edges["status"] != "gained").sum() == 5000  # top 5,000 each
    reproducible = pd.read_csv(out / "reproducibility.csv")
    assert set(reproducible["n_donors"]) == {4} and reproducible["fraction"].between(0.25, 1).all()
    assert reproducible["single_donor"].tolist() == (reproducible["found_in"] == 1).tolist()
    summary = json.loads((out / "compare.json").read_text())
    assert set(summary["keys"]) == {"union", "group ctrl", "group stim"} | {
        f"donor {s}" for s in ("ctrl101", "ctrl107", "stim101", "stim107")
    }


def test_interferon_regulons_rise_in_stimulated_monocytes(compared):
    _, folder, _ = compared
    table = pd.read_csv(folder / "out" / "differential.csv")
    monocytes = table[table["cell_type"] == "CD14+ Monocytes"].set_index("regulon")
    found = [name for name in INTERFERON if name in monocytes.index]
    assert found, f"no interferon regulon survived pruning: {list(monocytes.index)}"
    assert (monocytes.loc[found, "delta"] > 0).all() and (monocytes.loc[found, "log2fc"] > 1).all()
    assert monocytes.loc[found, "qvalue"].min() < 0.05


def test_labels_permuted_within_donors_find_far_fewer(compared):
    _, folder, _ = compared
    keys = json.loads((folder / "out" / "compare.json").read_text())["keys"]
    adata = ResultCache(folder / "cache" / "results").load(keys["union"]).adata.copy()
    donor = adata.obs["sample_id"].astype(str).str[-3:].to_numpy()  # ctrl101 and stim101: donor 101
    labels = adata.obs["group_id"].astype(str).to_numpy().copy()
    rng = np.random.default_rng(0)
    for value in np.unique(donor):
        labels[donor == value] = rng.permutation(labels[donor == value])
    adata.obs["permuted"] = labels

    def significant(group_key: str) -> int:
        table = differential_activity(
            adata, group_key=group_key, groups=("ctrl", "stim"), cell_type_key="cluster_id", donor_key="sample_id"
        )
        return int((table["qvalue"] < 0.05).sum())

    real, permuted = significant("group_id"), significant("permuted")
    assert real >= 4 and permuted <= real // 4, (real, permuted)


def test_a_second_compare_reads_every_run_from_the_cache(compared, tmp_path):
    _, folder, argv = compared
    runs = {p.name for p in (folder / "cache" / "results").iterdir()}
    assert main([*argv, "--out", str(tmp_path / "again")]) == 0
    assert {p.name for p in (folder / "cache" / "results").iterdir()} == runs
    assert (tmp_path / "again" / "differential.csv").read_bytes() == (folder / "out" / "differential.csv").read_bytes()


@pytest.mark.parametrize(
    ("changes", "message", "missing"),
    [
        ({"group_key": "group_id", "groups": ("ctrl",)}, "exactly two different groups", Missing.GROUPS),
        ({"group_key": "group_id", "groups": ("ctrl", "ctrl")}, "exactly two different groups", Missing.GROUPS),
        ({"groups": ("ctrl", "stim")}, "without the obs column holding them", Missing.GROUP_KEY),
        ({"reproducibility": True}, "donor column", Missing.DONOR_KEY),
        ({}, "Nothing to compare", Missing.ANYTHING),
    ],
)
def test_incomplete_comparisons_are_refused_in_no_front_end_s_words(changes, message, missing):
    with pytest.raises(IncompleteComparisonError, match=message) as refused:
        CompareSpec(base=RunParams.demo(donor_key=None), **changes)
    assert refused.value.missing is missing and not refused.value.hint and "--" not in refused.value.message


def test_the_cli_words_an_incomplete_comparison_with_its_options(tmp_path, capsys):
    assert main(["compare", "--demo", "--group-key", "cluster_id", "--out", str(tmp_path / "out")]) == 2
    assert "hint: Give --groups A,B (e.g. --groups ctrl,stim)." in capsys.readouterr().err
    assert main(["compare", "--demo", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "error: Nothing to compare." in err and "hint: Give --group-key COL --groups A,B" in err


def test_an_unknown_group_is_one_clear_line(compared, tmp_path, capsys):
    _, _, argv = compared
    argv = [value if value != "ctrl,stim" else "ctrl,stimulated" for value in argv]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "obs['group_id'] has no value 'stimulated'" in err and "Traceback" not in err


def test_a_stored_comparison_reads_back_whole(compared):
    _, folder, _ = compared
    stored = load_compare(folder / "out")
    assert stored.group_key == "group_id" and stored.groups == ("ctrl", "stim")
    pd.testing.assert_frame_equal(stored.differential, pd.read_csv(folder / "out" / "differential.csv"))
    assert set(stored.rewiring.edges["status"]) == {"kept", "gained", "lost"}
    assert stored.reproducibility is not None and stored.keys["union"] in {
        p.name for p in (folder / "cache" / "results").iterdir()
    }
