"""Layout every figure shares: a left-aligned, wrapped title below the mode-bar, margins, marks and notes.

Plotly draws its mode-bar (toolbar) over the top right of a graph, where a centred or long title ran
under it. Here the top :data:`MODEBAR_HEIGHT` pixels are left to the mode-bar and the title, wrapped to
the width of a dashboard panel, sits below them; axes, legends and colour bars make their own room
(the default template's ``automargin``), so the margins are small and the same everywhere.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import plotly.graph_objects as go

#: px at the top of a graph left to plotly's mode-bar (its buttons are about 25 px high)
MODEBAR_HEIGHT = 30
#: px of margin left, right and below the plot; axis labels, legends and colour bars add their own room
MARGIN = 10
#: px between the title's last line and the plot
TITLE_GAP = 10
TITLE_SIZE = 13
#: px more above a figure with subplot titles (``make_subplots(subplot_titles=...)``) for them
SUBPLOT_TITLE_ROOM = 20
#: the title size of a plot in the control column
SMALL_TITLE_SIZE = 11
#: px: the narrowest plot in the dashboard's two-column views (a 1280 px wide window)
PANEL_WIDTH = 440
#: px: a plot in the dashboard's control column (300 px wide, less its padding)
SIDEBAR_WIDTH = 260
#: plotly.js's line spacing and a capital's height, in em
LINE_SPACING = 1.3
CAP_HEIGHT = 0.7
#: a title character's width in em: generous, so that a wrapped line always fits
CHAR_WIDTH = 0.6
NOTE_COLOUR = "#7b8794"
MARK_COLOUR = "#111"
#: every mode-bar button of a 2-d figure, removed where a figure has nothing to zoom, pan or save
MODEBAR_BUTTONS = [
    "zoom",
    "pan",
    "select",
    "lasso",
    "zoomin",
    "zoomout",
    "autoscale",
    "resetscale",
    "toimage",
    "sendChartToCloud",
]


def wrap(text: str, *, width: int = PANEL_WIDTH, size: int = TITLE_SIZE) -> str:
    """``text`` broken into lines (``<br>``) that fit ``width`` px in a font of ``size`` px.

    Parameters
    ----------
    text
        Plain text (no ``<br>``); breaks go between words, a word longer than a line is cut.
    width
        Room for the text, in px.
    size
        Font size, in px.

    Returns
    -------
    The lines joined by ``<br>``.
    """
    characters = max(10, int(width / (size * CHAR_WIDTH)))
    return "<br>".join(textwrap.wrap(text, characters, break_on_hyphens=False)) or text


def apply_layout(
    figure: go.Figure,
    title: str,
    *,
    width: int = PANEL_WIDTH,
    size: int = TITLE_SIZE,
    toolbar: bool = True,
    headroom: int = 0,
    height: int | None = None,
) -> go.Figure:
    """Give ``figure`` the shared title and margins, clear of the mode-bar.

    Parameters
    ----------
    figure
        The figure to lay out (changed in place).
    title
        Its title, wrapped to ``width`` and left-aligned below the mode-bar.
    width
        The narrowest the figure is drawn, in px: :data:`PANEL_WIDTH` or :data:`SIDEBAR_WIDTH`.
    size
        The title's font size, in px.
    toolbar
        Whether the figure is shown with a mode-bar; without one no room is left for it and its
        buttons are removed.
    headroom
        px more between the title and the plot (for subplot titles).
    height
        The figure's height in px; None leaves it to the graph.

    Returns
    -------
    ``figure``.
    """
    text = wrap(title, width=width - 2 * MARGIN, size=size)
    lines = text.count("<br>") + 1 if text else 0
    band = MODEBAR_HEIGHT if toolbar else 0
    top = band + MARGIN // 2
    # plotly.js hangs a one-line title below its anchor but starts a multi-line one a capital higher
    shift = round(CAP_HEIGHT * size) if lines > 1 else 0
    figure.update_layout(
        title={
            "text": text,
            "font": {"size": size},
            "x": 0,
            "xref": "container",
            "xanchor": "left",
            "y": 1,
            "yref": "container",
            "yanchor": "top",
            "pad": {"l": MARGIN, "t": top + shift},
        },
        margin={"l": MARGIN, "r": MARGIN, "b": MARGIN, "t": top + lines * line_height(size) + TITLE_GAP + headroom},
    )
    if not toolbar:
        figure.update_layout(modebar={"remove": MODEBAR_BUTTONS})
    if height is not None:
        figure.update_layout(height=height)
    return figure


def line_height(size: int) -> int:
    """px one line of text in a font of ``size`` px takes."""
    return round(LINE_SPACING * size)


def placeholder(text: str, *, height: int | None = None) -> go.Figure:
    """An empty figure holding only a centred grey message (no axes, grid or mode-bar buttons).

    Parameters
    ----------
    text
        The message, e.g. "Launch a run (left) to see the edge importance histogram here".
    height
        The figure's height in px; None leaves it to the graph.

    Returns
    -------
    The figure.
    """
    figure = go.Figure()
    figure.add_annotation(
        text=wrap(text, width=PANEL_WIDTH - 4 * MARGIN, size=TITLE_SIZE + 1),
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font={"size": TITLE_SIZE + 1, "color": NOTE_COLOUR},
    )
    figure.update_layout(
        xaxis={"visible": False},
        yaxis={"visible": False},
        plot_bgcolor="white",
        paper_bgcolor="white",
        dragmode=False,
        hovermode=False,
    )
    return apply_layout(figure, "", toolbar=False, height=height)


def colour_bar(title: str) -> dict:
    """A colour bar whose title runs up its side, so that a long one (``AUC: SPI1(+)``) fits."""
    return {"title": {"text": title, "side": "right"}}


def note(text: str, *, xref: str = "paper", yref: str = "paper") -> dict:
    """A grey note centred on a plot (``xref`` / ``yref``: ``"paper"`` or an axis' ``"x4 domain"``)."""
    return {
        "text": wrap(text, width=PANEL_WIDTH // 2, size=TITLE_SIZE - 1),
        "x": 0.5,
        "y": 0.5,
        "xref": xref,
        "yref": yref,
        "showarrow": False,
        "font": {"size": TITLE_SIZE - 1, "color": "#3e4c59"},
        "bgcolor": "rgba(255,255,255,0.85)",
    }


def outline(*, xref: str, yref: str, x: tuple[float, float], y: tuple[float, float]) -> dict:
    """A rectangle (no fill) around a marked row or column, from ``x[0], y[0]`` to ``x[1], y[1]``."""
    return {
        "type": "rect",
        "xref": xref,
        "yref": yref,
        "x0": x[0],
        "x1": x[1],
        "y0": y[0],
        "y1": y[1],
        "line": {"color": MARK_COLOUR, "width": 2},
        "fillcolor": "rgba(0,0,0,0)",
        "layer": "above",
    }


def pointer(symbol: str, **position) -> dict:
    """An annotation ``symbol`` (▼, ◀) pointing at a marked row or column; ``position``: x, y, refs, anchors."""
    return {"text": symbol, "showarrow": False, "font": {"color": MARK_COLOUR, "size": 13}, **position}


def marked_labels(labels: Sequence[str], mark: str | None) -> list[str]:
    """Tick labels with the marked one in bold."""
    return [f"<b>{label}</b>" if label == mark else str(label) for label in labels]
