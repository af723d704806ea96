// Client-side callbacks of the gridapp dashboard (registered in gridapp/app/callbacks.py).
window.dash_clientside = Object.assign({}, window.dash_clientside, {
    gridapp: {
        // The cells of a lasso / box selection on the AUC embedding: their positions (customdata) and the
        // result they were selected on, so that a selection never reaches another result's views. A double
        // click clears the selection (selectedData = null); the empty selection that plotly reports when the
        // server redraws the embedding keeps the user's selection.
        selectedCells: function (selection, key) {
            if (selection === null || selection === undefined) {
                return null;
            }
            const cells = (selection.points || [])
                .filter((point) => point.customdata !== undefined)
                .map((point) => Number(point.customdata));
            return cells.length ? {key: key, cells: cells} : window.dash_clientside.no_update;
        },
        // The run's progress bar is full once the status says the run is done (or opened from the cache).
        fullAtDone: function (status, max) {
            const text = typeof status === "string" ? status : "";
            return text.startsWith("Done") || text.startsWith("Opened") ? max : window.dash_clientside.no_update;
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

// The edge-importance slider moves in log10 units; its tooltip shows importance itself.
window.dccFunctions = Object.assign({}, window.dccFunctions, {
    importanceOfLog: function (value) {
        return Number(Math.pow(10, value).toPrecision(3)).toLocaleString("en");
    },
});

// Dash 4's sliders, radio / check lists and the upload box render controls that take no aria props: name each
// from its field's label (or the upload box's text), so screen readers can tell them apart.
const UNNAMED = "[role=slider]:not([aria-label]), [role=listbox]:not([aria-label]), input[type=file]:not([aria-label])";
function nameControls() {
    document.querySelectorAll(UNNAMED).forEach((control) => {
        const field = control.closest(".field");
        const label = field && field.querySelector(":scope > label");
        const owner = control.closest("[id]");
        const name = (label && label.textContent) || (control.type === "file" && owner && owner.textContent) ||
            (owner && owner.id.replace(/-/g, " "));
        if (name) {
            control.setAttribute("aria-label", name.trim());
        }
    });
}
new MutationObserver(nameControls).observe(document.documentElement, {childList: true, subtree: true});
