"""The network panel in a real headless Chromium: legible labels at the first fit and at any zoom, the
legend, the layouts, the gene search, the refit after a window resize and the image export."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dash import Dash, html
from werkzeug.serving import make_server

from gridapp.app import network_panel
from gridapp.figures.network import TOP_TARGETS, network_elements
from tests.app.browsing import ActionChains, By, Keys, Watch, chromium, wait
from tests.processes import ROOT, free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOT = "/tmp/network-check.png"
TFS = ("SPI1", "CEBPB", "TCF7")


def synthetic_edges(n_targets: int = 150, seed: int = 3) -> pd.DataFrame:
    """3 TFs (SPI1 regulating CEBPB) and ``n_targets`` targets, with heavy-tailed importances, some links in
    the prior and signed coefficients; SPI1's strongest target is LYZ."""
    rng = np.random.default_rng(seed)
    targets = ["LYZ", *(f"GENE{i:03d}" for i in range(n_targets - 1))]
    rows = [("SPI1", "CEBPB", 30.0)]
    for i, target in enumerate(targets):
        for tf in rng.choice(TFS, size=1 + (i % 7 == 0), replace=False):
            rows.append((tf, target, float(rng.lognormal(0.0, 1.2))))
    edges = pd.DataFrame(rows, columns=["TF", "target", "importance"])
    edges.loc[(edges["TF"] == "SPI1") & (edges["target"] == "LYZ"), "importance"] = 60.0
    return edges.assign(
        in_prior=rng.random(len(edges)) < 0.15, coefficient=np.where(rng.random(len(edges)) < 0.25, -1.0, 1.0)
    ).sort_values("importance", ascending=False, ignore_index=True)


EDGES = synthetic_edges()


