"""The Dash application object (placeholder page until the dashboard lands)."""

from __future__ import annotations

from dash import Dash, html

from gridapp import __version__


def create_app() -> Dash:
    """Build the Dash app; ``create_app().server`` is the WSGI entry point."""
    app = Dash(__name__, title="gridapp", assets_folder="../../assets")
    app.layout = html.Main(
        [
            html.H1("gridapp"),
            html.P(f"Version {__version__}. The interactive dashboard is being built."),
            html.P(["Run the pipeline headless: ", html.Code("python -m gridapp run --demo --out results/")]),
        ]
    )
    return app
