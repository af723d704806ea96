"""The dashboard's small building blocks: labelled fields, radio choices, graphs and panels."""

from __future__ import annotations

from dash import dcc, html


def field(label: str, control, hint: str | None = None) -> html.Div:
    """A labelled control (``hint``: its tooltip); the label names a text / number input for screen readers too
    (``htmlFor``)."""
    named = isinstance(control, dcc.Input) and isinstance(getattr(control, "id", None), str)
    return html.Div([html.Label(label, htmlFor=control.id if named else None), control], className="field", title=hint)


def choice(component_id: str, options: dict[str, str], value: str) -> dcc.RadioItems:
    """Inline radio buttons from {value: label}."""
    return dcc.RadioItems(
        id=component_id,
        inline=True,
        value=value,
        options=[{"label": label, "value": v} for v, label in options.items()],
    )


def graph(component_id: str) -> dcc.Graph:
    """A plotly graph without the plotly logo."""
    return dcc.Graph(id=component_id, config={"displaylogo": False})


def panel(title: str, *children) -> html.Section:
    """A titled panel of the views."""
    return html.Section([html.H3(title), *children], className="panel")
