"""The dashboard in a real headless Chromium: subset → launch → views → threshold → regulon → export,
cancel, and a broken upload that leaves earlier results in place."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest

from gridapp.core.priors import read_prior
from tests.app.browsing import (
    ROOT,
    SCREENSHOTS,
    SHARED,
    ActionChains,
    By,
    Keys,
    Watch,
    chromium,
    dashboard,
    launch_until_views,
)
from tests.app.browsing import choose as _choose
from tests.app.browsing import launch_and_wait as _launch_and_wait
from tests.app.browsing import text as _text
from tests.app.browsing import type_into as _type
from tests.app.browsing import wait as _wait

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def own_data(tmp_path_factory) -> Path:
    """A data root the dashboard serves, for files a test writes for itself."""
    return tmp_path_factory.mktemp("own-data")


@pytest.fixture(scope="module")
def server(tmp_path_factory, own_data):
    cache = tmp_path_factory.mktemp("cache")
    args = [
        "--cache-dir",
        str(cache),
        "--data-root",
        str(ROOT / "data"),
        # the cache's own result folders double as pySCENIC outputs to open (adjacencies.csv + result.loom)
        "--data-root",
        str(cache / "results"),
        "--data-root",
        str(own_data),  # files a test writes for itself
        "--beeline-root",
        str(SHARED / "beeline"),
        *(["--data-root", str(SHARED / "singlecell")] if (SHARED / "singlecell").is_dir() else []),
    ]
    with dashboard(args, {"GRIDAPP_MAX_UPLOAD_MB": "1"}, log=cache.parent / "server.log") as url:
        yield url, cache


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with chromium(tmp_path_factory.mktemp("downloads")) as driver:
        yield driver


@pytest.fixture(scope="module")
def watch(server, browser) -> Watch:
    """What each test here must leave clean: the browser's console and the server log (tests/app/conftest.py)."""
    _, cache = server
    return Watch([browser], cache.parent / "server.log")


def test_subset_launch_explore_export(server, browser):
    url, _ = server
    browser.get(url)
    _wait(browser, lambda d: "1,045 of 1,045 cells" in _text(d, "cell-count"))
    _choose(browser, "cell-types", "B cells", "CD14+ Monocytes")
    _wait(browser, lambda d: _text(d, "cell-count").startswith("495 of 1,045"))
    _type(browser, "n-top-genes", "300")
    _wait(browser, lambda d: "AUC threshold" in d.find_element(By.ID, "genes-detected").text, 180)
    status = _launch_and_wait(browser)
    assert status.startswith("Done"), status
    _wait(browser, lambda d: "edges kept" in _text(d, "edge-count"))
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#embedding .scatterlayer, #embedding canvas")))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    _screenshot_at_1280(browser, "explore.png")

    before = _text(browser, "edge-count")
    handle = browser.find_element(By.CSS_SELECTOR, "#threshold [role=slider]")
    handle.click()
    handle.send_keys(*[Keys.ARROW_RIGHT] * 30)  # +0.3 log10 units
    _wait(browser, lambda d: _text(d, "edge-count") != before)
    kept_before, kept_after = (int(t.split()[0].replace(",", "")) for t in (before, _text(browser, "edge-count")))
    assert kept_after < kept_before

    _choose(browser, "regulon", "SPI1(+)")
    _wait(browser, lambda d: "edges shown" in _text(d, "network-info"))
    browser.save_screenshot(str(SCREENSHOTS / "network.png"))
    shown = int(_text(browser, "network-info").split()[0].replace(",", ""))
    browser.find_element(By.ID, "export-edges").click()
    exported = _wait(browser, lambda d: next(iter(d.downloads.glob("subnetwork_*.csv")), None), 30)
    time.sleep(0.5)
    assert exported.name.startswith("subnetwork_SPI1+_importance-over-"), exported.name
    table = pd.read_csv(exported)
    assert len(table) == shown > 0
    assert list(table.columns[:3]) == ["TF", "target", "importance"] and {"regulon", "in_prior"} <= set(table.columns)
    assert ((table["TF"] == "SPI1") | (table["target"] == "SPI1")).all()
    in_regulon = table["regulon"].notna() & (table["regulon"] != "")
    assert table.loc[in_regulon, "in_prior"].all()  # prior-pruned regulon edges are prior edges

    # move SPI1(+)'s on/off threshold by clicking the AUC histogram; the on/off export follows it
    title = browser.find_element(By.CSS_SELECTOR, "#auc-dist .gtitle").text
    # the highest-AUC bar tall enough to hover (plotly misses a pointer on a bar a few pixels high)
    bars = [b for b in browser.find_elements(By.CSS_SELECTOR, "#auc-dist .bars .point path") if b.size["height"] >= 10]
    bar = max(bars, key=lambda b: b.rect["x"])
    ActionChains(browser).move_to_element(bar).pause(0.5).click().perform()
    _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#auc-dist .gtitle").text != title)
    n_on = int(browser.find_element(By.CSS_SELECTOR, "#auc-dist .gtitle").text.split(": ")[1].split()[0])
    browser.find_element(By.ID, "export-binary").click()
    binary = _wait(browser, lambda d: next(iter(d.downloads.glob("auc_binary*.csv")), None), 30)
    time.sleep(0.5)
    assert pd.read_csv(binary, index_col=0)["SPI1(+)"].sum() == n_on


