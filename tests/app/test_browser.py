"""The chat page in a real browser (Debian's chromium through Playwright), at desktop and phone
sizes: the first screen, progress where the user looks, Stop at any stage (and 30 Stops at random
moments without an error badge), the track limit, a closed tab, a bad upload, a blank send, and
answers as one message (text, overlay, legend, masks) whose first line is on screen, a red track
visible on a red object, and the frame viewer with tracks hidden and shown.

Three servers: the golden tiny model (fast), the bundled toy-world model (``python app.py``), and
a runaway test model (:mod:`tests.app.runaway_model`: every answer is ``<TRK>`` after ``<TRK>``,
SAM at 512 px so that encoding and mask decoding take seconds) started with ``--sam-batch 1
--max-tracks 3``.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import time
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.app.runaway_model import MAX_TRACKS, long_video, seconds_until_idle
from tests.app_server import peak_memory

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
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
TIMEOUT_MS = 60_000
STOP_SECONDS = 2.0  # a Stop ends the turn (the server's CPU falls idle) within this
# Server memory growth allowed during a turn asking for 64 tracks of an 80-frame 320x240 video:
# frames 18 MB, SAM embeddings 21 MB, a mask chunk under 1 MB; the rest is Python and Gradio.
MEMORY_GROWTH_BYTES = 400 * 2**20
SHAPES = PROJECT_ROOT / "assets" / "examples" / "shapes.mp4"
BOT_VIDEO_PLAYABLE = """() => {
    const videos = document.querySelectorAll('#chat .bot-row video');
    const video = videos[videos.length - 1];
    return video !== undefined && video.readyState >= 2;
}"""
TURN_OVER = "() => !document.querySelector('#message textarea').disabled"
VISIBLE_ERRORS = """() => Array.from(document.querySelectorAll('.error, .toast-body'))
    .filter(node => node.offsetParent !== null).map(node => node.innerText)"""
# Pixels of two <img> elements of the page, as [[r, g, b], ...] rows (same-origin images).
IMAGE_PIXELS = """selector => {
    const image = document.querySelector(selector);
    const canvas = document.createElement('canvas');
    canvas.width = image.naturalWidth; canvas.height = image.naturalHeight;
    const context = canvas.getContext('2d');
    context.drawImage(image, 0, 0);
    const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
    return {width: canvas.width, height: canvas.height, data: Array.from(data)};
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


def open_page(browser, url: str, size: str):
    width, height = SIZES[size]
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url, wait_until="load")
    page.wait_for_selector("#message textarea")
    return page


def in_viewport(page, locator) -> bool:
    """True when the element's centre is on screen and not hidden by a scrolled container."""
    return locator.evaluate(
        """node => {
            const box = node.getBoundingClientRect();
            const x = box.left + box.width / 2, y = box.top + Math.min(box.height / 2, 20);
            if (y < 0 || y > window.innerHeight || x < 0 || x > window.innerWidth) return false;
            const top = document.elementFromPoint(x, y);
            return top !== null && (node === top || node.contains(top));
        }"""
    )


def image_pixels(page, selector: str):
    """(H, W, 3) uint8 pixels of the image ``selector`` shows."""
    import numpy as np

    page.wait_for_function(
        "s => { const i = document.querySelector(s); return i && i.complete && i.naturalWidth; }",
        arg=selector,
    )
    found = page.evaluate(IMAGE_PIXELS, selector)
    pixels = np.array(found["data"], dtype=np.uint8).reshape(found["height"], found["width"], 4)
    return pixels[..., :3]


def ask(page, question: str, video: Path | None = None) -> None:
    if video is not None:
        page.locator("#message input[type=file]").set_input_files(str(video))
        page.wait_for_selector("#message video, #message .thumbnail-item")
    page.locator("#message textarea").fill(question)
    page.locator("#message textarea").press("Enter")


def last_answer(page):
    return page.locator("#chat .bot-row").last


def wait_for_answer_text(page, text: str) -> None:
    page.wait_for_function(
        """text => {
            const rows = document.querySelectorAll('#chat .bot-row');
            return rows.length > 0 && rows[rows.length - 1].innerText.includes(text);
        }""",
        arg=text,
    )


