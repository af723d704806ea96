"""The Explore page's network panel: the Cytoscape graph with its legend, a choice of layout, a gene search
and PNG / SVG export.

What runs in the browser (labels that stay legible at any zoom, the refit on resize, the layouts, focusing a
searched gene) is in ``assets/network.js``; the callbacks here only concern how the network is shown, never
which edges it holds.
"""

from __future__ import annotations

import dash_cytoscape as cyto
from dash import ClientsideFunction, Dash, Input, Output, State, ctx, dcc, html

from gridapp.figures.network import LEGEND, STYLESHEET, LegendEntry

#: layout choices, value → label (assets/network.js turns a value into a Cytoscape layout)
LAYOUTS = {
    "radial": "Radial",
    "concentric": "Concentric by importance",
    "force": "Force directed",
    "hops": "Hops from the selected TF",
}
#: image formats the export buttons offer
IMAGE_TYPES = ("png", "svg")
IMAGE_NAME = "gridapp-network"


def network_panel(component_id: str = "network") -> list:
    """The children of the Network panel.

    Parameters
    ----------
    component_id
        Id of the Cytoscape graph; the other components' ids extend it: ``{component_id}-layout`` (layout
        choice), ``-search`` (gene search box), ``-png`` and ``-svg`` (export buttons), ``-note`` (what the
        search found) and ``-legend``.

    Returns
    -------
    list
        A toolbar row, the graph (its ``elements`` empty, to be set by a callback from
        :func:`gridapp.figures.network.network_elements`), the search note and the legend.
    """
    toolbar = html.Div(
        [
            dcc.RadioItems(
                id=f"{component_id}-layout",
                options=[{"label": label, "value": value} for value, label in LAYOUTS.items()],
                value="radial",
                inline=True,
                inputStyle={"marginRight": "0.2rem"},
                labelStyle={"marginRight": "0.7rem"},
            ),
            html.Label("Find a gene", htmlFor=f"{component_id}-search"),
            dcc.Input(
                id=f"{component_id}-search",
                type="search",
                placeholder="name, then Enter",
                debounce=True,
                style={"width": "10rem"},
            ),
            *(
                html.Button(kind.upper(), id=f"{component_id}-{kind}", title=f"Save as {kind.upper()}")
                for kind in IMAGE_TYPES
            ),
        ],
        className="row",
        style={"alignItems": "center", "marginBottom": "0.3rem"},
    )
    graph = cyto.Cytoscape(
        id=component_id,
        layout={"name": "preset"},
        stylesheet=STYLESHEET,
        style={"height": "420px", "width": "100%"},
        elements=[],
        minZoom=0.05,
        maxZoom=8,
    )
    return [toolbar, graph, html.Div(id=f"{component_id}-note", className="count"), legend(f"{component_id}-legend")]


def legend(component_id: str) -> html.Div:
    """:data:`gridapp.figures.network.LEGEND` as a wrapping row of samples and labels."""
    return html.Div(
        [_legend_item(entry) for entry in LEGEND],
        id=component_id,
        style={"display": "flex", "flexWrap": "wrap", "gap": "0.25rem 1rem", "fontSize": "0.8rem", "color": "#486581"},
    )


def _legend_item(entry: LegendEntry) -> html.Span:
    sample = html.Span(style={"display": "inline-block", "flex": "none", "boxSizing": "border-box", **entry.swatch})
    return html.Span([sample, entry.label], style={"display": "inline-flex", "alignItems": "center", "gap": "0.35rem"})


def image_request(kind: str) -> dict:
    """The ``generateImage`` value that downloads the graph as shown (the view, at its zoom) as ``kind``
    (png or svg)."""
    options = {"full": False, "bg": "#ffffff"}
    if kind == "png":
        options["scale"] = 2  # sharp on high-density screens and in slides
    return {"type": kind, "action": "download", "filename": IMAGE_NAME, "options": options}


def register(app: Dash, component_id: str = "network") -> None:
    """The callbacks of :func:`network_panel` ``(component_id)``: layout choice, gene search, image export
    and the browser-side upkeep of labels and size (assets/network.js).

    Also loads dash-cytoscape's larger bundle, whose SVG exporter the SVG button needs; call this before the
    app serves its first page.
    """
    cyto.load_extra_layouts()
    app.clientside_callback(
        ClientsideFunction("gridappNetwork", "watch"), Input(component_id, "elements"), State(component_id, "id")
    )
    app.clientside_callback(
        ClientsideFunction("gridappNetwork", "layout"),
        Output(component_id, "layout"),
        Input(f"{component_id}-layout", "value"),
    )
    app.clientside_callback(
        ClientsideFunction("gridappNetwork", "focusGene"),
        Output(f"{component_id}-note", "children"),
        Input(f"{component_id}-search", "value"),
        Input(f"{component_id}-search", "n_submit"),
        State(component_id, "id"),
    )

    @app.callback(
        Output(component_id, "generateImage"),
        *(Input(f"{component_id}-{kind}", "n_clicks") for kind in IMAGE_TYPES),
        prevent_initial_call=True,
    )
    def export_image(*_clicks):
        return image_request(ctx.triggered_id.removeprefix(f"{component_id}-"))