def test_score_against_a_prior_draws_precision_on_the_histogram(server, browser):
    _choose(browser, "score-prior", "dorothea_ABC_kang.tsv")
    note = _wait(browser, lambda d: "AUROC" in _text(d, "prior-score") and _text(d, "prior-score"))
    assert "vs dorothea_ABC_kang.tsv" in note and "precision" in note, note
    traces = "#importance-hist .scatterlayer .trace"
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, traces)) == 2)  # precision + random level
    axis = browser.find_element(By.CSS_SELECTOR, "#importance-hist .g-y2title").text
    assert axis == "precision vs prior"
    # the network and its CSV export mark the edges the chosen prior knows
    before = set(browser.downloads.glob("subnetwork_*.csv"))
    browser.find_element(By.ID, "export-edges").click()
    exported = _wait(browser, lambda d: next(iter(set(d.downloads.glob("subnetwork_*.csv")) - before), None), 30)
    time.sleep(0.5)
    table = pd.read_csv(exported)
    prior = read_prior(ROOT / "data" / "demo" / "dorothea_ABC_kang.tsv")
    known = set(zip(prior["TF"], prior["target"]))
    assert table["in_prior"].tolist() == [pair in known for pair in zip(table["TF"], table["target"])]
    assert table["in_prior"].any()


def test_benchmark_page_scores_methods_in_the_background(server, browser):
    if not (SHARED / "beeline" / "networks").is_dir():
        pytest.skip("needs ../shared/data/beeline (shared test data is not beside this checkout)")
    browser.find_element(By.XPATH, "//*[@id='page']//label[normalize-space(.)='Benchmark']").click()
    _wait(browser, lambda d: d.find_element(By.ID, "bench-run").is_displayed())
    assert not browser.find_element(By.ID, "launch").is_displayed()
    # default: 4 methods on mDC-500-Specific
    status = _launch_and_wait(browser, 300, "bench-run", "bench-status", "Benchmark failed")
    assert status.startswith("Done"), status
    rows = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#bench-table tbody tr"))
    text = " ".join(r.text for r in rows)
    assert all(m in text for m in ("grnboost2-fast", "pearson", "spearman", "mi")), text
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#bench-curves .scatterlayer .trace")) >= 9)
    browser.save_screenshot(str(SCREENSHOTS / "benchmark.png"))
    browser.find_element(By.ID, "bench-export").click()
    exported = _wait(browser, lambda d: next(iter(d.downloads.glob("benchmark_scores*.csv")), None), 30)
    time.sleep(0.5)
    scores = pd.read_csv(exported)
    assert set(scores["method"]) == {"grnboost2-fast", "pearson", "spearman", "mi"}
    assert set(scores["metric"]) >= {"auroc", "auprc_ratio", "early_precision_ratio"}
    browser.find_element(By.XPATH, "//*[@id='page']//label[normalize-space(.)='Explore']").click()
    _wait(browser, lambda d: d.find_element(By.ID, "launch").is_displayed())


