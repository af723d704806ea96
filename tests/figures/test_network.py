"""The network's elements, stylesheet, legend and panel, tested as data."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from gridapp.app.network_panel import IMAGE_TYPES, LAYOUTS, image_request, network_panel
from gridapp.figures.network import LEGEND, STYLESHEET, TOP_TARGETS, network_elements
from tests.processes import ROOT

#: SPI1 → CEBPB → S100A8 is a two-link path; TCF7 and its targets are apart from SPI1's
EDGES = pd.DataFrame(
    {
        "TF": ["SPI1", "SPI1", "SPI1", "SPI1", "CEBPB", "CEBPB", "TCF7", "TCF7"],
        "target": ["LYZ", "CD14", "CEBPB", "FCN1", "S100A8", "LYZ", "CD3E", "LEF1"],
        "importance": [50.0, 20.0, 5.0, 1.0, 30.0, 10.0, 2.0, 0.5],
    }
)
STYLE = {rule["selector"]: rule["style"] for rule in STYLESHEET}


def nodes_of(elements: list[dict]) -> dict[str, dict]:
    return {e["data"]["id"]: e for e in elements if "source" not in e["data"]}


def classes(node: dict) -> set[str]:
    return set(node["classes"].split())


def test_each_tfs_strongest_targets_are_top_only_when_asked():
    assert not any("top" in classes(n) for n in nodes_of(network_elements(EDGES)).values())
    top = {gene for gene, n in nodes_of(network_elements(EDGES, top=2)).items() if "top" in classes(n)}
    assert top == {"LYZ", "CD14", "S100A8", "CD3E", "LEF1"}  # CEBPB's LYZ (10) is its second: already in
    nodes = nodes_of(network_elements(EDGES, focus=("SPI1",), top=TOP_TARGETS))
    assert classes(nodes["SPI1"]) == {"tf", "focus"} and classes(nodes["CEBPB"]) == {"tf", "top"}
    assert nodes["FCN1"]["classes"] == ""  # SPI1's fourth


def test_nodes_carry_their_strongest_link_hops_and_radial_position():
    nodes = nodes_of(network_elements(EDGES, focus=("SPI1",)))
    assert {g: n["data"]["importance"] for g, n in nodes.items()} == {
        "SPI1": 50.0, "CEBPB": 30.0, "TCF7": 2.0, "LYZ": 50.0, "CD14": 20.0, "FCN1": 1.0, "S100A8": 30.0,
        "CD3E": 2.0, "LEF1": 0.5,
    }  # fmt: skip
    hops = {g: n["data"]["hops"] for g, n in nodes.items()}
    assert hops["SPI1"] == 0 and hops["CEBPB"] == hops["LYZ"] == 1 and hops["S100A8"] == 2
    assert hops["TCF7"] == hops["CD3E"] == 3  # not reached: one ring beyond the farthest
    assert all(
        n["data"]["radial"] == n["position"] and n["data"]["radial"] is not n["position"] for n in nodes.values()
    )
    unfocused = nodes_of(network_elements(EDGES))
    assert {g for g, n in unfocused.items() if n["data"]["hops"] == 0} == {"SPI1", "CEBPB", "TCF7"}
    assert max(n["data"]["hops"] for n in unfocused.values()) == 1


def test_the_focused_tf_sits_in_the_centre_of_the_radial_layout():
    def radius(node: dict) -> float:
        return round(math.hypot(node["position"]["x"], node["position"]["y"]), 1)

    focused = nodes_of(network_elements(EDGES, focus=("SPI1",)))
    assert radius(focused["SPI1"]) == 0
    assert radius(focused["CEBPB"]) == radius(focused["TCF7"]) > 0
    assert min(radius(focused[g]) for g in ("LYZ", "CD14", "FCN1", "S100A8", "CD3E", "LEF1")) > radius(focused["TCF7"])
    unfocused = nodes_of(network_elements(EDGES))
    assert all(radius(n) > 0 for n in unfocused.values())
    on_target = nodes_of(network_elements(EDGES, focus=("LYZ",)))  # a target in focus stays on its ring
    assert {g: n["position"] for g, n in on_target.items()} == {g: n["position"] for g, n in unfocused.items()}
    lone = nodes_of(network_elements(EDGES[EDGES["TF"] == "TCF7"]))
    assert radius(lone["TCF7"]) == 0 and radius(lone["CD3E"]) > 0


def test_only_tfs_top_targets_and_pointed_genes_are_labelled_when_zoomed_out():
    base = STYLE["node"]
    assert base["label"] == "data(id)" and STYLE["node.far"]["text-opacity"] == 0  # the rest: only zoomed in
    assert base["font-size"] * 2 >= base["min-zoomed-font-size"] > base["font-size"]  # without the script: zoom > 1
    selectors = [rule["selector"] for rule in STYLESHEET]
    for selector in ("node.tf", "node.top", "node.hover", "node.found"):
        assert STYLE[selector]["min-zoomed-font-size"] == 0 and STYLE[selector]["text-opacity"] == 1, selector
        assert selectors.index(selector) > selectors.index("node.far"), selector
    assert STYLE["node.tf"]["font-size"] >= 12 and STYLE["node.tf"]["shape"] == "diamond"
    assert STYLE["node.found"]["border-width"] > STYLE["node.focus"]["border-width"]
    assert selectors.index("edge.hover") > selectors.index("edge.in_prior")


def test_the_legend_names_every_mark_in_the_stylesheets_colours():
    legend = {entry.label: entry.swatch for entry in LEGEND}
    text = " ".join(legend)
    for words in ("TF", "target", "importance", "prior", "repressing", "focus"):
        assert words in text, words
    assert legend["TF"]["background"] == STYLE["node.tf"]["background-color"]
    assert legend["target gene"]["background"] == STYLE["node"]["background-color"]
    assert STYLE["node.focus"]["border-color"] in legend["selected TF (focus ring)"]["border"]
    assert STYLE["edge.in_prior"]["line-color"] in legend["green = in the prior"]["border-top"]
    repressing = legend["dashed = repressing (signed methods)"]["border-top"]
    assert "dashed" in repressing and STYLE["edge.repressing"]["line-color"] in repressing


def test_the_panel_holds_the_graph_controls_and_legend_under_its_id():
    children = network_panel("net")
    ids = {getattr(c, "id", None) for c in children} | {getattr(c, "id", None) for c in children[0].children}
    assert {"net", "net-layout", "net-search", "net-png", "net-svg", "net-note", "net-legend"} <= ids
    graph = next(c for c in children if getattr(c, "id", None) == "net")
    assert graph.stylesheet == STYLESHEET and graph.layout == {"name": "preset"}
    legend = next(c for c in children if getattr(c, "id", None) == "net-legend")
    assert [item.children[1] for item in legend.children] == [entry.label for entry in LEGEND]


def test_every_layout_choice_is_made_in_the_browser():
    script = (ROOT / "assets" / "network.js").read_text()
    layouts = script[script.index("const LAYOUTS = {") :]
    for value in LAYOUTS:
        assert f"{value}:" in layouts[: layouts.index("};")], value


@pytest.mark.parametrize("kind", IMAGE_TYPES)
def test_export_downloads_the_view_as_shown(kind):
    request = image_request(kind)
    assert request["type"] == kind and request["action"] == "download" and request["options"]["full"] is False
    assert request["filename"] == "gridapp-network" and request["options"]["bg"] == "#ffffff"
