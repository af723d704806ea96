"""gridapp's output files read by pySCENIC's own readers and command line, as pySCENIC and SCope users read them."""

from __future__ import annotations

import json
import subprocess
import sys

import anndata as ad
import loompy
import numpy as np
import pandas as pd
import pytest
from ctxcore.genesig import Regulon
from pyscenic.cli.utils import decompress_meta, load_signatures

from gridapp.core.export import REGULON_TARGETS, REGULONS_GMT, REGULONS_YAML, write_regulons
from gridapp.jobs.params import RunParams
from gridapp.jobs.pipeline import run, write_outputs
from tests.core.test_regulons import _planted_cistarget_case
from tests.processes import ROOT


@pytest.fixture(scope="module")
def cistarget(client, tmp_path_factory):
    """A run pruned by cisTarget: planted SPI1 and CEBPB motifs in a ranking database of the wheel's genome."""
    scratch = tmp_path_factory.mktemp("planted")
    adata, targets, database, annotations = _planted_cistarget_case(scratch, np.random.default_rng(11))
    adata.obs_names = [f"cell{i}" for i in range(adata.n_obs)]
    adata.write_h5ad(scratch / "planted.h5ad")
    (scratch / "tfs.txt").write_text("\n".join([*targets, *adata.var_names[-10:]]))  # ≥ 5 TFs; 10 without motifs
    params = RunParams(
        input=str(scratch / "planted.h5ad"),
        tfs=str(scratch / "tfs.txt"),
        prune="cistarget",
        motif_dbs=(str(database),),
        motif_annotations=str(annotations),
        seed=1,
    )
    result = run(params, client=client, cache_dir=scratch)
    out = tmp_path_factory.mktemp("cistarget")
    write_outputs(result, out, cell_type_key=None)
    return result, out


def _described(regulons) -> dict[str, tuple[str, dict[str, float], frozenset[str]]]:
    return {r.name: (r.transcription_factor, dict(r.gene2weight), frozenset(r.context)) for r in regulons}


def _pyscenic(*arguments: str) -> subprocess.CompletedProcess:
    """``python -m gridapp pyscenic ARGUMENTS``, as a user types it."""
    return subprocess.run(
        [sys.executable, "-m", "gridapp", "pyscenic", *arguments], cwd=ROOT, capture_output=True, text=True
    )


def test_yaml_keeps_weights_and_context_of_repressing_regulons_in_plain_text(tmp_path):
    regulons = [
        Regulon(
            name=f"STAT1({sign})",
            gene2weight={np.str_(f"G{i}"): np.float64(i / 3) for i in range(1, 6)},
            gene2occurrence={},
            transcription_factor="STAT1",
            context=frozenset([context]),
        )
        for sign, context in (("+", "activating"), ("-", "repressing"))
    ]
    write_regulons(regulons, tmp_path)
    assert _described(load_signatures(str(tmp_path / REGULONS_YAML))) == _described(regulons)
    assert "numpy" not in (tmp_path / REGULONS_YAML).read_text()  # numbers and names as text, not pickles
    assert list(pd.read_csv(tmp_path / REGULON_TARGETS).columns) == ["regulon", "TF", "target", "weight"]


@pytest.mark.slow
def test_pyscenic_reads_the_regulons_with_their_weights_from_the_yaml(demo_subset):
    result, out = demo_subset
    loaded = load_signatures(str(out / REGULONS_YAML))
    assert all(isinstance(regulon, Regulon) for regulon in loaded)
    assert _described(loaded) == _described(result.regulons)


@pytest.mark.slow
def test_pyscenic_reads_the_gmt_names_and_genes(demo_subset):
    result, out = demo_subset
    loaded = {signature.name: set(signature.genes) for signature in load_signatures(str(out / REGULONS_GMT))}
    assert loaded == {regulon.name: set(regulon.genes) for regulon in result.regulons}