LASSO = """
const cover = arguments[0], box = cover.getBoundingClientRect();
const fire = (type, x, y) => cover.dispatchEvent(
  new MouseEvent(type, {bubbles: true, cancelable: true, clientX: x, clientY: y, buttons: 1, view: window}));
const cx = box.left + box.width / 2, cy = box.top + box.height / 2, rx = box.width / 3, ry = box.height / 3;
fire("mousedown", cx - rx, cy);
for (let i = 0; i <= 40; i++) {
  fire("mousemove", cx - rx * Math.cos(Math.PI * i / 20), cy - ry * Math.sin(Math.PI * i / 20));
}
fire("mouseup", cx - rx, cy);
"""


def test_lasso_selection_shows_in_the_clustermap(server, browser):
    # plotly's own mouse handlers draw the lasso (an elliptic path over the middle of the embedding)
    _wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, "[data-dash-is-loading=true]"))
    browser.execute_script(LASSO, browser.find_element(By.CSS_SELECTOR, "#embedding .nsewdrag"))
    labels = "return Array.from(document.querySelectorAll('#clustermap g[class*=tick] text'), t => t.textContent)"
    label = _wait(browser, lambda d: next((t for t in d.execute_script(labels) if t.startswith("selected (")), None))
    assert 0 < int(label.split("(")[1].split()[0]) < 495


#: every view's title (plotly's .gtitle) by graph id, as the page shows it
TITLES = """return Object.fromEntries(['embedding', 'auc-dist', 'clustermap', 'tf-heatmap'].map(
    id => [id, (document.querySelector('#' + id + ' .gtitle') || {}).textContent || '']))"""


def _titles(driver) -> dict[str, str]:
    return {k: v.replace("\u00a0", " ") for k, v in driver.execute_script(TITLES).items()}


def test_opening_a_smaller_run_drops_the_selection_and_every_view_follows(server, browser):
    [big] = [o for o in _options(browser, "cached-runs") if "B cells, CD14+ Monocytes" in o]
    regulon_a, regulons_a = _text(browser, "regulon"), _prop(browser, "regulon", "options")
    assert any(t.startswith("selected (") for t in browser.execute_script(CLUSTERMAP_LABELS))  # the lasso's row
    # run B: fewer cells (B cells only); the lasso made on run A is still in the page
    _choose(browser, "cell-types", "CD14+ Monocytes")  # a second click on a chosen option removes it
    _wait(browser, lambda d: _text(d, "cell-count").startswith("126 of 1,045"))  # the B cells
    assert _launch_and_wait(browser, 900).startswith("Done")
    small = _wait(browser, lambda d: (n := _cells_shown(_text(d, "result-info"))) and n < 495 and n)
    cells = f"{small:,} cells"
    _wait(browser, lambda d: all(cells in t for t in _titles(d).values()), 60)
    titles = _titles(browser)
    assert f"of {cells}" in titles["auc-dist"], titles  # "<regulon>: n of N cells on"
    assert "dropped" in _text(browser, "view-note")
    assert not any(t.startswith("selected (") for t in browser.execute_script(CLUSTERMAP_LABELS))
    regulon_b, regulons_b = _text(browser, "regulon"), _prop(browser, "regulon", "options")
    assert regulon_b == (regulon_a if regulon_a in regulons_b else regulons_b[0])  # the regulon shown stays if it can
    _choose(browser, "cached-runs", big)  # back to run A from the cached runs: its own counts again, still no selection
    _wait(browser, lambda d: all("495 cells" in t for t in _titles(d).values()), 60)
    assert _text(browser, "regulon") == (regulon_b if regulon_b in regulons_a else regulons_a[0])
    _choose(browser, "cell-types", "CD14+ Monocytes")  # the form as the next tests expect it


