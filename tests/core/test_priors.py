"""Every prior format reads into TF, target, sign, confidence."""

from __future__ import annotations

import pytest

from gridapp.core.errors import GridappError
from gridapp.core.priors import prior_targets, read_prior
from tests.conftest import shared


@pytest.mark.needs_shared
@pytest.mark.parametrize(
    ("name", "tf", "target"),
    [
        ("priors/dorothea_hs.tsv.gz", "ADNP", "ATF7IP"),
        ("priors/collectri_human_decoupler.csv.gz", "MYC", "TERT"),
        ("priors/dorothea_ABC_human_decoupler.csv.gz", "FOS", "NTS"),
        ("priors/trrust_rawdata.human.tsv.gz", "AATF", "BAX"),
        ("priors/trrust_via_dorothea_network_with_pubmed.tsv.gz", "AHR", "ABCG2"),
        ("priors/df_TF_gene_link_TRRUST_2019.csv.gz", "AATF", "BBC3"),
        ("priors/TRRUST_Transcription_Factors_2019.gmt.txt.gz", "ABL1", "JUN"),
    ],
)
def test_prior_formats(name, tf, target):
    prior = read_prior(shared(name))
    assert list(prior.columns) == ["TF", "target", "sign", "confidence"]
    assert target in prior_targets(prior)[tf]
    assert not prior.duplicated(["TF", "target"]).any()


@pytest.mark.needs_shared
def test_trrust_modes_become_signs():
    prior = read_prior(shared("priors/trrust_rawdata.human.tsv.gz")).set_index(["TF", "target"])
    assert prior.loc[("AATF", "BAX"), "sign"] == -1 and prior.loc[("AATF", "CDKN1A"), "sign"] == 0


@pytest.mark.needs_shared
def test_dorothea_confidence_filter():
    prior = read_prior(shared("priors/dorothea_hs.tsv.gz"), confidence=["a", "B"])
    assert set(prior["confidence"]) == {"A", "B"}
    with pytest.raises(GridappError, match="no confidence column"):
        read_prior(shared("priors/collectri_human_decoupler.csv.gz"), confidence=["A"])


def test_table_without_tf_columns_is_refused(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("gene,score\nSPI1,1\n")
    with pytest.raises(GridappError, match="no TF/target columns"):
        read_prior(path)
