// Client-side callbacks of the gridapp dashboard (registered in gridapp/app/callbacks.py).
window.dash_clientside = Object.assign({}, window.dash_clientside, {
    gridapp: {
        // Cell positions (customdata) of a lasso / box selection on the AUC embedding.
        // A double click clears the selection (selectedData = null); the empty selection that
        // plotly reports when the server redraws the embedding keeps the user's selection.
        selectedCells: function (selection) {
            if (selection === null || selection === undefined) {
                return [];
            }
            const cells = (selection.points || [])
                .filter((point) => point.customdata !== undefined)
                .map((point) => Number(point.customdata));
            return cells.length ? cells : window.dash_clientside.no_update;
        },
    },
});