CLUSTERMAP_LABELS = (
    "return Array.from(document.querySelectorAll('#clustermap g[class*=tick] text'), t => t.textContent)"
)
#: the network as drawn: the focus node, and each TF label's size on screen (font size × zoom)
NETWORK = """const cy = document.getElementById('network')._cyreg.cy;
return {focus: cy.nodes('.focus').map(n => n.id()),
        tfLabelPx: cy.nodes('.tf').map(n => parseFloat(n.renderedStyle('font-size')))};"""


def _cells_shown(info: str) -> int | None:
    """The number of cells in the result line ("Showing data.h5ad · B cells · 123 cells · ...")."""
    found = re.search(r"· ([\d,]+) cells ·", info)
    return int(found.group(1).replace(",", "")) if found else None


def _prop(driver, component_id: str, name: str) -> object:
    """A property of a Dash component as the page holds it (a dropdown's options: all of them, not only those drawn)."""
    return driver.execute_script(
        "return window.dash_component_api.getLayout(arguments[0]).props[arguments[1]]", component_id, name
    )


def _options(driver, dropdown_id: str) -> list[str]:
    """The labels a dropdown offers (it is opened and closed again)."""
    driver.find_element(By.ID, dropdown_id).click()
    labels = [o.text for o in _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "[role=option]"))]
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    return labels


def test_the_selected_regulon_shows_in_every_view(server, browser):
    _choose(browser, "regulon", "STAT1(+)")
    _wait(browser, lambda d: "STAT1(+)" in _titles(d)["embedding"] and "STAT1(+)" in _titles(d)["auc-dist"], 60)
    assert "AUC" in _titles(browser)["embedding"]  # coloured by the selected regulon's AUC
    _wait(browser, lambda d: "STAT1(+)" in _text(d, "regulon-summary"))
    # the marked tick label is bold (plotly keeps the label's markup in data-unformatted)
    labels = "return Array.from(document.querySelectorAll('#ID g[class*=tick] text'), t => t.dataset.unformatted)"
    for graph, label in (("clustermap", "STAT1(+)"), ("tf-heatmap", "STAT1")):
        _wait(browser, lambda d, g=graph, x=label: f"<b>{x}</b>" in d.execute_script(labels.replace("ID", g)), 60)
    # STAT1 has no edge above test 1's raised threshold: the network follows the next choice, SPI1(+)
    _choose(browser, "regulon", "SPI1(+)")
    drawn = _wait(browser, lambda d: (n := d.execute_script(NETWORK))["focus"] == ["SPI1"] and n, 60)
    assert min(drawn["tfLabelPx"]) >= 10, drawn  # TF labels legible at the initial fit
    legend = _text(browser, "network-legend")
    assert all(word in legend for word in ("TF", "target", "importance", "prior"))
    _screenshot_at_1280(browser, "regulon.png", scroll_to="network")


def _screenshot_at_1280(driver, name: str, scroll_to: str | None = None) -> None:
    """A README screenshot of the page as a 1280×800 window shows it (optionally scrolled to an element)."""
    driver.set_window_size(1280, 800)
    if scroll_to:
        driver.execute_script("document.getElementById(arguments[0]).scrollIntoView()", scroll_to)
    time.sleep(2)  # the graphs refit to the narrower window
    driver.save_screenshot(str(SCREENSHOTS / name))
    driver.execute_script("window.scrollTo(0, 0)")
    driver.set_window_size(1600, 2300)


def test_cancel_leaves_no_cache_entry(server, browser):
    _, cache = server
    stored = {p.name for p in (cache / "results").iterdir() if not p.name.startswith(".")}
    _type(browser, "seed", "7")
    _type(browser, "runs", "30")  # 30 seeds: the run cannot end before the click on Cancel
    browser.find_element(By.ID, "launch").click()
    _wait(browser, lambda d: "step" in _text(d, "status"), 60)
    browser.find_element(By.ID, "cancel").click()
    _wait(browser, lambda d: d.find_element(By.ID, "launch").is_enabled(), 60)
    time.sleep(2)
    assert {p.name for p in (cache / "results").iterdir() if not p.name.startswith(".")} == stored
    assert _text(browser, "status").startswith("Cancelled")
    _type(browser, "runs", "1")


