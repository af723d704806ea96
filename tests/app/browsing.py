"""What the browser tests share: starting the dashboard as a process, a headless Chromium, and page helpers."""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.processes import ROOT, free_port, running, wait_for_http

SHARED = Path(os.environ.get("GRIDAPP_SHARED_DATA", ROOT.parent / "shared" / "data"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = ROOT / "docs" / "screenshots"
FAILURES = Path(os.environ.get("GRIDAPP_BROWSER_FAILURES", "/tmp"))
#: the flags every headless Chromium here runs with
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1600,2300",
)
#: parts of SEVERE console messages that are not the page's fault; every other SEVERE entry fails a browser
#: test. Empty: none is known (Dash serves a favicon, so not even the usual favicon 404 occurs).
BENIGN_CONSOLE: tuple[str, ...] = ()
#: a response of the server's access log (werkzeug): ``"POST /_dash-update-component HTTP/1.1" 500 -``
ACCESS_LINE = re.compile(r'"[A-Z]+ \S+ HTTP/[\d.]+" (?P<status>\d{3}) ')
#: the terminal colours werkzeug writes inside the quotes of each logged request, even into a file
ANSI_STYLE = re.compile(r"\x1b\[[\d;]*m")

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (requirements-dev.txt)")
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402, F401  (for the tests)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@contextmanager
def dashboard(args: Sequence[str] = (), env: dict[str, str] | None = None, log: Path | None = None) -> Iterator[str]:
    """``python app.py`` on a free port with ``args``; yields its URL once it answers."""
    port = free_port()
    with running([sys.executable, "app.py", "--port", str(port), *args], env, log) as process:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(url, process=process)
        yield url


@contextmanager
def chromium(downloads: Path) -> Iterator:
    """A headless Chromium (Debian's) downloading into ``downloads``."""
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian chromium + chromium-driver (.ci/run installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads)})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console, read by console_errors
    driver = webdriver.Chrome(options=options)
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver) -> list[str]:
    """The SEVERE console entries logged since the last call (Chromium hands out each entry once), less
    those that ``BENIGN_CONSOLE`` names."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and not any(benign in entry["message"] for benign in BENIGN_CONSOLE)
    ]


def server_errors(lines: Iterable[str]) -> list[str]:
    """The access-log lines among ``lines`` whose response is a server error (5xx), without their colours."""
    plain = (ANSI_STYLE.sub("", line).rstrip() for line in lines)
    return [line for line in plain if (hit := ACCESS_LINE.search(line)) and hit["status"].startswith("5")]


@dataclass
class Watch:
    """What a browser test must leave clean: the consoles of its Chromium sessions and the log of its server.

    ``check`` looks at what came since the last check (or the start), so each entry is blamed on one test.
    """

    drivers: Sequence
    log: Path
    _read: int = field(default=0, init=False)  # bytes of ``log`` checked already

    def problems(self) -> list[str]:
        """Console errors and 5xx responses since the last call."""
        found = [f"console: {message}" for driver in self.drivers for message in console_errors(driver)]
        with self.log.open("rb") as log:
            log.seek(self._read)
            chunk = log.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]  # whole lines: one still being written waits for the next call
        self._read += len(complete)
        return found + [f"server: {line}" for line in server_errors(complete.decode(errors="replace").splitlines())]

    def check(self) -> None:
        """Fail with every console error and 5xx response since the last check."""
        found = self.problems()
        assert not found, "the page logged errors or the server answered 5xx:\n" + "\n".join(found)


def wait(driver, condition, timeout=60):
    """``condition(driver)`` once truthy, polled every 0.5 s; a screenshot is kept when it times out."""
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.5).until(lambda d: condition(d))
    except TimeoutException:
        driver.save_screenshot(str(FAILURES / f"timeout-{time.time():.0f}.png"))  # what the page showed
        raise


def text(driver, element_id: str) -> str:
    """The visible text of element ``element_id``."""
    return driver.find_element(By.ID, element_id).text


def choose(driver, dropdown_id: str, *labels: str) -> None:
    """Pick ``labels`` in a Dash dropdown."""
    wait(driver, lambda d: d.find_element(By.ID, dropdown_id)).click()
    for label in labels:
        option = wait(
            driver,
            lambda d, label=label: d.find_element(
                By.XPATH, f"//label[@role='option'][starts-with(normalize-space(.), '{label}')]"
            ),
        )
        option.click()
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)


def type_into(driver, element_id: str, value: str) -> None:
    """Replace the content of input ``element_id`` with ``value``."""
    box = driver.find_element(By.ID, element_id)
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(value, Keys.TAB)


#: records every text the element ``arguments[0]`` shows from now on, in ``window.gridappShown``
RECORD_TEXTS = """
const element = document.getElementById(arguments[0]);
if (window.gridappRecorder) { window.gridappRecorder.disconnect(); }
window.gridappShown = [];
window.gridappRecorder = new MutationObserver(() => window.gridappShown.push(element.textContent));
window.gridappRecorder.observe(element, {childList: true, subtree: true, characterData: true});
"""


def launch_and_wait(driver, timeout=400, button="launch", status="status", failed="Run failed") -> str:
    """Click ``button``, wait until ``status`` says Done or ``failed`` for this click, and return what it says.

    The previous run's "Done" is still shown right after the click, so the status must first have shown
    something else (the click's "Queued"), however briefly: a recorder in the page sees every text it shows.
    """
    ended = ("Done", failed)
    driver.execute_script(RECORD_TEXTS, status)
    driver.find_element(By.ID, button).click()

    def this_click_ended(d) -> str | bool:
        now = text(d, status)
        started = any(not shown.startswith(ended) for shown in d.execute_script("return window.gridappShown"))
        return started and now.startswith(ended) and now

    return wait(driver, this_click_ended, timeout)


#: the Explore views a result fills (graphs), besides the network
EXPLORE_VIEWS = ("importance-hist", "embedding", "auc-dist", "clustermap", "tf-heatmap")


def explore_views_show(driver, cells: int) -> bool:
    """Whether every Explore view shows a result of ``cells`` cells: the embedding titled with that count, each
    graph drawn (traces or heatmap images) and the network's edges counted."""
    try:
        title = driver.find_element(By.CSS_SELECTOR, "#embedding .gtitle").text
        drawn = all(
            driver.find_elements(By.CSS_SELECTOR, f"#{view} .trace, #{view} .hm image, #{view} canvas")
            for view in EXPLORE_VIEWS
        )
        return f"{cells:,} cells" in title and drawn and "edges" in text(driver, "network-info")
    except StaleElementReferenceException:  # a view redrawn between the two reads
        return False


def launch_until_views(driver, cells: int, timeout: float = 600) -> tuple[float, float]:
    """Click Launch; return the seconds until the status says Done, and until every Explore view shows the new
    ``cells``-cell result."""
    started = time.monotonic()
    status = launch_and_wait(driver, timeout)
    done = time.monotonic() - started
    assert status.startswith("Done"), status
    wait(driver, lambda d: explore_views_show(d, cells), timeout)
    return done, time.monotonic() - started
