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

// An upload over the server's limit is dropped by the browser (dcc.Upload's max_size) without a word, and
// would be refused by the server (HTTP 413) before it is read: say why in the message line instead, as the
// server does for the uploads it refuses. The limit is on the upload box (data-max-bytes, gridapp/app/layout.py).
function refuseOversizeUpload(event) {
    const box = event.target.closest && event.target.closest("#upload");
    const files = (event.dataTransfer || event.target).files;
    const marked = box && box.querySelector("[data-max-bytes]");
    if (!marked || !files || !files.length || !window.dash_clientside.set_props) {
        return;
    }
    const limit = Number(marked.dataset.maxBytes);
    const file = files[0];
    if (file.size > limit) {
        const mb = (bytes) => Math.round(bytes / 2 ** 20).toLocaleString("en");
        window.dash_clientside.set_props("message", {
            children: `Upload refused: ${file.name}: ${mb(file.size)} MB is over the ${mb(limit)} MB limit. ` +
                "Subset the data first, or ask the administrator to raise the limit.",
        });
    }
}
document.addEventListener("change", refuseOversizeUpload, true);
document.addEventListener("drop", refuseOversizeUpload, true);