def test_a_run_failing_midway_says_why_and_results_stay(server, browser):
    _, cache = server
    stored = {p.name for p in (cache / "results").iterdir() if not p.name.startswith(".")}
    kept = _text(browser, "edge-count")
    _choose(browser, "tfs", "allTFs_mm.txt")  # a mouse TF list on human PBMCs: fails at the gene step
    status = _launch_and_wait(browser, 120)
    assert status.startswith("Run failed") and "another species" in status, status
    assert _text(browser, "edge-count") == kept
    assert {p.name for p in (cache / "results").iterdir() if not p.name.startswith(".")} == stored
    _choose(browser, "tfs", "tfs_hg38_in_kang.txt")


def _unannotated_h5ad(path):
    import anndata as ad
    import numpy as np

    ad.AnnData(np.ones((30, 5), dtype=np.float32)).write_h5ad(path)
    return path


@pytest.mark.parametrize(
    ("name", "write", "message"),
    [
        ("broken.h5ad", lambda p: p.write_text("<html><body>not data</body></html>"), "HTML"),
        ("huge.h5ad", lambda p: p.write_bytes(os.urandom(3 * 2**20)), "over the 1 MB limit"),
        ("bare.h5ad", _unannotated_h5ad, "no obs column to choose cells by"),
    ],
)
def test_bad_upload_is_refused_and_results_stay(server, browser, tmp_path, name, write, message):
    kept = _text(browser, "edge-count")
    write(tmp_path / name)
    browser.find_element(By.CSS_SELECTOR, "#upload input[type=file]").send_keys(str(tmp_path / name))
    _wait(browser, lambda d: "Upload refused" in _text(d, "message") and name in _text(d, "message"))
    assert message in _text(browser, "message")
    assert _text(browser, "edge-count") == kept


def test_open_a_pyscenic_output_without_recomputing(server, browser):
    url, cache = server
    before = {p.name for p in (cache / "results").iterdir() if not p.name.startswith(".")}
    browser.get(url)
    _wait(browser, lambda d: "cells selected" in _text(d, "cell-count") and d.find_element(By.ID, "pyscenic-folder"))
    _choose(browser, "pyscenic-folder", sorted(before)[0])
    shown = _text(browser, "result-info")  # the page opens on the most recent result
    browser.find_element(By.ID, "open-output").click()
    _wait(browser, lambda d: _text(d, "result-info") != shown and "edges kept" in _text(d, "edge-count"), 180)
    after = {p.name for p in (cache / "results").iterdir() if not p.name.startswith(".")}
    assert len(after - before) == 1 and _text(browser, "message") == ""
    [imported] = after - before
    assert '"method": "imported"' in (cache / "results" / imported / "params.json").read_text()