@contextmanager
def serving(app: Dash, log: Path) -> Iterator[str]:
    """``app`` served from a thread on a free port, its access log written to ``log``; yields its URL."""
    access = logging.getLogger("werkzeug")
    handler = logging.FileHandler(log)
    access.addHandler(handler)
    server = make_server("127.0.0.1", free_port(), app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        access.removeHandler(handler)
        handler.close()


def network_app(edges: pd.DataFrame) -> Dash:
    """The panel as the Explore page lays it out (half of a two-column grid), showing ``edges``."""
    app = Dash(__name__, assets_folder=str(ROOT / "assets"))
    children = network_panel.network_panel()
    graph = next(child for child in children if getattr(child, "id", None) == "network")
    graph.elements = network_elements(edges, focus=("SPI1",), top=TOP_TARGETS)
    app.layout = html.Div(
        [html.Section("the other views", className="panel"), html.Section(children, className="panel")],
        style={"display": "grid", "gridTemplateColumns": "1fr 1fr", "gap": "0.8rem"},
    )
    network_panel.register(app)
    return app


def js(driver, expression: str):
    """``expression`` evaluated in the page with ``cy`` bound to the network's Cytoscape instance."""
    return driver.execute_script(f"const cy = document.getElementById('network')._cyreg.cy; return {expression};")


def label_px(driver, gene: str) -> float:
    """The height of ``gene``'s label on screen: its font size (graph units) × the zoom."""
    return js(driver, f"parseFloat(cy.getElementById('{gene}').style('font-size')) * cy.zoom()")


def label_drawn(driver, gene: str) -> bool:
    """Whether Cytoscape draws ``gene``'s label now: not transparent, and not under its min-zoomed-font-size
    by the renderer's own test."""
    node = f"cy.getElementById('{gene}')"
    return js(driver, f"{node}.style('text-opacity') > 0 && cy.renderer().eleTextBiggerThanMin({node})")


def positions(driver) -> dict[str, tuple[float, float]]:
    return js(driver, "Object.fromEntries(cy.nodes().map((n) => [n.id(), [n.position('x'), n.position('y')]]))")


def graph_inside_viewport(driver) -> bool:
    """Whether every element is drawn inside the graph's box (and the canvas fills the box)."""
    return js(
        driver,
        "(() => { const b = cy.elements().renderedBoundingBox(); const box = cy.container();"
        " return cy.width() === box.clientWidth && cy.height() === box.clientHeight"
        " && b.x1 >= -1 && b.y1 >= -1 && b.x2 <= cy.width() + 1 && b.y2 <= cy.height() + 1; })()",
    )


def centred(gene: str):
    """A wait condition: ``gene`` is drawn at the centre of the graph's box."""
    node = f"cy.getElementById('{gene}')"
    return lambda d: js(
        d,
        f"Math.abs({node}.renderedPosition('x') - cy.width() / 2) < 2"
        f" && Math.abs({node}.renderedPosition('y') - cy.height() / 2) < 2",
    )


def choose_layout(driver, label: str) -> None:
    driver.find_element(By.XPATH, f"//div[@id='network-layout']//label[normalize-space(.)='{label}']").click()


def search(driver, gene: str) -> None:
    box = driver.find_element(By.ID, "network-search")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(gene, Keys.ENTER)


@pytest.fixture(scope="module")
def server_log(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("server") / "access.log"


@pytest.fixture(scope="module")
def page(tmp_path_factory, server_log):
    with serving(network_app(EDGES), server_log) as url, chromium(tmp_path_factory.mktemp("downloads")) as driver:
        driver.set_window_size(1280, 800)
        driver.get(url)
        wait(
            driver, lambda d: d.execute_script("const c = document.getElementById('network'); return !!(c && c._cyreg)")
        )
        n_nodes = len(set(EDGES["TF"]) | set(EDGES["target"]))
        wait(driver, lambda d: js(d, "cy.nodes().length") == n_nodes, 30)
        wait(driver, lambda d: label_px(d, "SPI1") >= 10, 10)  # the labels are rescaled on the next frame
        yield driver


@pytest.fixture(scope="module")
def watch(page, server_log) -> Watch:
    """What each test here must leave clean: the browser's console and the server log (tests/app/conftest.py)."""
    return Watch([page], server_log)


def test_labels_are_legible_at_the_first_fit_and_at_any_zoom(page):
    zoom = js(page, "cy.zoom()")
    assert zoom < 1, "150 targets should not fit in half a 1280 px window at zoom 1"
    page.save_screenshot(SCREENSHOT)
    assert all(label_px(page, tf) >= 10 for tf in TFS)
    assert label_px(page, "LYZ") >= 10 and label_drawn(page, "LYZ")  # SPI1's strongest target: class top
    assert not label_drawn(page, "GENE140")  # the others wait until zoomed in
    js(page, "void cy.zoom(0.2)")
    wait(page, lambda d: 12 <= label_px(d, "SPI1") <= 14 and label_px(d, "LYZ") >= 10, 5)
    js(page, "void cy.zoom(2)")
    wait(page, lambda d: label_drawn(d, "GENE140") and label_px(d, "GENE140") >= 10, 5)
    assert label_px(page, "SPI1") >= 20  # zoomed in, labels grow with the graph
    js(page, "void cy.fit(undefined, 30)")


def test_a_drawn_network_goes_quiet(page):
    """Once drawn, nothing changes the graph by itself: a class change (a late refit can flip every node's label
    class once: one event per node) does not keep re-running the label pass. Before the fix a node class was
    toggled on every frame: 16,218 class changes in 2 s, and Chromium redrawing the network for ever."""
    js(page, "(window.gridappClassChanges = 0, cy.on('class', () => window.gridappClassChanges++), true)")
    assert quiet_within(page, 15)
    js(page, "(cy.zoom(cy.zoom() * 1.5), true)")  # a zoom past the gene-label zoom changes the classes once
    assert quiet_within(page, 15)
    js(page, "(cy.fit(undefined, 30), true)")


def quiet_within(driver, seconds: float, window: float = 2.0) -> bool:
    """Whether, within ``seconds``, the network has a ``window`` of seconds without any class change."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        before = driver.execute_script("return window.gridappClassChanges")
        time.sleep(window)
        if driver.execute_script("return window.gridappClassChanges") == before:
            return True
    return False


def test_the_legend_explains_the_marks(page):
    legend = page.find_element(By.ID, "network-legend").text
    for words in ("TF", "target", "importance", "prior", "repressing", "selected TF"):
        assert words in legend, words


def test_each_layout_moves_the_nodes_and_keeps_the_graph_in_view(page):
    before = positions(page)
    for label in ("Force directed", "Concentric by importance", "Hops from the selected TF", "Radial"):
        choose_layout(page, label)
        wait(page, lambda d, b=before: positions(d) != b, 30)
        after = positions(page)
        moved = sum(np.hypot(after[g][0] - before[g][0], after[g][1] - before[g][1]) > 1 for g in after)
        assert moved > len(after) / 2, label
        wait(page, graph_inside_viewport, 10)
        if label == "Concentric by importance":  # the TFs make the inner ring
            centre = js(
                page,
                "[cy.nodes().boundingBox().x1 + cy.nodes().boundingBox().w / 2,"
                " cy.nodes().boundingBox().y1 + cy.nodes().boundingBox().h / 2]",
            )
            radius = {g: np.hypot(after[g][0] - centre[0], after[g][1] - centre[1]) for g in after}
            assert max(radius[tf] for tf in TFS) < min(r for g, r in radius.items() if g not in TFS)
        if label == "Hops from the selected TF":  # SPI1 in the middle, ringed by its own targets
            radius = {g: np.hypot(after[g][0] - after["SPI1"][0], after[g][1] - after["SPI1"][1]) for g in after}
            own = set(EDGES.loc[EDGES["TF"] == "SPI1", "target"])
            assert max(radius[g] for g in own) < min(r for g, r in radius.items() if g not in own | {"SPI1"})
        before = after


def test_search_focuses_a_gene_or_says_it_is_absent(page):
    search(page, "lyz")
    wait(page, lambda d: js(d, "cy.getElementById('LYZ').hasClass('found')"), 5)
    wait(page, centred("LYZ"), 5)
    assert js(page, "cy.zoom()") >= 1.5
    assert label_drawn(page, "LYZ") and "LYZ" in page.find_element(By.ID, "network-note").text
    js(page, "void cy.panBy({x: 200, y: 100})")
    search(page, "lyz")  # the same gene again: Enter centres it again
    wait(page, centred("LYZ"), 5)
    search(page, "NOTAGENE")
    wait(page, lambda d: "NOTAGENE is not in this network" in d.find_element(By.ID, "network-note").text, 5)
    assert js(page, "cy.nodes('.found').length") == 0


def test_hovering_a_gene_shows_its_label(page):
    js(page, "void cy.fit(undefined, 30)")
    wait(page, lambda d: not label_drawn(d, "GENE140"), 5)
    x, y = js(
        page,
        "[cy.container().getBoundingClientRect().left + cy.getElementById('GENE140').renderedPosition('x'),"
        " cy.container().getBoundingClientRect().top + cy.getElementById('GENE140').renderedPosition('y')]",
    )
    ActionChains(page).move_to_location(int(x), int(y)).perform()
    wait(page, lambda d: js(d, "cy.getElementById('GENE140').hasClass('hover')"), 5)
    wait(page, lambda d: label_drawn(d, "GENE140") and label_px(d, "GENE140") >= 10, 5)
    assert js(page, "cy.getElementById('GENE140').connectedEdges('.hover').length") >= 1
    ActionChains(page).move_to_location(5, 5).perform()
    wait(page, lambda d: not label_drawn(d, "GENE140"), 5)


def test_a_window_resize_refits_the_graph(page):
    js(page, "void cy.zoom({level: 3, renderedPosition: {x: 0, y: 0}})")
    assert not graph_inside_viewport(page)
    width = js(page, "cy.width()")
    page.set_window_size(900, 700)
    wait(page, lambda d: js(d, "cy.width()") < width - 100 and graph_inside_viewport(d), 10)
    page.set_window_size(1280, 800)
    wait(page, lambda d: js(d, "cy.width()") == width and graph_inside_viewport(d), 10)
    assert label_px(page, "SPI1") >= 10


def test_png_and_svg_export_download_the_drawing(page):
    for kind in ("png", "svg"):
        page.find_element(By.ID, f"network-{kind}").click()
        saved = wait(page, lambda d, k=kind: next(iter(d.downloads.glob(f"gridapp-network.{k}")), None), 30)
        wait(page, lambda d, s=saved: s.stat().st_size > 1000, 10)
    assert "<svg" in (page.downloads / "gridapp-network.svg").read_text()[:500]
    assert (page.downloads / "gridapp-network.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
