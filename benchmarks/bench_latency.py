"""Time to first regulons: from a click on Launch to every Explore view, in headless Chromium at 1280×800.

``python app.py`` as the README starts it (``--no-demo-result``: no background demo run competing for the
cores), on a fresh cache, the embedded Kang 2018 donor with the form's defaults (3,000 top genes, DoRothEA
A–C pruning):

1. **cold**: B cells + CD14+ monocytes (495 cells), launched as soon as the page answers, while the server
   still starts its worker pool and compiles its kernels;
2. **warm**: the same cells with another seed (not cached), once ``/healthz`` says the pool is ready;
3. **demo donor**: all 1,045 cells of the donor, warm.

Each launch prints its seconds from the click to every view showing the new result, and the result's
per-step seconds (its ``run.json``). ``help``: the median wall seconds of ``python -m gridapp --help``
and ``python app.py --help``. Last line: ``first_views_s=X demo_donor_s=Y help_s=Z`` (warm launches;
``help_s`` the slower of the two commands).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.app.browsing import choose, chromium, dashboard, launch_until_views, text, type_into, wait
from tests.processes import ROOT, wait_for_pool

SUBSET = ("B cells", "CD14+ Monocytes")


def help_seconds(command: list[str], repeats: int = 3) -> float:
    """Median wall seconds of ``command`` (a ``--help``)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def newest_steps(cache: Path) -> dict[str, float]:
    """The per-step seconds of the most recent result in ``cache``."""
    newest = max((cache / "results").glob("*/run.json"), key=lambda path: path.stat().st_mtime)
    return json.loads(newest.read_text())["seconds"]


def main() -> None:
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        cache = Path(folder) / "cache"
        with dashboard(["--cache-dir", str(cache), "--no-demo-result"]) as url, chromium(Path(folder)) as driver:
            driver.set_window_size(1280, 800)
            driver.get(url)
            wait(driver, lambda d: "1,045 of 1,045 cells" in text(d, "cell-count"))
            choose(driver, "cell-types", *SUBSET)
            wait(driver, lambda d: text(d, "cell-count").startswith("495 of 1,045"))
            for label, seed, cells in (("cold", 1, 495), ("warm", 2, 495), ("demo donor", 2, 1045)):
                if label == "warm":
                    print(f"worker pool ready {wait_for_pool(url):.1f} s after the cold run")
                if label == "demo donor":
                    choose(driver, "cell-types", *SUBSET)  # unticks them: every cell of the donor
                    wait(driver, lambda d: text(d, "cell-count").startswith("1,045 of 1,045"))
                type_into(driver, "seed", str(seed))
                done, seconds = launch_until_views(driver, cells)
                steps = newest_steps(cache)
                results[label] = seconds
                print(
                    f"{label:>10}: {cells:,} cells, Launch → Done {done:.1f} s, → every view {seconds:.1f} s; steps "
                    + ", ".join(f"{name} {value:.2f}" for name, value in steps.items())
                )
    helps = {
        "python -m gridapp --help": help_seconds([sys.executable, "-m", "gridapp", "--help"]),
        "python app.py --help": help_seconds([sys.executable, "app.py", "--help"]),
    }
    for command, seconds in helps.items():
        print(f"{command}: {seconds:.2f} s")
    print(
        f"first_views_s={results['warm']:.1f} demo_donor_s={results['demo donor']:.1f} "
        f"help_s={max(helps.values()):.2f} cold_first_views_s={results['cold']:.1f}"
    )


if __name__ == "__main__":
    main()