def test_compare_two_conditions_and_select_a_regulon_on_the_volcano(server, browser):
    if not (SHARED / "singlecell" / "kang2018_muscat_example_sce.h5ad").is_file():
        pytest.skip("needs ../shared/data/singlecell (shared test data is not beside this checkout)")
    url, _ = server
    browser.get(url)
    _wait(browser, lambda d: "cells selected" in _text(d, "cell-count"))
    _choose(browser, "input", "kang2018_muscat_example_sce.h5ad")
    _wait(browser, lambda d: "of 1,556 cells" in _text(d, "cell-count"))
    _choose(browser, "cell-types", "CD14+ Monocytes")
    _choose(browser, "tfs", "allTFs_hg38.txt")
    _type(browser, "n-top-genes", "300")
    browser.find_element(By.XPATH, "//*[@id='page']//label[normalize-space(.)='Compare']").click()
    _wait(browser, lambda d: d.find_element(By.ID, "compare-run").is_displayed())
    assert browser.find_element(By.ID, "launch").is_displayed()  # the control column stays
    _wait(browser, lambda d: "group_id" in _text(d, "group-key"))
    _choose(browser, "group-a", "ctrl")
    _choose(browser, "group-b", "stim")
    status = _launch_and_wait(browser, 400, "compare-run", "compare-status", "Comparison failed")
    assert status.startswith("Done"), status
    points = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#volcano .scatterlayer .point"))
    regulons = browser.execute_script("return document.querySelector('#volcano .js-plotly-plot').data[0].customdata")
    assert len(points) == len(regulons) > 3
    assert browser.find_elements(By.CSS_SELECTOR, "#delta-heatmap .heatmaplayer")
    chosen = next((r for r in ("STAT1(+)", "IRF1(+)", "IRF2(+)") if r in regulons), regulons[0])
    ActionChains(browser).move_to_element(points[regulons.index(chosen)]).pause(0.5).click().perform()
    _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#split-embedding .gtitle").text == chosen)
    assert _text(browser, "rewiring-info").startswith(chosen.split("(")[0] + ":")
    panels = "return document.querySelector('#split-embedding .js-plotly-plot').data.map(t => t.name)"
    assert browser.execute_script(panels) == ["ctrl", "stim"]
    browser.save_screenshot(str(SCREENSHOTS / "compare.png"))
    browser.find_element(By.XPATH, "//button[normalize-space(.)='Differential CSV']").click()
    exported = _wait(browser, lambda d: next(iter(d.downloads.glob("differential*.csv")), None), 30)
    time.sleep(0.5)
    table = pd.read_csv(exported)
    assert set(table["cell_type"]) == {"CD14+ Monocytes"} and set(table["regulon"]) == set(regulons)
    # the run on both groups is open on the Explore page, with the clicked regulon selected
    browser.find_element(By.XPATH, "//*[@id='page']//label[normalize-space(.)='Explore']").click()
    _wait(browser, lambda d: "edges kept" in _text(d, "edge-count"))
    assert chosen in _text(browser, "regulon")


def test_lasso_on_new_rna_shows_signed_links_and_the_enrichment_table(server, browser, own_data):
    trrust = SHARED / "priors" / "df_TF_gene_link_TRRUST_2019.csv.gz"
    if not trrust.is_file():
        pytest.skip("needs ../shared/data/priors (shared test data is not beside this checkout)")
    import anndata as ad
    import numpy as np
    import scipy.sparse as sp

    # the demo donor's B cells and CD14+ monocytes, each UMI new RNA with probability 0.3
    adata = ad.read_h5ad(ROOT / "data" / "demo" / "kang2018_donor1016.h5ad")
    adata = adata[adata.obs["cluster_id"].isin(["B cells", "CD14+ Monocytes"])].copy()
    counts = sp.csr_matrix(adata.X)
    new = counts.copy()
    new.data = np.random.default_rng(0).binomial(counts.data.astype(np.int64), 0.3).astype(np.float32)
    adata.layers["total"], adata.layers["new"] = counts, new
    adata.write_h5ad(own_data / "kang_thinned.h5ad")
    shutil.copy(trrust, own_data / trrust.name)

    url, _ = server
    browser.get(url)
    _wait(browser, lambda d: "cells selected" in _text(d, "cell-count"))
    assert not browser.find_element(By.ID, "target-layer").is_displayed()  # the default method reads X only
    _choose(browser, "input", "kang_thinned.h5ad")
    _wait(browser, lambda d: "495 of 495 cells" in _text(d, "cell-count"))
    _choose(browser, "method", "LASSO regression")
    _wait(browser, lambda d: d.find_element(By.ID, "target-layer").is_displayed())
    _choose(browser, "target-layer", "new")
    _choose(browser, "tf-layer", "total")
    _type(browser, "fdr", "0.3")
    _type(browser, "n-top-genes", "1000")
    _choose(browser, "prior", trrust.name)
    status = _launch_and_wait(browser, 600)
    assert status.startswith("Done"), status
    _wait(browser, lambda d: "|coefficient|" in d.find_element(By.CSS_SELECTOR, "#importance-hist .gtitle").text)
    names = "return document.querySelector('#importance-hist .js-plotly-plot').data.map(t => t.name)"
    assert browser.execute_script(names)[:2] == ["activating", "repressing"]
    heights = "return Array.from(document.querySelector('#importance-hist .js-plotly-plot')._fullData[1].y)"
    assert min(browser.execute_script(heights)) < 0  # repressing links below the axis
    rows = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#enrichment-table tbody tr"))
    assert browser.find_element(By.ID, "enrichment-panel").is_displayed() and len(rows) > 1
    assert "yes" in " ".join(r.text for r in rows)  # some TF passed the filter
    browser.save_screenshot(str(SCREENSHOTS / "lasso.png"))
    before = set(browser.downloads.glob("subnetwork_*.csv"))
    browser.find_element(By.ID, "export-edges").click()
    exported = _wait(browser, lambda d: next(iter(set(d.downloads.glob("subnetwork_*.csv")) - before), None), 30)
    time.sleep(0.5)
    table = pd.read_csv(exported)
    assert len(table) > 0 and np.allclose(table["importance"], table["coefficient"].abs())
    in_regulon = table["regulon"].fillna("")
    assert (table.loc[in_regulon.str.endswith("(+)"), "coefficient"] > 0).all()
    assert (table.loc[in_regulon.str.endswith("(-)"), "coefficient"] < 0).all()


