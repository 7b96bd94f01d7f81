"""The Studio in Debian's Chromium, driven by Playwright: what a person sees and does.

Login (a wrong password refused, the right one let in), the Plant page's assets, an
alert arriving live in the inbox and acknowledged there, an operator who cannot deploy
(button disabled, POST refused), a POST without its CSRF token refused, the Signals
chart; no JavaScript console error on any page. Each page's screenshot is saved under
the test's temporary folder.

The browser is the system's (``/usr/bin/chromium``, installed by
``scripts/ensure-system.sh``); Playwright never downloads one.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright

from tests.api.conftest import serving
from tests.studio.conftest import M1, M2, PASSWORD, Plant, Studio

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update"]
TIMEOUT_MS = 15_000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists() and os.environ.get("CI") != "true",
        reason="no /usr/bin/chromium (scripts/ensure-system.sh installs it)",
    ),
]


@dataclass
class Browser:
    url: str
    page: Page
    shots: Path
    errors: list[str] = field(default_factory=list)

    async def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
async def browser(studio: Studio, tmp_path: Path) -> AsyncIterator[Browser]:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    async with serving(studio.app) as url, async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        context = await chromium.new_context(viewport={"width": 1280, "height": 860})
        context.set_default_timeout(TIMEOUT_MS)
        page = await context.new_page()
        found = Browser(url, page, shots)
        page.on(
            "console",
            lambda m: found.errors.append(f"{m.type}: {m.text}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: found.errors.append(f"page error: {e}"))
        page.on(
            "requestfailed",  # a request cut short by leaving the page is no failure
            lambda r: (
                None
                if r.failure == "net::ERR_ABORTED"
                else found.errors.append(f"request failed: {r.url}: {r.failure}")
            ),
        )
        try:
            yield found
        finally:
            await context.close()
            await chromium.close()
    assert found.errors == [], found.errors


async def log_in(b: Browser, name: str, password: str = PASSWORD) -> None:
    page = b.page
    await page.goto(f"{b.url}/studio/plant")
    await page.fill("input[name=username]", name)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")


async def test_login_then_plant_shows_the_assets(browser: Browser, studio: Studio) -> None:
    page = browser.page
    await page.goto(f"{browser.url}/studio/plant")
    assert "/studio/login" in page.url
    await browser.shot("login")
    browser.errors.clear()  # the refused login below answers 401, which Chromium logs
    await log_in(browser, "vera", "not the password")
    assert "Wrong user name or password" in await page.inner_text(".error")
    browser.errors[:] = [e for e in browser.errors if "401" not in e]
    await log_in(browser, "vera")
    await page.wait_for_url(f"{browser.url}/studio/plant")
    for asset in (M1, M2):
        assert await page.locator(f'li[data-asset="{asset}"]').count() == 1
    assert "vera" in await page.inner_text("header .user")
    await browser.shot("plant")
    area = page.locator('details[data-node="/acme/p1/assembly"]')
    await area.locator("> summary").click()
    assert not await area.evaluate("d => d.open")
    async with page.expect_response(lambda r: "/studio/plant/live" in r.url):
        pass  # the page refreshes itself...
    await page.wait_for_function(
        "() => !document.querySelector('details[data-node=\"/acme/p1/assembly\"]').open"
        " && document.querySelectorAll('li[data-asset]').length === 3"
    )  # ...and the folded level stays folded
    assert await page.locator('details[data-node="/acme/p1/machining"]').evaluate("d => d.open")


async def test_an_alert_arrives_live_and_is_acknowledged(browser: Browser, studio: Studio) -> None:
    page = browser.page
    await log_in(browser, "otto")
    await page.goto(f"{browser.url}/studio/alerts")
    alert_id = await studio.alert(M2, "alarm", "bearing-outer-race")
    row = page.locator(f'tr[data-alert-id="{alert_id}"]')
    await row.wait_for()  # no reload: the inbox polls for new rows
    assert "bearing-outer-race" in await row.inner_text()
    await browser.shot("alerts")
    await row.locator("button.ack").click()
    await page.wait_for_url(f"{browser.url}/studio/alerts")
    acked = page.locator(f'tr[data-alert-id="{alert_id}"]')
    assert "acknowledged" in await acked.inner_text()
    await page.goto(f"{browser.url}/studio/alerts/{alert_id}")
    assert "otto" in await page.inner_text("table.history")
    await browser.shot("alert")


async def test_an_operator_cannot_deploy(browser: Browser, studio: Studio, plant: Plant) -> None:
    page = browser.page
    await log_in(browser, "otto")
    await page.goto(f"{browser.url}/studio/models")
    button = page.locator(f'article[data-ref="{plant.refs[0]}"] button.deploy-button')
    assert await button.is_disabled()
    await browser.shot("models-operator")
    csrf = await page.input_value("input[name=csrf_token] >> nth=0")
    answer = await page.request.post(
        f"{browser.url}/studio/deploy",
        form={"ref": plant.refs[0], "asset": M2, "mode": "shadow", "csrf_token": csrf},
    )
    assert answer.status == 403 and "engineer" in await answer.text()


async def test_a_post_without_its_csrf_token_is_refused(browser: Browser, studio: Studio) -> None:
    page = browser.page
    alert_id = await studio.alert(M1, "warning", "csrf-check")
    await log_in(browser, "ada")
    await page.wait_for_url(f"{browser.url}/studio/plant")
    answer = await page.request.post(
        f"{browser.url}/studio/alerts/{alert_id}/ack", form={"comment": "no token"}
    )
    assert answer.status == 403 and "CSRF" in await answer.text()
    forged = await page.request.post(
        f"{browser.url}/studio/alerts/{alert_id}/ack",
        form={"comment": "forged", "csrf_token": "x" * 43},
    )
    assert forged.status == 403


async def test_engineer_pages_and_the_signal_chart(browser: Browser, studio: Studio) -> None:
    page = browser.page
    await log_in(browser, "erin")
    await page.goto(f"{browser.url}/studio/models")
    assert await page.locator("button.deploy-button >> nth=0").is_enabled()
    await browser.shot("models")
    await page.goto(f"{browser.url}/studio/signals?signal={M1}/temp&range=all")
    await page.locator("#chart canvas").wait_for()
    assert "points" in await page.inner_text("#chart-note")
    await browser.shot("signals")
