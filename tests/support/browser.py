"""The web page driven in a real headless Chromium (Debian's ``chromium`` + ``chromium-driver``,
installed by devstack/bootstrap.sh) through Selenium: what a person does and sees on it."""

from __future__ import annotations

import base64
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement

CHROMIUM = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"
PHONE = (412, 915)  # a common phone's CSS viewport: the page must work at this width
SCREENSHOTS_ENV = "MP4MP3_SCREENSHOTS"  # a folder: the tests save the page's main states there


@contextmanager
def chromium(
    downloads: Path, size: tuple[int, int] = PHONE, secure_origin: str | None = None
) -> Iterator[webdriver.Chrome]:
    """A headless Chromium (its own profile), downloads going into ``downloads``. ``secure_origin``:
    an http origin Chromium treats as https would be (the devstack's NodePort has no TLS; a user's
    cluster serves the page over https), so its warnings about plain http are not the page's."""
    assert Path(CHROMIUM).exists() and Path(DRIVER).exists(), (
        "run `make bootstrap` (chromium, chromium-driver)"
    )
    options = Options()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
    ):
        options.add_argument(arg)  # --no-sandbox: the tests run as root
    options.add_argument(f"--window-size={size[0]},{size[1]}")
    if secure_origin:
        options.add_argument(f"--unsafely-treat-insecure-origin-as-secure={secure_origin}")
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))  # no driver download
    try:
        yield driver
    finally:
        driver.quit()