def test_a_supervised_model_trains_on_a_prior_from_the_dashboard(server, browser):
    pytest.importorskip("torch", reason="the supervised models need PyTorch (requirements-ml.txt)")
    url, _ = server
    browser.get(url)
    _wait(browser, lambda d: "1,045 of 1,045 cells" in _text(d, "cell-count"))
    assert not _wait(browser, lambda d: d.find_element(By.ID, "train-fields")).is_displayed()
    _choose(browser, "method", "scGREAT-style pair transformer")
    _wait(browser, lambda d: d.find_element(By.ID, "train-fields").is_displayed())
    _choose(browser, "train-prior", "dorothea_ABC_kang.tsv")
    _choose(browser, "cell-types", "B cells", "CD14+ Monocytes")
    _type(browser, "n-top-genes", "300")
    status = _launch_and_wait(browser, 900)  # five models trained at the jobs' low priority: minutes on a busy box
    assert status.startswith("Done"), status
    # the page showed the most recent result before: wait for the new one to open
    _wait(
        browser,
        lambda d: "scgreat" in d.find_element(By.ID, "cached-runs").text and "edges kept" in _text(d, "edge-count"),
    )


def test_time_to_first_regulons_is_logged(server, browser, record_property):
    """Launch → every Explore view, for the demo's B cells + CD14+ monocytes and for the whole demo donor (form
    defaults, seeds no other test uses): both must show; their seconds go to the log, not into an assertion
    (issue 27's targets, 10 s and 15 s on 2 idle cores, are measured by benchmarks/bench_latency.py). Last in
    this module: it leaves the page on a result and cell choice the other tests do not expect."""
    url, _ = server
    browser.get(url)
    _wait(browser, lambda d: "1,045 of 1,045 cells" in _text(d, "cell-count"))
    _type(browser, "seed", "11")
    _choose(browser, "cell-types", "B cells", "CD14+ Monocytes")
    _wait(browser, lambda d: _text(d, "cell-count").startswith("495 of 1,045"))
    _, subset = launch_until_views(browser, 495)
    _choose(browser, "cell-types", "B cells", "CD14+ Monocytes")  # unticked: every cell of the donor
    _wait(browser, lambda d: _text(d, "cell-count").startswith("1,045 of 1,045"))
    _, donor = launch_until_views(browser, 1045)
    record_property(
        "log", f"time to first regulons (Launch → every view): demo subset {subset:.1f} s, demo donor {donor:.1f} s"
    )
