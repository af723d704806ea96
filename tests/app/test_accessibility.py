"""axe-core in a real headless Chromium: the Explore, Compare and Benchmark pages have no serious or critical
accessibility violation. axe-core comes from npm (.ci/run installs it into the virtual environment)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.app.browsing import ROOT, SHARED, ActionChains, By, Keys, Watch, chromium, dashboard, text, wait

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # a dashboard with a computed result

#: axe-core's browser bundle: GRIDAPP_AXE_JS, or where .ci/run's ``npm install --prefix .venv/axe`` puts it
AXE_JS = Path(os.environ.get("GRIDAPP_AXE_JS", Path(sys.prefix) / "axe" / "node_modules" / "axe-core" / "axe.min.js"))
#: the impacts that fail the test (axe's others: minor, moderate)
FAILING_IMPACTS = ("serious", "critical")
#: violations inside Dash 4.4's own components that no prop of theirs, no layout and no style sheet can remove, as
#: (axe rule, a piece of the offending element's HTML); every other element a rule flags still fails the test
DASH_INTERNALS = (
    # dcc.Dropdown: an invisible <input tabindex=0 aria-hidden> takes the Tab key and at once hands focus on to the
    # dropdown's button (tabindex -1); hiding it would take the dropdown out of the keyboard's reach
    ("aria-hidden-focus", 'class="dash-dropdown-focus-target"'),
    # dcc.RadioItems / dcc.Checklist: each option is a <label role="option"> around its own <input>
    ("nested-interactive", 'class="dash-options-list-option'),
)
#: runs axe on the whole document and hands its violations to selenium's callback (the last argument)
RUN_AXE = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ["violations"]}).then(
    (results) => done(results.violations),
    (error) => done({error: String(error)}),
);
"""


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE_JS.is_file():
        pytest.skip(f"needs axe-core at {AXE_JS} (.ci/run: npm install --prefix .venv/axe axe-core)")
    return AXE_JS.read_text()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("accessibility")
    args = ["--cache-dir", str(folder / "cache"), "--data-root", str(ROOT / "data")]
    if (SHARED / "beeline").is_dir():
        args += ["--beeline-root", str(SHARED / "beeline")]  # the Benchmark page with its sets, as users see it
    with dashboard(args, log=folder / "server.log") as url:
        yield url, folder / "server.log"


@pytest.fixture(scope="module")
def browser(tmp_path_factory, server):
    with chromium(tmp_path_factory.mktemp("downloads")) as driver:
        driver.set_script_timeout(120)
        driver.get(server[0])
        wait(driver, lambda d: "of 1,045 cells" in text(d, "cell-count"))
        yield driver


@pytest.fixture(scope="module")
def watch(server, browser) -> Watch:
    """What each test here must leave clean: the browser's console and the server log (tests/app/conftest.py)."""
    return Watch([browser], server[1])


#: each page's radio value in the top bar and the element that shows once it is on screen
PAGES = {"Explore": "explore-views", "Compare": "compare-views", "Benchmark": "benchmark-page"}


def show(driver, page: str) -> None:
    """Switch to ``page`` with the top bar and wait until it shows and no callback is pending."""
    driver.find_element(By.CSS_SELECTOR, f"#page input[value='{page}']").click()
    wait(driver, lambda d: d.find_element(By.ID, PAGES[page]).is_displayed())
    wait(driver, lambda d: d.title != "Updating...")  # Dash's title while callbacks are in flight


def ours(violation: dict) -> dict:
    """``violation`` with only the elements that are not one of ``DASH_INTERNALS``."""
    nodes = [
        node
        for node in violation["nodes"]
        if not any(rule == violation["id"] and html in node["html"] for rule, html in DASH_INTERNALS)
    ]
    return {**violation, "nodes": nodes}


def describe(violation: dict) -> str:
    """One violation as its rule, impact, help and the selectors of the elements it concerns."""
    targets = "\n".join(f"    {' >> '.join(map(str, node['target']))}" for node in violation["nodes"])
    return f"{violation['id']} ({violation['impact']}): {violation['help']}\n{targets}"


@pytest.mark.parametrize("page", list(PAGES))
def test_no_serious_accessibility_violation(browser, axe_source, page):
    show(browser, page)
    browser.execute_script(axe_source)
    violations = browser.execute_async_script(RUN_AXE)
    assert "error" not in violations, violations
    failing = [v for v in map(ours, violations) if v["impact"] in FAILING_IMPACTS and v["nodes"]]
    assert not failing, f"{page}: axe-core finds\n" + "\n".join(map(describe, failing))


#: the element with the keyboard focus, and whether it lies under the control column's sticky Launch bar
FOCUS_UNDER_BAR = """
const bar = document.querySelector('.launchbar'), focused = document.activeElement;
const b = bar.getBoundingClientRect(), r = focused.getBoundingClientRect();
const overlaps = r.bottom > b.top && r.top < b.bottom && r.left < b.right && r.right > b.left;
return [focused.id || focused.outerHTML.slice(0, 80), overlaps && !bar.contains(focused)];
"""


def test_no_field_reached_with_tab_hides_under_the_launch_bar(browser):
    """WCAG 2.2 focus-not-obscured: tabbing down the control column at 1280×800 scrolls each field clear of the
    Launch bar that stays at the column's bottom."""
    show(browser, "Explore")
    size = browser.get_window_size()
    browser.set_window_size(1280, 800)
    browser.execute_script("document.querySelector('.controls').scrollTop = 0; document.activeElement.blur()")
    hidden, reached = [], []
    try:
        for _ in range(40):
            ActionChains(browser).send_keys(Keys.TAB).perform()
            name, under = browser.execute_script(FOCUS_UNDER_BAR)
            reached.append(name)
            if under:
                hidden.append(name)
    finally:
        browser.set_window_size(size["width"], size["height"])
    assert "launch" in reached or "n-top-genes" in reached, reached  # the Tab key went down the column
    assert not hidden, hidden