@pytest.mark.parametrize("size", sorted(SIZES))
def test_first_screen_and_progress_in_view(browser, runaway_app, size, tmp_path):
    page = open_page(browser, runaway_app.url, size)
    page.screenshot(path=str(tmp_path / f"first-{size}.png"))
    examples = page.locator("#chat button.example").all()
    assert in_viewport(page, page.locator("#message textarea")), "input below the fold"
    # every example, the first (one the bundled model answers) above all
    assert all(in_viewport(page, example) for example in examples), "an example below the fold"
    example = examples[0]
    label = page.locator("#chat label.float")
    if size == "phone":  # the "Chat" label would cover the first line of the chat
        assert not label.is_visible()
    assert "model" in page.locator("#model-card").inner_text()
    example.click()  # runs at once: no Enter needed
    wait_for_answer_text(page, "Encoding the video")
    progress = last_answer(page)
    assert in_viewport(page, progress), "progress is drawn outside the viewport"
    assert "%" in progress.inner_text() and " s" in progress.inner_text()
    page.locator("#message button[aria-label=Stop]").click()
    assert seconds_until_idle(runaway_app) < STOP_SECONDS
    page.close()


def test_stop_while_encoding_and_while_decoding_masks_then_the_track_limit(
    browser, runaway_app, tmp_path
):
    page = open_page(browser, runaway_app.url, "desktop")
    stop = page.locator("#message button[aria-label=Stop]")

    ask(page, "Where is the square?", long_video(tmp_path / "long.mp4"))
    wait_for_answer_text(page, "Encoding the video")
    time.sleep(0.5)
    stop.click()
    assert seconds_until_idle(runaway_app) < STOP_SECONDS, "encoding went on after Stop"
    wait_for_answer_text(page, "Stopped.")

    ask(page, "Where is the square?")
    wait_for_answer_text(page, "Segmenting every frame")
    stop.click()
    assert seconds_until_idle(runaway_app) < STOP_SECONDS, "mask decoding went on after Stop"
    wait_for_answer_text(page, "Stopped.")
    assert "track 0" in last_answer(page).inner_text()  # the text that streamed stays

    with peak_memory(runaway_app.process.pid) as memory:
        ask(page, "Where is it now?")
        page.wait_for_function(BOT_VIDEO_PLAYABLE)
    page.screenshot(path=str(tmp_path / "track-limit.png"), full_page=True)
    answer = page.locator("#chat .bot-row").filter(has_text="track 0").last.inner_text()
    assert f"track {MAX_TRACKS - 1}" in answer and f"track {MAX_TRACKS}" not in answer
    assert f"more than {MAX_TRACKS} objects" in page.locator("#chat").inner_text()
    print(f"\nserver RSS {memory.before / 2**20:.0f} MiB, peak +{memory.growth / 2**20:.0f} MiB")
    assert memory.growth < MEMORY_GROWTH_BYTES
    page.close()


def test_closing_the_tab_stops_the_turn(browser, runaway_app, tmp_path):
    page = open_page(browser, runaway_app.url, "desktop")
    ask(page, "Where is the square?", long_video(tmp_path / "other.mp4", corner=(20, 200)))
    wait_for_answer_text(page, "Encoding the video")
    page.close()
    assert seconds_until_idle(runaway_app) < 2 * STOP_SECONDS


def test_upload_ask_and_play_the_overlay(browser, app_url: str, tmp_path: Path):
    page = open_page(browser, app_url, "desktop")
    card = page.locator("#model-card").inner_text()
    assert "tiny · float32 on cpu" in card and "/" not in card  # the model's name, no path
    page.locator("#settings > button").first.click()
    page.get_by_label("Always answer with a mask").check()
    ask(page, "Where is the <b>racer</b> **now**?", VIDEO)
    page.wait_for_function(BOT_VIDEO_PLAYABLE)
    page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)

    user = page.locator("#chat .user-row").last.inner_text()
    assert "Where is the <b>racer</b> **now**?" in user  # the user's text stays text
    tags = page.locator("#chat .bot-row .track-tag").filter(has_text="track 0")
    assert tags.count() == 2  # in the answer and in its legend
    assert tags.first.evaluate("n => getComputedStyle(n).backgroundColor") == "rgb(255, 38, 38)"
    assert page.locator("#chat").get_by_text("masks.zip").is_visible()

    page.locator("#chat button[aria-label=Clear]").click()
    page.wait_for_function("() => document.querySelectorAll('#chat .message-row').length === 0")
    page.close()


