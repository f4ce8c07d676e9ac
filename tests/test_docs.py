"""/docs and /redoc work offline: every asset from this service, none from another origin.

The browser test drives Debian's Chromium through ChromeDriver (selenium). Without them it is
skipped with the reason, unless DPS_REQUIRE_EVERY_TEST is set (.ci/run sets it), which makes
the missing browser a failure.
"""

import json
import re
import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .helpers import TEST_API_KEY, skip_for_lack_of
from .serving import Service, serving

PAGES = ["/docs", "/redoc"]
# src= and href= values, and url(...) in inline styles.
_REFERENCES = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\(\s*["']?([^"')]+)""")
_WAIT_SECONDS = 20


def _references(html: str) -> list[str]:
    return [first or second for first, second in _REFERENCES.findall(html)]


@pytest.mark.parametrize("page", PAGES)
async def test_the_page_references_nothing_outside_this_service(
    client: httpx.AsyncClient, page: str
) -> None:
    response = await client.get(page)

    assert response.status_code == 200
    assert "://" not in response.text
    references = _references(response.text)
    assert references, response.text
    assert all(reference.startswith("/") for reference in references), references


@pytest.mark.parametrize("page", PAGES)
async def test_every_asset_the_page_references_is_served(
    client: httpx.AsyncClient, page: str
) -> None:
    html = (await client.get(page)).text

    for reference in _references(html):
        asset = await client.get(reference)
        assert asset.status_code == 200, reference
        assert len(asset.content) > 1000, reference


def _browser_paths() -> tuple[str, str] | None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (chromium, driver) if chromium and driver else None


@pytest.fixture
def browser() -> Iterator[Any]:
    paths = _browser_paths()
    if paths is None:
        skip_for_lack_of(
            "Chromium and ChromeDriver not found (apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=DriverService(executable_path=paths[1]), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def live(database_url: str) -> Iterator[Service]:
    with serving(database_url, WEB_CONCURRENCY="1") as service:
        yield service


def _requested_urls(driver: Any) -> list[str]:
    """Every URL the page sent a request to, from Chrome's performance log: those the
    page's Content-Security-Policy stopped in the browser never reached the network."""
    sent: dict[str, str] = {}
    blocked = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message["params"]
        if message["method"] == "Network.requestWillBeSent":
            sent[params["requestId"]] = params["request"]["url"]
        elif message["method"] == "Network.loadingFailed" and params.get("blockedReason"):
            blocked.add(params["requestId"])
    return [url for request, url in sent.items() if request not in blocked]


def _is_local(url: str, live: Service) -> bool:
    """Whether the browser asked this service, or nothing on the network (inline data)."""
    return url.startswith((f"{live.base_url}/", "data:", "blob:"))


def test_swagger_ui_authorizes_with_a_key_and_tries_a_get(browser: Any, live: Service) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as until
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, _WAIT_SECONDS)
    browser.get(f"{live.base_url}/docs")
    list_users = wait.until(until.element_to_be_clickable((By.ID, "operations-users-list_users")))
    assert browser.find_elements(By.CSS_SELECTOR, ".opblock")

    browser.find_element(By.CSS_SELECTOR, "button.authorize").click()
    wait.until(until.visibility_of_element_located((By.CSS_SELECTOR, ".modal-ux input")))
    browser.find_element(By.CSS_SELECTOR, ".modal-ux input").send_keys(TEST_API_KEY)
    browser.find_element(By.CSS_SELECTOR, ".modal-ux button.authorize").click()
    browser.find_element(By.CSS_SELECTOR, ".modal-ux button.btn-done").click()

    list_users.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait.until(until.element_to_be_clickable((By.CSS_SELECTOR, ".try-out__btn"))).click()
    wait.until(until.element_to_be_clickable((By.CSS_SELECTOR, ".execute"))).click()
    status = wait.until(
        until.visibility_of_element_located(
            (By.CSS_SELECTOR, ".live-responses-table tbody .response-col_status")
        )
    )

    assert status.text.strip() == "200"
    requested = _requested_urls(browser)
    assert requested
    assert [url for url in requested if not _is_local(url, live)] == []


def test_redoc_renders_the_operations_offline(browser: Any, live: Service) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as until
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{live.base_url}/redoc")
    WebDriverWait(browser, _WAIT_SECONDS).until(
        until.presence_of_element_located((By.CSS_SELECTOR, "[data-section-id]"))
    )

    assert "Get a user by id" in browser.page_source
    elsewhere = [url for url in _requested_urls(browser) if not _is_local(url, live)]
    assert elsewhere == []