@pytest.mark.slow
def test_loom_metadata_is_compressed_as_export2loom_writes_it_and_holds_the_run(demo_subset):
    result, out = demo_subset
    with loompy.connect(str(out / "result.loom"), mode="r", validate=False) as loom:
        raw = loom.attrs["MetaData"]
        auc = pd.DataFrame.from_records(loom.ca["RegulonsAUC"], index=loom.ca["CellID"])
        expression = loom[:, :]
        genes = list(loom.ra["Gene"])
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)
    metadata = decompress_meta(raw)
    thresholds = {entry["regulon"]: entry["defaultThresholdValue"] for entry in metadata["regulonThresholds"]}
    expected = dict(zip(result.adata.uns["aucell"]["regulons"], result.adata.uns["aucell"]["thresholds"]))
    assert thresholds == pytest.approx({name.replace("(", " (", 1): value for name, value in expected.items()})
    clusters = {cluster["description"] for cluster in metadata["clusterings"][0]["clusters"]}
    assert clusters == {"B cells", "CD14+ Monocytes"}
    table = pd.read_csv(out / "auc.csv", index_col=0)
    table.columns = [name.replace("(", " (", 1) for name in table.columns]
    np.testing.assert_allclose(auc.loc[table.index, table.columns].to_numpy(), table.to_numpy(), rtol=0, atol=1e-12)
    stored = ad.read_h5ad(out / "result.h5ad")  # the matrix AUCell ranked, in both files
    assert genes == list(stored.var_names)
    np.testing.assert_array_equal(expression, stored.X.toarray().T)


@pytest.mark.slow
@pytest.mark.parametrize("expression", ["result.loom", "result.h5ad"])
def test_pyscenic_aucell_on_the_outputs_reproduces_auc_csv(demo_subset, tmp_path, expression):
    _, out = demo_subset
    settings = ad.read_h5ad(out / "result.h5ad").uns["aucell"]
    threshold = json.loads((out / "run.json").read_text())["aucell"]["auc_threshold"]
    assert threshold == settings["auc_threshold"]
    scored = tmp_path / "auc_py.csv"
    done = _pyscenic(
        *("aucell", str(out / expression), str(out / REGULONS_YAML), "--weights"),
        *("--auc_threshold", repr(threshold), "--seed", str(settings["seed"])),
        *("--num_workers", "2", "-o", str(scored)),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    expected = pd.read_csv(out / "auc.csv", index_col=0)
    computed = pd.read_csv(scored, index_col=0).loc[expected.index, expected.columns]
    assert np.abs(computed.to_numpy() - expected.to_numpy()).max() < 1e-6


@pytest.mark.slow
def test_pyscenic_reads_the_motif_table_and_the_yaml_of_a_cistarget_run(cistarget):
    result, out = cistarget
    assert {r.name for r in result.regulons} == {"SPI1(+)", "CEBPB(+)"}
    from_motifs = load_signatures(str(out / "motifs.csv"))  # pySCENIC's ctx table: two header rows
    assert {r.name: dict(r.gene2weight) for r in from_motifs} == {r.name: dict(r.gene2weight) for r in result.regulons}
    assert _described(load_signatures(str(out / REGULONS_YAML))) == _described(result.regulons)


def test_pyscenic_command_line_runs_with_gridapps_patches():
    done = _pyscenic("--help")
    assert done.returncode == 0 and "aucell" in done.stdout, done.stderr[-3000:]


def test_pyscenic_binarize_on_auc_csv_gives_the_stored_thresholds_and_calls(demo_subset):
    """pySCENIC's own threshold rule, run on ``auc.csv`` with the run's seed, gives ``result.h5ad``'s thresholds and
    ``auc_binary.csv``'s calls (pySCENIC's ``binarize`` forks a pool; its per-regulon ``derive_threshold`` does not)."""
    from pyscenic.binarization import derive_threshold

    _, out = demo_subset
    auc = pd.read_csv(out / "auc.csv", index_col=0, float_precision="round_trip")
    stored = ad.read_h5ad(out / "result.h5ad").uns["aucell"]
    seed = int(json.loads((out / "run.json").read_text())["params"]["seed"])
    assert seed, "pySCENIC seeds its dip test only for a nonzero seed"
    theirs = pd.Series({name: derive_threshold(auc, name, seed=seed) for name in auc.columns})
    ours = pd.Series(np.asarray(stored["thresholds"], dtype=float), index=list(stored["regulons"]))
    # equal up to the last bits of the mixture fit, which follow BLAS's threading in the process that ran it
    # (seen: 7e-12 relative); the next seed moves one of these thresholds by 1e-6
    np.testing.assert_allclose(theirs.to_numpy(), ours.loc[theirs.index].to_numpy(), rtol=1e-9, atol=0)
    calls = pd.read_csv(out / "auc_binary.csv", index_col=0)
    pd.testing.assert_frame_equal((auc > theirs).astype(calls.dtypes.iloc[0]), calls, check_names=False)
