"""The chat page in a real browser (Debian's chromium through Playwright): upload, ask, play."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VIDEO = PROJECT_ROOT / "assets" / "examples" / "racer.mp4"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000
BOT_VIDEO_PLAYABLE = """() => {
    const video = document.querySelector('#chat .bot-row video');
    return video !== null && video.readyState >= 2;
}"""


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_upload_ask_and_play_the_overlay(browser, app_url: str, tmp_path: Path):
    page = browser.new_page(viewport={"width": 1100, "height": 1300})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(app_url, wait_until="load")
    assert "golden" in page.locator("#model-header").inner_text()  # says which model runs
    page.locator("#settings > button").first.click()
    page.get_by_label("Always answer with a mask").check()
    page.locator("#message input[type=file]").set_input_files(str(VIDEO))
    page.locator("#message textarea").fill("Where is the <b>racer</b> **now**?")
    page.wait_for_selector("#message video, #message .thumbnail-item")
    page.locator("#message textarea").press("Enter")

    page.wait_for_function(BOT_VIDEO_PLAYABLE)
    page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)

    user = page.locator("#chat .user-row").last.inner_text()
    bot = page.locator("#chat .bot-row").last
    assert "Where is the <b>racer</b> **now**?" in user  # the user's text stays text
    tag = bot.get_by_text("track 0")
    assert tag.evaluate("node => getComputedStyle(node).backgroundColor") == "rgb(255, 38, 38)"
    assert bot.get_by_text("masks.zip").is_visible()

    page.locator("#clear").click()
    page.wait_for_function("() => document.querySelectorAll('#chat .message-row').length === 0")
    page.close()