def wait(what: str, check: Callable[[], Any], timeout: float = 30) -> Any:
    """``check()``'s first truthy answer; AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = check()
        except StaleElementReferenceException:  # the row was re-rendered under us: look again
            answer = None
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


@dataclass
class Page:
    """The mp4mp3 page in one browser, as its user sees it."""

    driver: webdriver.Chrome
    url: str

    def open(self) -> Page:
        self.driver.get(self.url + "/")
        wait("the page to load", lambda: self.visible("signin") or self.visible("app"))
        return self

    def visible(self, element_id: str) -> bool:
        found = self.driver.find_elements(By.ID, element_id)
        return bool(found) and found[0].is_displayed()

    def sign_up(self, email: str, password: str) -> None:
        self.driver.find_element(By.ID, "email").send_keys(email)
        self.driver.find_element(By.ID, "password").send_keys(password)
        self.driver.find_element(By.ID, "sign-up").click()
        wait("the signed-in page", lambda: self.visible("app"))
        wait("the live stream to connect", lambda: "on" in (self.by_id("live").get_attribute("class") or ""))

    def sign_up_by_keyboard(self, email: str, password: str) -> None:
        """The same with the keyboard only: type, Tab to the next control, Enter on the button."""
        self.by_id("email").click()
        active = self.driver.switch_to.active_element
        active.send_keys(email, Keys.TAB)
        self.driver.switch_to.active_element.send_keys(password, Keys.TAB)
        assert self.driver.switch_to.active_element.get_attribute("id") == "sign-in"
        self.driver.switch_to.active_element.send_keys(Keys.TAB)
        assert self.driver.switch_to.active_element.get_attribute("id") == "sign-up"
        self.driver.switch_to.active_element.send_keys(Keys.ENTER)
        wait("the signed-in page", lambda: self.visible("app"))
        wait("the live stream to connect", lambda: "on" in (self.by_id("live").get_attribute("class") or ""))

    def by_id(self, element_id: str) -> WebElement:
        return self.driver.find_element(By.ID, element_id)

    def choose_option(self, name: str, value: str) -> None:
        self.by_id("options-box").find_element(By.TAG_NAME, "summary").click()
        select = self.by_id(f"opt-{name}")
        select.find_element(By.CSS_SELECTOR, f'option[value="{value}"]').click()

    def upload(self, *files: Path) -> None:
        """Choose the files in the file input (as a drop does): each one starts uploading."""
        self.by_id("files").send_keys("\n".join(str(f) for f in files))

    def throttle_uploads(self, bytes_per_second: int | None) -> None:
        """Slow the browser's uploads down (None: full speed), to see them in progress."""
        if bytes_per_second is None:
            self.driver.execute_cdp_cmd("Network.emulateNetworkConditions", _NO_LIMIT)
        else:
            self.driver.execute_cdp_cmd("Network.enable", {})
            self.driver.execute_cdp_cmd(
                "Network.emulateNetworkConditions",
                {**_NO_LIMIT, "uploadThroughput": bytes_per_second, "latency": 20},
            )

    def upload_progress(self) -> list[int]:
        return [
            int(p.get_attribute("value") or 0)
            for p in self.driver.find_elements(By.CSS_SELECTOR, "#uploads progress")
        ]

    def rows(self) -> list[dict[str, str]]:
        """The jobs list: name, phase text, detail text, progress, whether it can be downloaded."""
        rows = []
        for li in self.driver.find_elements(By.CSS_SELECTOR, "#jobs li.job"):
            rows.append(
                {
                    "id": li.get_attribute("data-id") or "",
                    "name": li.find_element(By.CLASS_NAME, "name").text,
                    "phase": li.get_attribute("data-phase") or "",
                    "phase_text": li.find_element(By.CLASS_NAME, "phase").text,
                    "detail": li.find_element(By.CLASS_NAME, "detail").text,
                    "progress": li.find_element(By.TAG_NAME, "progress").get_attribute("value") or "0",
                    "download": str(li.find_element(By.CLASS_NAME, "download").is_displayed()),
                }
            )
        return rows

    def row(self, name: str) -> dict[str, str] | None:
        return next((r for r in self.rows() if r["name"] == name), None)

    def wait_phase(self, name: str, phase: str, timeout: float = 60) -> dict[str, str]:
        return dict(
            wait(
                f"{name!r} to show {phase}",
                lambda: (r := self.row(name)) and r["phase"] == phase and r,
                timeout,
            )
        )

    def press(self, name: str, button: str) -> None:
        """Click a row's button (class ``download`` or ``cancel``); the list is drawn anew on each
        live event, so a row found a moment ago may be gone: then look again."""

        def click() -> bool:
            for li in self.driver.find_elements(By.CSS_SELECTOR, "#jobs li.job"):
                if li.find_element(By.CLASS_NAME, "name").text == name:
                    li.find_element(By.CLASS_NAME, button).click()
                    return True
            return False

        wait(f"a row named {name!r} to press {button!r} on", click, timeout=10)

    def alert_text(self) -> str | None:
        """The text of a JavaScript alert, if one is open (an injected script would open one)."""
        try:
            return self.driver.switch_to.alert.text
        except NoAlertPresentException:
            return None

    def console_errors(self) -> list[str]:
        """Errors the page logged (a CSP violation is one), other than the expected 4xx answers."""
        entries = self.driver.get_log("browser")
        return [e["message"] for e in entries if e["level"] == "SEVERE" and "status of 4" not in e["message"]]

    def screenshot(self, state: str) -> None:
        """Save the page as ``<state>.png`` in $MP4MP3_SCREENSHOTS, if set (`make screenshots`)."""
        folder = os.environ.get(SCREENSHOTS_ENV)
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
            clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 2400), "scale": 1}
            shot = self.driver.execute_cdp_cmd(
                "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
            )
            (Path(folder) / f"{state}.png").write_bytes(base64.b64decode(shot["data"]))  # the whole page


def downloaded(folder: Path, name: str, timeout: float = 30) -> Path:
    """The file the browser finished downloading into ``folder`` as ``name``."""
    path = folder / name
    wait(f"the download of {name}", lambda: path.exists() and not list(folder.glob("*.crdownload")), timeout)
    return path


def named_copy(video: Path, folder: Path, name: str) -> Path:
    """``video`` under another file name (what the user's file is called decides what is shown)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    shutil.copyfile(video, target)
    return target


_NO_LIMIT = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