def test_a_bad_upload_is_refused_and_the_previous_video_stays(browser, app_url, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video")
    page = open_page(browser, app_url, "phone")
    page.locator("#settings > button").first.click()
    page.get_by_label("Always answer with a mask").check()
    ask(page, "Where is the racer?", VIDEO)
    page.wait_for_function(BOT_VIDEO_PLAYABLE)
    page.wait_for_function(TURN_OVER)
    ask(page, "And here?", bad)
    wait_for_answer_text(page, "keeps its previous video")
    refusal = last_answer(page).inner_text()
    assert "broken.mp4" in refusal and "/tmp" not in refusal
    page.wait_for_function(TURN_OVER)
    assert page.locator("#chat .user-row video").count() == 1  # no empty player for it
    ask(page, "Where is it now?")
    page.wait_for_function("() => document.querySelectorAll('#chat .bot-row video').length >= 2")
    page.close()


def test_refine_over_time_with_sam2(browser, app_url, tmp_path):
    page = open_page(browser, app_url, "desktop")
    page.locator("#settings > button").first.click()
    page.get_by_label("Always answer with a mask").check()
    page.get_by_label("Refine over time", exact=False).click()
    page.get_by_role("option", name="SAM 2", exact=False).click()
    ask(page, "Where is the racer?", VIDEO)
    page.wait_for_function(BOT_VIDEO_PLAYABLE)
    page.screenshot(path=str(tmp_path / "refined.png"), full_page=True)
    answer = page.locator("#chat").inner_text()
    assert "track 0" in answer and "Masks refined over time by SAM 2 (tiny-sam2)" in answer
    page.close()


def test_thirty_stops_at_random_moments_show_no_error_badge(browser, runaway_app, tmp_path):
    page = open_page(browser, runaway_app.url, "desktop")
    stop = page.locator("#message button[aria-label=Stop]")
    moments = random.Random(0)
    for number in range(30):
        video = long_video(tmp_path / f"long{number}.mp4", corner=(10 + number, 40), frames=24)
        ask(page, "Where is the square?", video)
        time.sleep(moments.uniform(0.3, 3.0))  # reading, encoding, writing or segmenting
        with contextlib.suppress(PlaywrightTimeout):  # the turn may have ended on its own
            stop.click(timeout=2000)
        page.wait_for_function(TURN_OVER)
        time.sleep(0.5)
        assert page.evaluate(VISIBLE_ERRORS) == [], f"an error badge after Stop {number}"
        assert seconds_until_idle(runaway_app) < 2 * STOP_SECONDS
    page.screenshot(path=str(tmp_path / "after-stops.png"))
    page.close()


def test_a_blank_send_keeps_every_message_on_screen(browser, app_url, tmp_path):
    page = open_page(browser, app_url, "desktop")
    page.locator("#settings > button").first.click()
    page.get_by_label("Always answer with a mask").check()
    ask(page, "Where is the racer?", VIDEO)
    page.wait_for_function(BOT_VIDEO_PLAYABLE)
    page.wait_for_function(TURN_OVER)
    rows = page.locator("#chat .message-row").count()
    for blank in ("", "   "):
        page.locator("#message textarea").fill(blank)
        page.locator("#message textarea").press("Enter")
        time.sleep(1.0)
        assert page.locator("#chat .message-row").count() == rows
        assert page.locator("#chat button.example").count() == 0  # not the start screen
    page.close()


@pytest.mark.parametrize("size", sorted(SIZES))
def test_an_answer_is_one_message_that_starts_on_screen_and_shows_on_a_red_object(
    browser, bundled_app, size, tmp_path
):
    """The bundled model segments the red circle of shapes.mp4 in red (track 0): the overlay
    still differs from the input on the circle (its contour's inner line), and the answer's
    text, overlay, legend and masks are one message whose first line is on screen."""
    import numpy as np

    page = open_page(browser, bundled_app.url, size)
    ask(page, "Where is the red circle? Please segment it.", SHAPES)
    page.wait_for_function(BOT_VIDEO_PLAYABLE)
    page.wait_for_function(TURN_OVER)
    time.sleep(1.0)  # the frame viewer and the scroll follow the turn
    page.screenshot(path=str(tmp_path / f"answer-{size}.png"))
    answer = last_answer(page)
    assert page.locator("#chat .bot-row").count() == 1  # one message...
    assert answer.locator("video").count() == 1 and answer.locator("table.legend").count() == 1
    assert answer.get_by_text("masks.zip").count() == 1  # ... with everything in it
    first_line = answer.locator(".track-tag").first
    assert in_viewport(page, first_line), "the answer's first line is off screen"

    original = image_pixels(page, "#original img").astype(int)
    overlaid = image_pixels(page, "#overlaid img").astype(int)
    red = (original[..., 0] > 150) & (original[..., 1] < 90) & (original[..., 2] < 90)
    changed = np.abs(overlaid - original).max(axis=-1) > 100
    assert red.sum() > 20 and (red & changed).sum() >= 10, "the track is invisible on red"
    page.close()


def test_hiding_a_track_redraws_the_overlay_and_any_frame_can_be_checked(
    browser, app_url, tmp_path
):
    import numpy as np

    page = open_page(browser, app_url, "desktop")
    page.locator("#settings > button").first.click()
    page.get_by_label("Always answer with a mask").check()
    ask(page, "Where is the racer?", VIDEO)
    page.wait_for_function(BOT_VIDEO_PLAYABLE)
    page.wait_for_function(TURN_OVER)
    page.wait_for_selector("#frames #shown input[type=checkbox]")
    source = last_answer(page).locator("video").get_attribute("src")
    assert not np.array_equal(
        image_pixels(page, "#original img"), image_pixels(page, "#overlaid img")
    )

    page.locator("#shown input[type=checkbox]").first.uncheck()  # hide track 0
    page.wait_for_function(
        "s => { const v = document.querySelector('#chat .bot-row video'); "
        "return v && v.src != s; }",
        arg=source,
    )
    assert "overlay-none" in last_answer(page).locator("video").get_attribute("src")
    time.sleep(0.5)
    assert np.array_equal(image_pixels(page, "#original img"), image_pixels(page, "#overlaid img"))

    page.locator("#shown input[type=checkbox]").first.check()
    before = image_pixels(page, "#original img")
    slider = page.locator("#frame input[type=number]")
    slider.fill("0")
    slider.press("Enter")
    page.wait_for_function("() => document.querySelector('#frame input[type=range]').value === '0'")
    time.sleep(1.0)
    page.locator("#frame input[type=range]").dispatch_event("change")
    time.sleep(1.0)
    page.screenshot(path=str(tmp_path / "frames.png"), full_page=True)
    assert image_pixels(page, "#original img").shape == before.shape
    page.close()


CLICK_AT = """([selector, x, y]) => {
    const image = document.querySelector(selector);
    const box = image.getBoundingClientRect();
    const scale = Math.min(box.width / image.naturalWidth, box.height / image.naturalHeight, 1);
    const left = box.left + (box.width - image.naturalWidth * scale) / 2;
    const top = box.top + (box.height - image.naturalHeight * scale) / 2;
    return [left + (x + 0.5) * scale, top + (y + 0.5) * scale];
}"""


@pytest.mark.parametrize("size", sorted(SIZES))
def test_a_click_on_the_frame_viewer_adds_an_object(browser, bundled_app, size, tmp_path):
    """The bundled model answers about the square; a click on the red circle in the frame
    viewer ("starts a new object") adds it as track 1 on every frame, without the LLM."""
    import numpy as np

    page = open_page(browser, bundled_app.url, size)
    ask(page, "Where is the square? Please segment it.", SHAPES)
    page.wait_for_function(BOT_VIDEO_PLAYABLE)
    page.wait_for_function(TURN_OVER)
    page.wait_for_selector("#overlaid img")
    before = image_pixels(page, "#overlaid img").astype(int)
    original = image_pixels(page, "#original img").astype(int)
    red = (original[..., 0] > 150) & (original[..., 1] < 90) & (original[..., 2] < 90)
    ys, xs = np.nonzero(red)
    assert len(ys), "no red circle on the viewer's frame"
    page.get_by_label("starts a new object").check()
    image = page.locator("#overlaid img")
    image.scroll_into_view_if_needed()
    x, y = page.evaluate(CLICK_AT, ["#overlaid img", int(np.median(xs)), int(np.median(ys))])
    page.mouse.click(x, y)
    page.wait_for_function(
        "() => { const v = document.querySelector('#chat .bot-row video');"
        " return v && v.src.includes('overlay-corrected-1'); }"
    )
    page.wait_for_function(
        "() => document.querySelector('#chat .bot-row table.legend')"
        ".innerText.includes('corrected on frame')"
    )
    time.sleep(1.0)
    page.screenshot(path=str(tmp_path / f"clicked-{size}.png"), full_page=True)
    after = image_pixels(page, "#overlaid img").astype(int)
    changed = np.abs(after - before).max(axis=-1) > 60
    assert (changed & red).sum() >= 10, "the red circle's overlay did not change"
    assert page.locator("#chat .bot-row .track-tag").filter(has_text="track 1").count() >= 1
    page.close()
