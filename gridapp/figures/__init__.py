"""Pure functions from results to plotly figures and cytoscape elements (no Dash imports)."""
