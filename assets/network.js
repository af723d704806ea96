// The browser side of the network panel (gridapp/app/network_panel.py registers these clientside
// callbacks): labels that stay legible at any zoom, a hover highlight, a refit whenever the graph's box
// changes size, the layout choices and the gene search.
(function () {
    // label heights on screen (px) while zoomed out; zoomed in they grow with the graph
    const TF_LABEL_PX = 13;
    const GENE_LABEL_PX = 11;
    const OUTLINE_PX = 2;
    // from this zoom the other genes' labels (11 graph units, STYLESHEET) are at least 10 px high
    const GENE_LABEL_ZOOM = 10 / 11;
    const FIT_PADDING = 30;
    const FOCUS_ZOOM = 1.5;
    const FOCUS_MS = 300;
    // target rings of the concentric layout, by log importance
    const RINGS = 4;
    // nodes whose label is always drawn (gridapp/figures/network.py STYLESHEET)
    const LABELLED = "node.tf, node.top, node.hover, node.found";

    // dash-cytoscape renders react-cytoscapejs's <div id=...>, the container Cytoscape registers itself on
    // (dash-cytoscape's own window.cy is only the last graph created, and the app has two)
    function cyOf(id) {
        const container = document.getElementById(id);
        const registry = container && container._cyreg;
        return registry && registry.cy && !registry.cy.destroyed() ? registry.cy : null;
    }

    // Cytoscape sizes fonts in graph units, so a label shrinks with the zoom: below zoom 1 give the
    // always-labelled nodes a font that is as many pixels high on screen whatever the zoom, and hide the
    // others (class far) while they would be too small to read. Cytoscape's own min-zoomed-font-size cannot
    // do the latter: it rounds the zoom up to a power of two first, and counts the screen's pixel ratio.
    function keepLabelsLegible(cy) {
        // only the nodes that change: a class change calls this again (next frame), and toggling every node
        // each time kept the page redrawing the network for ever (a core's worth of CPU in Chromium)
        const far = cy.zoom() < GENE_LABEL_ZOOM;
        cy.nodes().filter((node) => node.hasClass("far") !== far).toggleClass("far", far);
        const scale = 1 / Math.min(cy.zoom(), 1);
        const labelled = cy.nodes(LABELLED);
        const before = cy.scratch("gridappLabelled");
        if (before) {
            before.difference(labelled).filter((node) => !node.removed()).removeStyle("font-size text-outline-width");
        }
        labelled.filter(".tf").style({"font-size": TF_LABEL_PX * scale, "text-outline-width": OUTLINE_PX * scale});
        labelled.not(".tf").style({"font-size": GENE_LABEL_PX * scale, "text-outline-width": OUTLINE_PX * scale});
        cy.scratch("gridappLabelled", labelled);
    }

    // once per frame however many elements a data update adds
    function onceAFrame(work) {
        let pending = false;
        return function () {
            if (!pending) {
                pending = true;
                requestAnimationFrame(() => {
                    pending = false;
                    work();
                });
            }
        };
    }

    function refit(cy) {
        const box = cy.container();
        if (box && box.clientWidth > 0 && box.clientHeight > 0) {  // not while its page is hidden
            cy.resize();
            cy.fit(undefined, FIT_PADDING);
        }
    }

    function highlight(node) {
        node.addClass("hover");
        node.connectedEdges().addClass("hover");
    }

    function attach(cy) {
        if (cy.scratch("gridappAttached")) {
            return;
        }
        cy.scratch("gridappAttached", true);
        const relabel = onceAFrame(() => cy.destroyed() || keepLabelsLegible(cy));
        cy.on("zoom add class", relabel);
        cy.on("mouseover", "node", (event) => highlight(event.target));
        // a node's mouseout reaches the graph too, and leaving the canvas from a node only emits the graph's
        cy.on("mouseout", () => cy.elements(".hover").removeClass("hover"));
        // a window resize, or the page being shown again, changes the container's size
        const observer = new ResizeObserver(onceAFrame(() => cy.destroyed() || refit(cy)));
        observer.observe(cy.container());
        cy.on("destroy", () => observer.disconnect());
        relabel();
    }

    // The graph may mount after the callback that asks for it runs: try again for a few seconds.
    function attachWhenReady(id, triesLeft) {
        const cy = cyOf(id);
        if (cy) {
            attach(cy);
        } else if (triesLeft > 0) {
            setTimeout(() => attachWhenReady(id, triesLeft - 1), 100);
        }
    }

    function logImportance(node) {
        return Math.log10(Math.max(node.data("importance") || 0, 1e-12));
    }

    // TFs in the middle, then the targets in RINGS rings, the most important innermost
    function concentricLayout() {
        return {
            name: "concentric",
            concentric: (node) => (node.hasClass("tf") ? Number.MAX_VALUE : logImportance(node)),
            levelWidth: (nodes) => {
                const values = nodes.not(".tf").map(logImportance);
                const spread = values.length ? Math.max(...values) - Math.min(...values) : 0;
                return spread / RINGS || 1;
            },
            minNodeSpacing: 4,
        };
    }

    // breadth-first rings: the selected TF (or, with none, every TF) in the middle, each ring one link further
    // (data.hops, gridapp/figures/network.py). Cytoscape's own breadthfirst layout puts its roots off-centre
    // in circle mode (it always adds a ring for unreached nodes first) and, in rows, lines a TF's hundred
    // targets up in one thin row.
    function hopsLayout() {
        return {name: "concentric", concentric: (node) => -node.data("hops"), levelWidth: () => 1, minNodeSpacing: 4};
    }

    const LAYOUTS = {
        // the server's positions (gridapp/figures/network.py keeps a copy in data.radial)
        radial: () => ({name: "preset", positions: (node) => node.data("radial")}),
        concentric: concentricLayout,
        force: () => ({name: "fcose", nodeRepulsion: 6000, idealEdgeLength: 40}),
        hops: hopsLayout,
    };
    window.dash_clientside = Object.assign({}, window.dash_clientside, {
        gridappNetwork: {
            // make graph ``id`` keep its labels legible and refit when resized (idempotent)
            watch: function (_elements, id) {
                attachWhenReady(id, 50);
            },

            // the Cytoscape layout of a choice (each reruns by itself when the elements change)
            layout: function (choice) {
                const make = LAYOUTS[choice];
                if (!make) {
                    return window.dash_clientside.no_update;
                }
                return Object.assign({fit: true, padding: FIT_PADDING, animate: false}, make());
            },

            // centre and zoom on the gene typed in (any case) and ring it, again at each Enter; a note when it
            // is not there
            focusGene: function (query, _submits, id) {
                const cy = cyOf(id);
                const wanted = (query || "").trim();
                if (!cy) {
                    return window.dash_clientside.no_update;
                }
                cy.nodes(".found").removeClass("found");
                if (!wanted) {
                    return "";
                }
                const node = cy.nodes().filter((n) => n.id().toUpperCase() === wanted.toUpperCase());
                if (node.empty()) {
                    return `${wanted} is not in this network.`;
                }
                node.addClass("found");
                // centred on the node itself: Cytoscape's own centring counts its label, which shrinks as we zoom in
                const zoom = Math.max(cy.zoom(), FOCUS_ZOOM);
                const at = node.position();
                const pan = {x: cy.width() / 2 - at.x * zoom, y: cy.height() / 2 - at.y * zoom};
                cy.animate({zoom: zoom, pan: pan}, {duration: FOCUS_MS});
                return `${node.id()}: ${node.degree()} links shown.`;
            },
        },
    });
})();
